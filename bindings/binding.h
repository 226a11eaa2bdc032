// Shared helpers of the binding files. The bindings convert types, release the GIL around long
// work and map errors; they hold no logic of their own.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

#include "bootmirror/bytes.h"
#include "bootmirror/progress.h"

namespace py = pybind11;

namespace bootmirror::bindings {

// One registration function per binding file, called in this order by module.cpp.
void bind_errors(py::module_& m);
void bind_core(py::module_& m);
void bind_io(py::module_& m);
void bind_gpt(py::module_& m);
void bind_fat(py::module_& m);
void bind_machine(py::module_& m);
void bind_shell(py::module_& m);
void bind_ldm(py::module_& m);
void bind_dynamic(py::module_& m);
void bind_volumes(py::module_& m);
void bind_mirror(py::module_& m);
void bind_ntfs(py::module_& m);
void bind_nvram(py::module_& m);
void bind_firmware(py::module_& m);
void bind_qemu(py::module_& m);
void bind_redundancy(py::module_& m);

// The engine's errors as Python's (bootmirror.Error, FormatError, UsageError, OSError): sets the
// Python error and returns true for an engine error, false for any other exception.
bool raise_engine_error(std::exception_ptr pointer);
// For functions called without pybind11's dispatcher: inside a catch block, sets the Python error
// for the exception being handled (engine errors as above, py::error_already_set restored, others
// RuntimeError or MemoryError) and returns nullptr.
PyObject* raise_current_exception() noexcept;

// Host paths, both ways, as os.fsencode and os.fsdecode do: a path argument may be str, bytes or
// os.PathLike, and bytes the file system encoding cannot decode travel as surrogates (never a
// UnicodeDecodeError, never a TypeError for a path os.listdir gave).
std::string encode_host_path(const py::object& path);
py::str decode_host_path(const std::string& path);

// A read-only view of any contiguous Python buffer (bytes, bytearray, memoryview, numpy), used
// without copying; UsageError for a buffer that is not contiguous.
// Holds the buffer (PyObject_GetBuffer) until it goes; no shape or stride vectors are copied, so a
// small read or write pays no allocation for its view.
class BufferView {
 public:
  BufferView(const py::buffer& data, bool writable);
  ~BufferView() { PyBuffer_Release(&buffer_); }
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;
  ByteSpan span() const { return {static_cast<const std::byte*>(buffer_.buf), std::size_t(buffer_.len)}; }
  MutableByteSpan mutable_span() const { return {static_cast<std::byte*>(buffer_.buf), std::size_t(buffer_.len)}; }

 private:
  Py_buffer buffer_{};
};

// A progress callback from Python, `callback(done, total)`, called with the GIL taken; an answer
// of False stops the work (None and anything true go on). None gives no callback. The returned
// function holds `callback`: destroy it with the GIL held (declare it before a gil_scoped_release).
ProgressCallback python_progress(const py::object& callback);

// A size given as an int (bytes) or a string such as "204 MiB".
std::uint64_t to_size(const py::object& value, const char* what);
// An offset, length or number given as a Python int: UsageError naming `what` when it is negative
// or above `max` (pybind11's own unsigned conversion would answer a bare TypeError).
std::uint64_t to_unsigned(const py::int_& value, const char* what, std::uint64_t max = UINT64_MAX);

}  // namespace bootmirror::bindings

namespace bootmirror::bindings {

// Names and paths from disk are WTF-8 in the engine (FAT long names, NTFS names; see
// bootmirror/unicode.h). Python sees them as str with Python's "surrogatepass" rule both ways, so
// that a name holding a lone UTF-16 surrogate comes out as a str holding it (as os.listdir shows
// undecodable names) and opens the file when passed back.
struct WtfText {
  std::string value;
};

// Text for reading (a transcript, a console, a message) that may quote such a name: a lone
// surrogate shows as U+FFFD, as a console shows it, so that printing the str cannot fail.
py::str display_str(const std::string& wtf8);

}  // namespace bootmirror::bindings

namespace pybind11::detail {
template <>
struct type_caster<bootmirror::bindings::WtfText> {
  PYBIND11_TYPE_CASTER(bootmirror::bindings::WtfText, const_name("str"));
  bool load(handle src, bool) {
    if (!src || !PyUnicode_Check(src.ptr())) return false;
    PyObject* bytes = PyUnicode_AsEncodedString(src.ptr(), "utf-8", "surrogatepass");
    if (bytes == nullptr) {
      PyErr_Clear();
      return false;
    }
    value.value.assign(PyBytes_AS_STRING(bytes), std::size_t(PyBytes_GET_SIZE(bytes)));
    Py_DECREF(bytes);
    return true;
  }
  static handle cast(const bootmirror::bindings::WtfText& text, return_value_policy, handle) {
    const std::string& s = text.value;
    PyObject* out = PyUnicode_DecodeUTF8(s.data(), py::ssize_t(s.size()), "surrogatepass");
    if (out == nullptr) {  // not WTF-8 (never from the engine): shown, not raised
      PyErr_Clear();
      out = PyUnicode_DecodeUTF8(s.data(), py::ssize_t(s.size()), "backslashreplace");
    }
    return out;
  }
};
}  // namespace pybind11::detail
