#include "bootmirror/machine.h"
#include "bootmirror/write_log.h"
#include "binding.h"

namespace bootmirror::bindings {

void bind_machine(py::module_& m) {
  // Every Machine call lets go of the GIL before it takes the machine's lock: a thread waiting for
  // the lock must never hold the GIL that the lock's holder needs.
  using Release = py::call_guard<py::gil_scoped_release>;
  py::class_<Machine, std::shared_ptr<Machine>>(m, "Machine", "Disks by number, the shell's selection, a machine folder.")
      .def(py::init([] { return std::make_shared<Machine>(); }))
      .def_static(
          "create",
          [](const py::object& folder) {
            const std::string path = encode_host_path(folder);
            py::gil_scoped_release release;
            return Machine::create(path);
          },
          py::arg("folder"))
      .def_static(
          "open",
          [](const py::object& folder, std::shared_ptr<WriteLog> log) {
            const std::string path = encode_host_path(folder);
            py::gil_scoped_release release;
            return Machine::open(path, std::move(log));
          },
          py::arg("folder"), py::arg("log") = nullptr,
                  "Open a machine folder; its images are reopened for writing by the first write. With a WriteLog, "
                  "every write and machine.json step is recorded (crash tests).")
      .def("attach", &Machine::attach, py::arg("device"), Release())
      .def(
          "create_disk",
          [](Machine& self, const py::object& size, std::uint32_t sector_size, const std::string& name) {
            const std::uint64_t bytes = to_size(size, "size");
            py::gil_scoped_release release;
            return self.create_disk(bytes, sector_size, name);
          },
          py::arg("size"), py::arg("sector_size") = 512, py::arg("name") = "")
      .def("detach", &Machine::detach, py::arg("number"), Release())
      .def_property_readonly("disk_numbers",
                             [](const Machine& self) {
                               py::gil_scoped_release release;
                               auto hold = self.hold();
                               std::vector<int> out;
                               for (const auto& [number, disk] : self.disks()) out.push_back(number);
                               return out;
                             })
      .def(
          "missing_index",
          [](const Machine& self, int number) {
            py::gil_scoped_release release;
            auto hold = self.hold();
            return self.missing_index(number);
          },
          py::arg("number"), "k for missing disk `number` (diskpart's Disk M<k>), else None.")
      .def(
          "device",
          [](const Machine& self, int number) {
            py::gil_scoped_release release;
            auto hold = self.hold();
            return self.disk(number).device;
          },
          py::arg("number"))
      .def(
          "image",
          [](const Machine& self, int number) {
            std::string path;
            {
              py::gil_scoped_release release;
              auto hold = self.hold();
              path = self.disk(number).path;
            }
            return decode_host_path(path);
          },
          py::arg("number"))
      .def_property_readonly("folder", [](const Machine& self) -> py::object {
        return self.folder() ? py::object(decode_host_path(*self.folder())) : py::object(py::none());
      })
      .def_property_readonly("selected_disk", [](const Machine& self) { return self.focus().disk; })
      .def_property_readonly("selected_partition", [](const Machine& self) { return self.focus().partition; })
      .def_property("oem_codepage", &Machine::oem_codepage, &Machine::set_oem_codepage,
                    "The OEM code page of the machine's Windows (FAT short names and labels).")
      .def("save", &Machine::save, Release())
      .def("close", &Machine::close, Release(), "Release the folder's write lock and close the images.")
      .def_property_readonly("closed", &Machine::closed);
}

}  // namespace bootmirror::bindings
