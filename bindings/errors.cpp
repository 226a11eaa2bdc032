#include <cstring>

#include "bootmirror/error.h"
#include "binding.h"

namespace bootmirror::bindings {

namespace {
// The exception types live as long as the interpreter; they are created once, on import.
PyObject* error_type = nullptr;
PyObject* format_error_type = nullptr;
PyObject* usage_error_type = nullptr;

PyObject* new_exception(py::module_& m, const char* name, PyObject* base, const char* doc) {
  std::string qualified = std::string("bootmirror.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(type));
  return type;
}

// A message as Python text. Messages quote on-disk bytes escaped (escape_bytes); should one still
// carry bytes that are not UTF-8, they show as \xNN instead of turning the error into a
// UnicodeDecodeError.
py::str message_of(const std::exception& e) {
  const char* text = e.what();
  PyObject* decoded = PyUnicode_DecodeUTF8(text, py::ssize_t(std::strlen(text)), "backslashreplace");
  if (decoded == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(decoded);
}

void raise_as(PyObject* type, const std::exception& e) { PyErr_SetObject(type, message_of(e).ptr()); }

void raise_format_error(const FormatError& e) {
  py::object instance = py::reinterpret_borrow<py::object>(format_error_type)(message_of(e));
  instance.attr("offset") = e.offset() ? py::cast(*e.offset()) : py::none();
  PyErr_SetObject(format_error_type, instance.ptr());
}

void raise_os_error(const OsError& e) {
  // OSError(errno, strerror, filename) picks the matching subclass (FileNotFoundError, ...).
  // A path inside a FAT volume is WTF-8 (lone surrogates kept, read back with surrogatepass); a
  // host path that is no UTF-8 at all comes in the file system's encoding, as os.fsdecode does.
  PyObject* raw_path = PyUnicode_DecodeUTF8(e.path().data(), py::ssize_t(e.path().size()), "surrogatepass");
  if (raw_path == nullptr) {
    PyErr_Clear();
    raw_path = PyUnicode_DecodeFSDefaultAndSize(e.path().data(), py::ssize_t(e.path().size()));
  }
  if (raw_path == nullptr) throw py::error_already_set();
  py::object path = py::reinterpret_steal<py::object>(raw_path);
  PyObject* raw_reason = PyUnicode_DecodeUTF8(e.reason().data(), py::ssize_t(e.reason().size()), "backslashreplace");
  if (raw_reason == nullptr) throw py::error_already_set();
  py::object reason = py::reinterpret_steal<py::object>(raw_reason);
  py::object instance = py::reinterpret_borrow<py::object>(PyExc_OSError)(e.error_number(), reason, path);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(instance.ptr())), instance.ptr());
}
}  // namespace

void bind_errors(py::module_& m) {
  error_type = new_exception(m, "Error", PyExc_Exception, "Base class of every bootmirror error.");
  format_error_type = new_exception(m, "FormatError", error_type,
                                    "Corrupt or unsupported on-disk data; .offset is the byte offset where it was found.");
  usage_error_type = new_exception(m, "UsageError", error_type, "Bad arguments, or an operation the current state does not allow.");
  // A FormatError raised from Python (a check the Python layer makes) has no offset unless given.
  PyObject_SetAttrString(format_error_type, "offset", Py_None);

  // Any other exception falls through to pybind11's own translators.
  py::register_exception_translator([](std::exception_ptr pointer) {
    if (pointer && !raise_engine_error(pointer)) std::rethrow_exception(pointer);
  });
}

bool raise_engine_error(std::exception_ptr pointer) {
  try {
    std::rethrow_exception(pointer);
  } catch (const FormatError& e) {
    raise_format_error(e);
  } catch (const UsageError& e) {
    raise_as(usage_error_type, e);
  } catch (const OsError& e) {
    raise_os_error(e);
  } catch (const Error& e) {
    raise_as(error_type, e);
  } catch (...) {
    return false;
  }
  return true;
}

PyObject* raise_current_exception() noexcept {
  const std::exception_ptr pointer = std::current_exception();
  try {
    try {
      std::rethrow_exception(pointer);
    } catch (py::error_already_set& e) {
      e.restore();
      return nullptr;
    } catch (...) {
    }
    if (raise_engine_error(pointer)) return nullptr;
    try {
      std::rethrow_exception(pointer);
    } catch (const std::bad_alloc&) {
      PyErr_NoMemory();
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (...) {
      PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
    }
  } catch (...) {  // a failure while raising (out of memory making the message)
    if (!PyErr_Occurred()) PyErr_NoMemory();
  }
  return nullptr;
}

}  // namespace bootmirror::bindings
