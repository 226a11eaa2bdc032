// bootmirror._core.redundancy_*: does every disk boot on its own (bootmirror/redundancy.h).
#include "bootmirror/redundancy.h"
#include "bootmirror/unicode.h"
#include "binding.h"

namespace bootmirror::bindings {

namespace {

py::object place_or_none(const std::optional<firmware::PartitionPlace>& place) {
  return place ? py::cast(*place) : py::object(py::none());
}

std::chrono::milliseconds milliseconds(double seconds) { return std::chrono::milliseconds(std::int64_t(seconds * 1000)); }

}  // namespace

void bind_redundancy(py::module_& m) {
  using namespace bootmirror::redundancy;
  py::class_<RealBoot>(m, "RedundancyRealBoot", "One disk booted alone under QEMU with OVMF.")
      .def_readonly("qemu", &RealBoot::qemu, "What QEMU and OVMF did (console, markers, boot attempts).")
      .def_readonly("entry", &RealBoot::entry, "The disk entry (Boot####) OVMF started, or None.")
      .def_property_readonly("loader_partition", [](const RealBoot& r) { return place_or_none(r.loader_partition); },
                             "The ESP a marker loader reported, or None.")
      .def_readonly("agrees", &RealBoot::agrees, "The check predicted this boot: the same entry started, or none.");
  py::class_<DiskAlone>(m, "RedundancyDisk", "One disk, with every other disk gone.")
      .def_readonly("disk", &DiskAlone::disk)
      .def_property_readonly("esp", [](const DiskAlone& d) { return place_or_none(d.esp); }, "Its EFI system partition, or None.")
      .def_property_readonly("loader", [](const DiskAlone& d) { return utf16_to_utf8(d.loader_path); },
                             "The loader's path the boot used (or the machine's own boot uses).")
      .def_readonly("loader_present", &DiskAlone::loader_present, "The disk's ESP holds that loader.")
      .def_readonly("entry", &DiskAlone::entry, "The Boot#### that starts with this disk alone, or None.")
      .def_readonly("entry_description", &DiskAlone::entry_description)
      .def_readonly("os_plex", &DiskAlone::os_plex, "Where Windows starts from, or ''.")
      .def_readonly("boots", &DiskAlone::boots, "The disk alone starts what the machine starts.")
      .def_readonly("survives_loss", &DiskAlone::survives_loss, "The machine boots without this disk.")
      .def_readonly("boot", &DiskAlone::boot, "The boot with this disk alone (steps, console).")
      .def_readonly("problems", &DiskAlone::problems)
      .def_readonly("advice", &DiskAlone::advice, "What to do about each problem, in the same order.")
      .def_readonly("esp_differences", &DiskAlone::esp_differences, "How its ESP differs from the reference ESP.")
      .def_readonly("real", &DiskAlone::real, "The real boot under QEMU (check with qemu=True), or None.");
  py::class_<Report>(m, "RedundancyReport", "Does every disk boot on its own.")
      .def_readonly("whole", &Report::whole, "The boot with every present disk.")
      .def_property_readonly("reference_esp", [](const Report& r) { return place_or_none(r.reference_esp); },
                             "The ESP that boot loads from, or None.")
      .def_readonly("disks", &Report::disks)
      .def_readonly("missing", &Report::missing, "Disks missing already.")
      .def_property_readonly("survives_loss_of_any_disk", &Report::survives_loss_of_any_disk);
  m.def(
      "redundancy_check",
      [](Machine& machine, bool qemu, double timeout) {
        py::gil_scoped_release release;
        return check(machine, CheckOptions{qemu, milliseconds(timeout)});
      },
      py::arg("machine"), py::arg("qemu") = false, py::arg("timeout") = 60.0);
  m.def(
      "redundancy_boot_alone_in_qemu",
      [](Machine& machine, int disk, double timeout) {
        py::gil_scoped_release release;
        return boot_alone_in_qemu(machine, disk, milliseconds(timeout));
      },
      py::arg("machine"), py::arg("disk"), py::arg("timeout") = 60.0);
}

}  // namespace bootmirror::bindings
