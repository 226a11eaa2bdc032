// bootmirror._core's boots under QEMU and OVMF (bootmirror/qemu.h); the typed API over them is
// bootmirror.qemu.
#include "bootmirror/qemu.h"

#include <fmt/format.h>

#include "binding.h"

namespace bootmirror::bindings {

namespace {

std::optional<std::string> guid_text(const std::optional<Guid>& guid) {
  if (!guid) return std::nullopt;
  return guid->to_string();
}

std::string fat_serial_text(const std::optional<std::uint32_t>& serial) {
  return serial ? fmt::format("{:04X}-{:04X}", *serial >> 16, *serial & 0xFFFF) : "unknown";
}

}  // namespace

void bind_qemu(py::module_& m) {
  using qemu::BootAttempt;
  using qemu::BootResult;
  using qemu::Marker;
  py::class_<Marker>(m, "QemuMarker", "What a marker loader printed: which ESP firmware loaded it from.")
      .def_readonly("tag", &Marker::tag)
      .def_property_readonly("partition_guid", [](const Marker& k) { return guid_text(k.partition); },
                             "The unique GUID of the partition it ran from (lowercase), None if GRUB could not probe it.")
      .def_readonly("fat_serial", &Marker::fat_serial, "That partition's FAT serial number, None if GRUB could not probe it.")
      .def_readonly("path", &Marker::path, "GRUB's $cmdpath: (hdN,gptM)/folder of the loader.")
      .def("__repr__", [](const Marker& k) {
        return fmt::format("<QemuMarker {} part={} fs={} path={}>", k.tag, guid_text(k.partition).value_or("unknown"),
                           fat_serial_text(k.fat_serial), k.path);
      });
  py::class_<BootAttempt>(m, "QemuBootAttempt", "One Boot#### option OVMF tried, from its BdsDxe lines.")
      .def_readonly("option", &BootAttempt::option, "The #### of Boot####.")
      .def_readonly("description", &BootAttempt::description)
      .def_readonly("device_path", &BootAttempt::device_path, "OVMF's text of the device path, e.g. HD(1,GPT,...)/\\EFI\\...")
      .def_property_readonly("outcome", [](const BootAttempt& a) { return std::string(qemu::outcome_name(a.outcome)); },
                             "'loading', 'load failed', 'started' or 'start failed'.")
      .def_readonly("status", &BootAttempt::status, "EFI_STATUS text of a failure ('Not Found'); '' otherwise.")
      .def("__repr__", [](const BootAttempt& a) {
        return fmt::format("<QemuBootAttempt Boot{:04X} \"{}\" {}{}{} from {}>", a.option, a.description,
                           qemu::outcome_name(a.outcome), a.status.empty() ? "" : ": ", a.status, a.device_path);
      });
  py::class_<BootResult>(m, "QemuBootResult", "What one boot under QEMU and OVMF showed.")
      .def_readonly("exit_status", &BootResult::exit_status, "QEMU's exit status: 0 when the guest powered off.")
      .def_readonly("timed_out", &BootResult::timed_out, "Whether QEMU was stopped at the timeout.")
      .def_readonly("stopped_idle", &BootResult::stopped_idle,
                    "Whether QEMU was stopped because what firmware started sat waiting (a shell at its prompt).")
      .def_readonly("seconds", &BootResult::seconds, "From QEMU's start to its exit.")
      .def_readonly("firmware_code", &BootResult::firmware_code, "The OVMF code file used.")
      .def_readonly("console", &BootResult::console, "The serial console, escape sequences and CRs removed.")
      .def_readonly("qemu_messages", &BootResult::qemu_messages, "QEMU's own output (warnings), not the guest's.")
      .def_readonly("markers", &BootResult::markers)
      .def_readonly("attempts", &BootResult::attempts)
      .def("__repr__", [](const BootResult& r) {
        return fmt::format("<QemuBootResult {} in {:.1f} s, {} markers, {} boot attempts>",
                           r.timed_out ? "timed out" : fmt::format("exit {}", r.exit_status), r.seconds,
                           r.markers.size(), r.attempts.size());
      });

  m.def(
      "qemu_build_marker_loader",
      [](const std::string& tag) {
        ByteVector efi;
        {
          py::gil_scoped_release release;
          efi = qemu::build_marker_loader(tag);
        }
        return py::bytes(reinterpret_cast<const char*>(efi.data()), efi.size());
      },
      py::arg("tag"));
  m.def(
      "qemu_boot",
      [](const std::vector<std::pair<py::object, std::uint32_t>>& disks, const py::object& vars, double timeout,
         const std::optional<py::object>& firmware_code) {
        if (!(timeout > 0) || timeout > 86400) throw UsageError(fmt::format("timeout {} s: give 0 < timeout <= 86400", timeout));
        qemu::BootOptions options;
        for (const auto& [path, sector_size] : disks) options.disks.push_back({encode_host_path(path), sector_size});
        options.vars = encode_host_path(vars);
        if (firmware_code) options.firmware_code = encode_host_path(*firmware_code);
        options.timeout = std::chrono::milliseconds(std::int64_t(timeout * 1000));
        py::gil_scoped_release release;
        return qemu::boot(options);
      },
      py::arg("disks"), py::arg("vars"), py::arg("timeout"), py::arg("firmware_code") = py::none());
  m.def("qemu_firmware_code_for", [](const py::object& vars) { return qemu::firmware_code_for(encode_host_path(vars)); },
        py::arg("vars"));
  m.def("qemu_clean_console", [](const py::bytes& raw) { return qemu::clean_console(std::string_view(raw)); }, py::arg("raw"));
  m.def("qemu_find_markers", [](const std::string& console) { return qemu::find_markers(console); }, py::arg("console"));
  m.def("qemu_find_boot_attempts", [](const std::string& console) { return qemu::find_boot_attempts(console); },
        py::arg("console"));
}

}  // namespace bootmirror::bindings
