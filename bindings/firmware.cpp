// bootmirror._core.firmware_*: the machine's NVRAM and boots (bootmirror/firmware.h), and the
// bootcfg shell (bootmirror/bootcfg.h).
#include "bootmirror/bootcfg.h"
#include "bootmirror/firmware.h"
#include "bootmirror/unicode.h"
#include "binding.h"

namespace bootmirror::bindings {

namespace {

using namespace bootmirror::firmware;

py::object place_or_none(const std::optional<PartitionPlace>& place) { return place ? py::cast(*place) : py::object(py::none()); }

py::object optional_text(const std::optional<std::string>& text) {
  return text ? py::cast(WtfText{*text}) : py::object(py::none());
}

py::list display_list(const std::vector<std::string>& lines) {
  py::list out;
  for (const std::string& line : lines) out.append(display_str(line));
  return out;
}

// A partition named as diskpart names it: (disk, list partition's number).
PartitionPlace place_of(Machine& machine, int disk, std::size_t number) {
  for (const PartitionPlace& p : partitions(machine))
    if (p.disk == disk && p.number == number) return p;
  throw UsageError(fmt::format("disk {} has no partition {}", disk, number));
}

}  // namespace

void bind_firmware(py::module_& m) {
  using Release = py::call_guard<py::gil_scoped_release>;
  py::class_<PartitionPlace>(m, "FirmwarePartition", "A GPT partition of a present disk, as firmware finds it.")
      .def_readonly("disk", &PartitionPlace::disk)
      .def_readonly("entry", &PartitionPlace::entry, "Its place in the GPT (the Hard Drive node's partition number).")
      .def_readonly("number", &PartitionPlace::number, "list partition's number (offset order).")
      .def_property_readonly("guid", [](const PartitionPlace& p) { return p.partition.unique.to_string(); })
      .def_property_readonly("type_guid", [](const PartitionPlace& p) { return p.partition.type.to_string(); })
      .def_property_readonly("offset", &PartitionPlace::offset)
      .def_property_readonly("size", &PartitionPlace::size)
      .def("__repr__", [](const PartitionPlace& p) {
        return fmt::format("<FirmwarePartition disk {} partition {} {{{}}}>", p.disk, p.number, p.partition.unique.to_string());
      });
  py::class_<OsVolume>(m, "FirmwareOsVolume", "The volume an OS load path names.")
      .def_readonly("partition", &OsVolume::partition)
      .def_readonly("dynamic_volume", &OsVolume::dynamic_volume, "Its number in list volume when dynamic, else None.");
  py::class_<BootResult>(m, "BootResult", "What a boot did.")
      .def_readonly("ok", &BootResult::ok)
      .def_readonly("entry", &BootResult::entry, "The Boot#### that started, or None.")
      // A description is firmware's UCS-2, so it may hold a lone surrogate: kept (surrogatepass), as
      // names from disk are; the texts that quote it are for reading (U+FFFD).
      .def_property_readonly("description", [](const BootResult& r) { return WtfText{r.description}; })
      .def_property_readonly("steps", [](const BootResult& r) { return display_list(r.steps); })
      .def_property_readonly("console", [](const BootResult& r) { return display_str(r.console); })
      .def_property_readonly("loader_partition", [](const BootResult& r) { return place_or_none(r.loader_partition); })
      .def_property_readonly("loader", [](const BootResult& r) { return utf16_to_utf8(r.loader_path); })
      .def_readonly("os_volume", &BootResult::os_volume);
  py::class_<EntryView>(m, "BootMenuEntry", "One entry of bootcfg's list.")
      .def_readonly("id", &EntryView::id)
      .def_readonly("number", &EntryView::number)
      .def_property_readonly("description", [](const EntryView& e) { return WtfText{e.description}; })
      .def_readonly("windows", &EntryView::windows)
      .def_property_readonly("os_load_options", [](const EntryView& e) { return WtfText{e.os_load_options}; })
      .def_property_readonly("boot_file_path", [](const EntryView& e) { return optional_text(e.boot_file_path); })
      .def_property_readonly("os_file_path", [](const EntryView& e) { return optional_text(e.os_file_path); });
  py::class_<StaleEntry>(m, "StaleBootEntry", "A boot entry whose ESP, loader or Windows is gone.")
      .def_readonly("number", &StaleEntry::number)
      .def_property_readonly("description", [](const StaleEntry& s) { return WtfText{s.description}; })
      .def_property_readonly("reason", [](const StaleEntry& s) { return display_str(s.reason); })
      .def("__repr__", [](const StaleEntry& s) {
        return display_str(fmt::format("<StaleBootEntry Boot{:04X} '{}': {}>", s.number, s.description, s.reason));
      });
  py::class_<RunningSystem>(m, "RunningSystem", "What the running boot came from.")
      .def_readonly("entry", &RunningSystem::entry)
      .def_property_readonly("system_partition", [](const RunningSystem& r) { return place_or_none(r.system_partition); })
      .def_readonly("boot_volume", &RunningSystem::boot_volume);

  m.def("firmware_store", &store, py::arg("machine"), Release(), "The machine's NVRAM store, or None.");
  m.def("firmware_writable_store", &writable_store, py::arg("machine"), Release());
  m.def("firmware_create_store", &create_store, py::arg("machine"), py::arg("template") = std::string(nvram::kDefaultTemplate),
        Release());
  m.def("firmware_partitions", &partitions, py::arg("machine"), Release());
  m.def("firmware_boot", &boot, py::arg("machine"), py::arg("entry") = py::none(), Release());
  m.def("firmware_boot_current", &boot_current, py::arg("machine"), Release());
  m.def("firmware_restart", &restart, py::arg("machine"), py::arg("entry") = py::none(), Release());
  py::class_<QemuBoot>(m, "MachineQemuBoot", "A real boot of a machine under QEMU with OVMF.")
      .def_readonly("qemu", &QemuBoot::qemu, "What QEMU and OVMF did (console, markers, boot attempts).")
      .def_readonly("entry", &QemuBoot::entry, "The Boot#### OVMF started, or None.")
      .def_property_readonly("loader_partition", [](const QemuBoot& b) { return place_or_none(b.loader_partition); },
                             "The ESP a marker loader reported, or None.");
  m.def(
      "firmware_boot_in_qemu",
      [](Machine& machine, std::optional<std::uint16_t> entry, double timeout_seconds) {
        py::gil_scoped_release release;
        return boot_in_qemu(machine, entry, std::chrono::milliseconds(std::int64_t(timeout_seconds * 1000)));
      },
      py::arg("machine"), py::arg("entry") = py::none(), py::arg("timeout") = 60.0);
  m.def(
      "machine_scratch_copy", [](Machine& machine) { return scratch_copy(machine); }, py::arg("machine"), Release(),
      "An in-memory copy of the machine (overlays over its disks, a copy of its NVRAM): what it writes stays there.");
  m.def(
      "machine_planned_writes",
      [](Machine& machine, Machine& copy) {
        std::vector<PlannedWrite> writes;
        {
          py::gil_scoped_release release;
          writes = planned_writes(machine, copy);
        }
        py::list out;
        for (const PlannedWrite& w : writes) {
          py::list ranges;
          for (const Extent& e : w.ranges) ranges.append(py::make_tuple(e.offset, e.length));
          out.append(py::make_tuple(w.target, ranges));
        }
        return out;
      },
      py::arg("machine"), py::arg("copy"), "What the scratch copy wrote that the machine would have: (target, [(offset, length)]).");
  m.def("firmware_running_system", &running_system, py::arg("machine"), Release());
  m.def("firmware_stale_entries", &stale_entries, py::arg("machine"), Release());
  m.def(
      "firmware_entry_number",
      [](Machine& machine, const py::int_& id) {
        const auto checked = to_unsigned(id, "boot entry ID", INT32_MAX);  // bootcfg's IDs count from 1
        py::gil_scoped_release release;
        return entry_number(machine, int(checked));
      },
      py::arg("machine"), py::arg("id"));
  m.def(
      "firmware_boot_menu",
      [](Machine& machine) {
        BootOptions options;
        {
          py::gil_scoped_release release;
          options = boot_options(machine);
        }
        return py::make_tuple(options.timeout, options.default_os_path, options.current_id, options.entries);
      },
      py::arg("machine"), "(timeout, default OS path, current ID, entries) as bootcfg shows them.");
  m.def(
      "firmware_add_windows_entry",
      [](Machine& machine, const WtfText& description, std::pair<int, std::size_t> esp, const WtfText& loader_path,
         std::pair<int, std::size_t> os, const WtfText& os_path, const WtfText& options, bool first) {
        py::gil_scoped_release release;
        auto hold = machine.hold();
        // WTF-8, as the NVRAM's own descriptions come to Python: one copied from an entry (a lone
        // surrogate firmware kept) is taken back as it was.
        const nvram::LoadOption option = windows_entry(
            wtf8_to_utf16(description.value), place_of(machine, esp.first, esp.second), wtf8_to_utf16(loader_path.value),
            place_of(machine, os.first, os.second), wtf8_to_utf16(os_path.value), wtf8_to_utf16(options.value));
        return add_boot_entry(machine, option, first);
      },
      py::arg("machine"), py::arg("description"), py::arg("esp"), py::arg("loader_path"), py::arg("os"), py::arg("os_path"),
      py::arg("options"), py::arg("first"));
  m.def(
      "firmware_record_installation",
      [](Machine& machine, const std::string& os_partition) {
        const Guid guid = Guid::parse(os_partition);
        py::gil_scoped_release release;
        record_installation(machine, guid);
      },
      py::arg("machine"), py::arg("os_partition"), "Record a new Windows installation (setup's) on this partition.");
  m.def(
      "bootcfg",
      [](Machine& machine, const WtfText& arguments) {
        shell::BootcfgResult r;
        {
          py::gil_scoped_release release;
          r = shell::bootcfg(machine, arguments.value);
        }
        return py::make_tuple(display_str(r.text), r.ok);
      },
      py::arg("machine"), py::arg("arguments"), "`bootcfg <arguments>` on a machine: (its text, whether it succeeded).");
}

}  // namespace bootmirror::bindings
