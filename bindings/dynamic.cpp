// bootmirror._core.dynamic: a Machine's dynamic disks (bootmirror/dynamic.h), bound as they are.
#include "bootmirror/dynamic.h"
#include "binding.h"

namespace bootmirror::bindings {

void bind_dynamic(py::module_& m) {
  py::module_ d = m.def_submodule("dynamic", "A Machine's dynamic disks and disk group");
  using Release = py::call_guard<py::gil_scoped_release>;
  d.def("group_of", [](Machine& machine) -> py::object {
        std::optional<dynamic::MachineGroup> mg;
        {
          py::gil_scoped_release release;
          mg = dynamic::group_of(machine);
        }
        if (!mg) return py::none();
        return py::make_tuple(mg->group, mg->devices, mg->numbers, mg->foreign);
      }, py::arg("machine"), "(Group, devices, machine numbers, foreign numbers), or None without dynamic disks.");
  d.def("convert_dynamic", &dynamic::convert_dynamic, py::arg("machine"), py::arg("number"), Release(),
        "True when converted now, False when it waits for reboot().");
  d.def("reboot", &dynamic::reboot, py::arg("machine"), py::call_guard<py::gil_scoped_release>());
  d.def("resync", &dynamic::resync, py::arg("machine"), py::call_guard<py::gil_scoped_release>(),
        "Finish every interrupted mirror resynchronisation.");
  d.def("is_pending", &dynamic::is_pending, py::arg("machine"), py::arg("number"), Release());
  d.def("is_dynamic", &dynamic::is_dynamic, py::arg("machine"), py::arg("number"), Release());
}

}  // namespace bootmirror::bindings
