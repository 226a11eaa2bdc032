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

void raise_format_error(const FormatError& e) {
  py::object instance = py::reinterpret_borrow<py::object>(format_error_type)(e.what());
  instance.attr("offset") = e.offset() ? py::cast(*e.offset()) : py::none();
  PyErr_SetObject(format_error_type, instance.ptr());
}

void raise_os_error(const OsError& e) {
  // OSError(errno, strerror, filename) picks the matching subclass (FileNotFoundError, ...).
  py::object instance = py::reinterpret_borrow<py::object>(PyExc_OSError)(e.error_number(), e.reason(), e.path());
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(instance.ptr())), instance.ptr());
}
}  // namespace

void bind_errors(py::module_& m) {
  error_type = new_exception(m, "Error", PyExc_Exception, "Base class of every bootmirror error.");
  format_error_type = new_exception(m, "FormatError", error_type,
                                    "Corrupt or unsupported on-disk data; .offset is the byte offset where it was found.");
  usage_error_type = new_exception(m, "UsageError", error_type, "Bad arguments, or an operation the current state does not allow.");

  py::register_exception_translator([](std::exception_ptr pointer) {
    try {
      if (pointer) std::rethrow_exception(pointer);
    } catch (const FormatError& e) {
      raise_format_error(e);
    } catch (const UsageError& e) {
      PyErr_SetString(usage_error_type, e.what());
    } catch (const OsError& e) {
      raise_os_error(e);
    } catch (const Error& e) {
      PyErr_SetString(error_type, e.what());
    }
  });
}

}  // namespace bootmirror::bindings
