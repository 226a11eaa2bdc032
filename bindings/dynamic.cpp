// bootmirror._core.dynamic: a Machine's dynamic disks (bootmirror/dynamic.h), bound as they are.
#include <algorithm>
#include <chrono>

#include "bootmirror/dynamic.h"
#include "bootmirror/error.h"

#include <fmt/format.h>
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
        "Finish every interrupted mirror resynchronisation, and wait for it.");
  d.def("prepare_resync", &dynamic::prepare_resync, py::arg("machine"), Release(),
        "resync's part before the copies: the commit catch-up and the failed plexes tried again.");
  d.def(
      "pending_copy_ranges",
      [](Machine& machine) {
        std::vector<std::pair<int, std::vector<Extent>>> pending;
        {
          py::gil_scoped_release release;
          pending = dynamic::pending_copy_ranges(machine);
        }
        py::list out;
        for (const auto& [disk, ranges] : pending) {
          py::list spans;
          for (const Extent& e : ranges) spans.append(py::make_tuple(e.offset, e.length));
          out.append(py::make_tuple(disk, spans));
        }
        return out;
      },
      py::arg("machine"), "What the mirror copies still to run would write: [(disk, [(offset, length)])].");
  d.def("repair_databases", &dynamic::repair_databases, py::arg("machine"), Release(),
        "ldm repair: rewrite the damaged or stale databases of the group's disks; [(disk, reasons)].");
  d.def("fail_disk", &dynamic::fail_disk, py::arg("machine"), py::arg("number"), Release(),
        "The disk vanishes: it stays attached as missing, its plexes fail.");
  d.def("reactivate_disk", &dynamic::reactivate_disk, py::arg("machine"), py::arg("number"), Release(),
        "Reactivate Disk: a missing disk connected again, its failed plexes copied back in (what they missed).");
  d.def("replace_disk", &dynamic::replace_disk, py::arg("machine"), py::arg("number"), py::arg("device"), Release(),
        "A new disk takes number `number`; the old one stays as a missing disk, under the number returned.");
  d.def("disk_returned", &dynamic::disk_returned, py::arg("machine"), Release(),
        "A missing disk was attached again: its plexes are copied back in.");
  d.def("start_rebuilds", &dynamic::start_rebuilds, py::arg("machine"), Release(),
        "Start (or wake) the background copy of every recorded rebuild.");
  d.def("wait_for_rebuilds", [](Machine& machine, std::optional<double> timeout) {
        if (timeout && !(*timeout >= 0)) throw UsageError("the timeout must be a number of seconds, 0 or more");
        std::optional<std::chrono::milliseconds> limit;
        if (timeout) limit = std::chrono::milliseconds(std::int64_t(std::min(*timeout, 1e9) * 1000));
        return dynamic::wait_for_rebuilds(machine, limit);
      }, py::arg("machine"), py::arg("timeout") = py::none(), Release(),
        "Block until no rebuild can make progress (True) or the timeout passed (False).");
  d.def("set_rebuild_speed_limit", [](Machine& machine, std::optional<py::int_> limit) {
        std::optional<std::uint64_t> bytes;
        if (limit) bytes = to_unsigned(*limit, "the rebuild speed limit (bytes per second)");
        py::gil_scoped_release release;
        dynamic::set_rebuild_speed_limit(machine, bytes);
      }, py::arg("machine"), py::arg("bytes_per_second"),
        "At most this many bytes per second; 0 holds the copies; None lifts the limit.");
  py::class_<dynamic::RebuildStatus>(d, "RebuildStatus", "A recorded mirror rebuild and how far it got.")
      .def_readonly("volume", &dynamic::RebuildStatus::volume, "The volume's number in list volume.")
      .def_readonly("disk", &dynamic::RebuildStatus::disk, "The disk receiving the copy; None while it is missing.")
      .def_readonly("done", &dynamic::RebuildStatus::done, "Bytes of the volume copied so far.")
      .def_readonly("total", &dynamic::RebuildStatus::total, "The volume's size in bytes.")
      .def("__repr__", [](const dynamic::RebuildStatus& r) {
        return fmt::format("<RebuildStatus volume {} onto {}: {} of {} bytes>", r.volume,
                           r.disk ? fmt::format("disk {}", *r.disk) : std::string("a missing disk"), r.done, r.total);
      });
  d.def("rebuild_status", &dynamic::rebuild_status, py::arg("machine"), Release());
  d.def("rebuild_speed_limit", &dynamic::rebuild_speed_limit, py::arg("machine"), Release());
  d.def("is_pending", &dynamic::is_pending, py::arg("machine"), py::arg("number"), Release());
  d.def("is_dynamic", &dynamic::is_dynamic, py::arg("machine"), py::arg("number"), Release());
}

}  // namespace bootmirror::bindings
