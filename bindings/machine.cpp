#include "bootmirror/machine.h"
#include "binding.h"

namespace bootmirror::bindings {

void bind_machine(py::module_& m) {
  py::class_<Machine, std::shared_ptr<Machine>>(m, "Machine", "Disks by number, the shell's selection, a machine folder.")
      .def(py::init([] { return std::make_shared<Machine>(); }))
      .def_static("create", &Machine::create, py::arg("folder"))
      .def_static("open", &Machine::open, py::arg("folder"))
      .def("attach", &Machine::attach, py::arg("device"))
      .def(
          "create_disk",
          [](Machine& self, const py::object& size, std::uint32_t sector_size, const std::string& name) {
            return self.create_disk(to_size(size, "size"), sector_size, name);
          },
          py::arg("size"), py::arg("sector_size") = 512, py::arg("name") = "")
      .def("detach", &Machine::detach, py::arg("number"))
      .def_property_readonly("disk_numbers",
                             [](const Machine& self) {
                               std::vector<int> out;
                               for (const auto& [number, disk] : self.disks()) out.push_back(number);
                               return out;
                             })
      .def("device", [](const Machine& self, int number) { return self.disk(number).device; }, py::arg("number"))
      .def("image", [](const Machine& self, int number) { return self.disk(number).path; }, py::arg("number"))
      .def_property_readonly("folder", [](const Machine& self) { return self.folder(); })
      .def_property_readonly("selected_disk", [](const Machine& self) { return self.focus().disk; })
      .def_property_readonly("selected_partition", [](const Machine& self) { return self.focus().partition; })
      .def("save", &Machine::save);
}

}  // namespace bootmirror::bindings
