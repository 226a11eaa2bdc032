#include "bootmirror/crc32.h"
#include "bootmirror/guid.h"
#include "bootmirror/host_files.h"
#include "bootmirror/identity.h"
#include "bootmirror/unicode.h"
#include "bootmirror/units.h"

#include <fmt/format.h>

#include "binding.h"

namespace bootmirror::bindings {

std::uint64_t to_size(const py::object& value, const char* what) {
  if (py::isinstance<py::str>(value)) return parse_size(value.cast<std::string>());
  if (py::isinstance<py::int_>(value) && !py::isinstance<py::bool_>(value)) {
    return to_unsigned(py::reinterpret_borrow<py::int_>(value), what);
  }
  throw UsageError(std::string(what) + " must be a number of bytes or a string such as \"204 MiB\"");
}

py::str display_str(const std::string& wtf8) { return py::str(wtf8_for_display(wtf8)); }

std::string encode_host_path(const py::object& path) {
  PyObject* encoded = nullptr;
  if (!PyUnicode_FSConverter(path.ptr(), &encoded)) throw py::error_already_set();
  py::bytes owner = py::reinterpret_steal<py::bytes>(encoded);  // released on return
  return std::string(PyBytes_AS_STRING(encoded), std::size_t(PyBytes_GET_SIZE(encoded)));
}

py::str decode_host_path(const std::string& path) {
  PyObject* text = PyUnicode_DecodeFSDefaultAndSize(path.data(), py::ssize_t(path.size()));
  if (text == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(text);
}

ProgressCallback python_progress(const py::object& callback) {
  if (callback.is_none()) return {};
  return [callback](const Progress& p) {
    py::gil_scoped_acquire gil;
    py::object answer = callback(p.done, p.total);
    return answer.is_none() || answer.cast<bool>();
  };
}

std::uint64_t to_unsigned(const py::int_& value, const char* what, std::uint64_t max) {
  // The common case without a Python object made or compared: a small int in range.
  int overflow = 0;
  const long long fast = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (fast == -1 && PyErr_Occurred()) throw py::error_already_set();
  if (!overflow && fast >= 0 && std::uint64_t(fast) <= max) return std::uint64_t(fast);
  if (value < py::int_(0)) throw UsageError(fmt::format("{} must not be negative (got {})", what, py::str(value).cast<std::string>()));
  if (value > py::int_(max)) throw UsageError(fmt::format("{} {} is too large (at most {})", what, py::str(value).cast<std::string>(), max));
  return value.cast<std::uint64_t>();
}

void bind_core(py::module_& m) {
  py::class_<CopyStats>(m, "CopyStats", "What a tree copy between a volume and a host folder did.")
      .def_readonly("files", &CopyStats::files)
      .def_readonly("directories", &CopyStats::directories)
      .def_readonly("bytes", &CopyStats::bytes)
      .def("__repr__", [](const CopyStats& s) {
        return fmt::format("<CopyStats {} files, {} folders, {} bytes>", s.files, s.directories, with_thousands(s.bytes));
      });
  m.def("parse_size", [](const py::object& value) { return to_size(value, "size"); }, py::arg("size"),
        "Bytes in a size given as an int or a string (\"204 MiB\", \"10 GB\"; KB/MB/GB are powers of 1024).");
  m.def("describe_size", &describe_size, py::arg("bytes"), "A human reading of a byte count, e.g. '204 MiB'.");
  m.def(
      "crc32", [](py::bytes data, std::uint32_t previous) {
        std::string_view view = data;
        return crc32(as_bytes(view), previous);
      },
      py::arg("data"), py::arg("previous") = 0, "CRC-32 as UEFI and zlib compute it.");
  m.def("new_guid", [] { return IdentitySource::new_guid().to_string(); },
        "A new GUID from bootmirror's identity source (seeded when deterministic).");
  m.def("now", [] {
    Timestamp t = IdentitySource::now();
    return py::make_tuple(t.seconds, t.nanoseconds);
  }, "The identity source's clock: (seconds, nanoseconds) since 1970 UTC.");
  m.def("_identity_settings", [] {
    IdentitySettings s = IdentitySource::settings();
    return py::make_tuple(s.seed, s.epoch_seconds);
  });
  m.def(
      "_identity_configure",
      [](std::optional<std::uint64_t> seed, std::optional<std::int64_t> epoch) {
        IdentitySource::configure(IdentitySettings{seed, epoch});
      },
      py::arg("seed"), py::arg("epoch"));
  m.def("_identity_from_environment", &IdentitySource::configure_from_environment);
}

}  // namespace bootmirror::bindings
