// bootmirror._core.NtfsVolume: the read-only NTFS reader (bootmirror/ntfs.h).
#include "bootmirror/ntfs.h"
#include "binding.h"

namespace bootmirror::bindings {

void bind_ntfs(py::module_& m) {
  using ntfs::Volume;
  py::class_<Volume, std::shared_ptr<Volume>>(m, "NtfsVolume", "An NTFS volume, read-only.")
      .def_static("open", &Volume::open, py::arg("device"), py::call_guard<py::gil_scoped_release>(),
                  "Open the NTFS volume on `device`; FormatError naming what and where if it holds none.")
      .def_property_readonly("bytes_per_sector", &Volume::bytes_per_sector)
      .def_property_readonly("cluster_size", &Volume::cluster_bytes)
      .def_property_readonly("cluster_count", &Volume::cluster_count)
      .def_property_readonly("mft_record_size", &Volume::mft_record_bytes)
      .def_property_readonly("mft_record_count", &Volume::mft_record_count)
      .def_property_readonly("serial", &Volume::serial)
      .def_property_readonly("hidden_sectors", &Volume::hidden_sectors)
      .def_property_readonly("label", &Volume::label)
      .def_property_readonly("version", [](const Volume& v) {
        const ntfs::Version version = v.version();
        return py::make_tuple(version.major, version.minor);
      })
      .def(
          "read_record",
          [](const Volume& v, const py::int_& number) {
            const std::uint64_t n = to_unsigned(number, "record number");
            ByteVector bytes;
            {
              py::gil_scoped_release release;
              bytes = v.read_record(n);
            }
            return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
          },
          py::arg("number"), "FILE record `number`, its update sequence checked and undone.");
}

}  // namespace bootmirror::bindings
