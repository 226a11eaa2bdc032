#include <fmt/format.h>

#include "bootmirror/shell.h"
#include "bootmirror/volumes.h"
#include "binding.h"

namespace bootmirror::bindings {

void bind_volumes(py::module_& m) {
  m.def(
      "machine_format",
      [](Machine& machine, const std::string& drive, const std::string& switches, const py::object& progress) {
        auto callback = python_progress(progress);
        py::gil_scoped_release release;
        return shell::format_drive(machine, drive, switches, callback);
      },
      py::arg("machine"), py::arg("drive"), py::arg("switches"), py::arg("progress") = py::none(),
      "`format <drive> <switches>` on a machine.");
  m.def(
      "machine_xcopy",
      [](Machine& machine, const std::string& source, const std::string& destination, const std::string& switches,
         const py::object& progress) {
        auto callback = python_progress(progress);
        py::gil_scoped_release release;
        return shell::xcopy_drives(machine, source, destination, switches, callback);
      },
      py::arg("machine"), py::arg("source"), py::arg("destination"), py::arg("switches"), py::arg("progress") = py::none(),
      "`xcopy <source> <destination> <switches>` between a machine's drive letters.");
  m.def("cdrom_drives", [](Machine& machine) {
    std::vector<char> letters;
    {
      py::gil_scoped_release release;
      letters = cdrom_drives(machine);
    }
    std::vector<std::string> out;
    for (char c : letters) out.emplace_back(1, c);
    return out;
  }, py::arg("machine"), "The machine's CD-ROM drives by letter.");
  m.def(
      "add_cdrom_drive",
      [](Machine& machine, const std::string& letter) {
        if (letter.empty() || letter.size() > 2 || (letter.size() == 2 && letter[1] != ':'))
          throw UsageError(fmt::format("'{}' is not a drive letter", letter));
        py::gil_scoped_release release;
        add_cdrom_drive(machine, letter[0]);
      },
      py::arg("machine"), py::arg("letter"), "Give the machine a CD-ROM drive (no disc) with this letter.");
  m.def(
      "file_system_on",
      [](const DevicePtr& device, const std::string& codepage) {
        py::gil_scoped_release release;
        auto found = file_system_on(device, codepage);
        return found ? std::pair{found->name, found->label} : std::pair<std::string, std::string>{};
      },
      py::arg("device"), py::arg("codepage") = "cp437",
      "(file system, label) as diskpart's Fs and Label columns show them; ('', '') when none is known.");
  m.def(
      "machine_drive_device",
      [](Machine& machine, const std::string& drive) {
        auto device = drive_device(machine, drive);
        if (!device) throw UsageError(fmt::format("There is no volume {}", drive));
        return device;
      },
      py::arg("machine"), py::arg("drive"), py::call_guard<py::gil_scoped_release>(),
      "The bytes behind a drive letter: a partition, or a dynamic volume (every plex of a mirror).");
  m.def(
      "machine_listed_volume_device",
      [](Machine& machine, std::size_t number) {
        auto device = listed_volume_device(machine, number);
        if (!device) throw UsageError(fmt::format("There is no volume {} (list volume's number) with bytes to read", number));
        return device;
      },
      py::arg("machine"), py::arg("number"), py::call_guard<py::gil_scoped_release>(),
      "The bytes of list volume's Volume N: a dynamic volume (every plex of a mirror) or a basic volume's partition.");
  m.def("machine_volume", &mount_fat, py::arg("machine"), py::arg("drive"), py::call_guard<py::gil_scoped_release>(),
        "The FAT volume behind a drive letter (shared by every caller).");
  m.def("machine_esp", &mount_esp, py::arg("machine"), py::arg("disk"), py::call_guard<py::gil_scoped_release>(),
        "The FAT file system on a disk's EFI system partition, with or without a drive letter (shared as machine_volume's).");
  m.def(
      "machine_assign_letter",
      [](Machine& machine, int disk, std::size_t partition, const std::string& letter) {
        if (letter.empty() || letter.size() > 2 || (letter.size() == 2 && letter[1] != ':'))
          throw UsageError("'" + letter + "' is not a drive letter");
        py::gil_scoped_release release;
        assign_letter(machine, disk, partition, letter[0]);
      },
      py::arg("machine"), py::arg("disk"), py::arg("partition"), py::arg("letter"),
      "Give partition `partition` (1.., offset order) of disk `disk` a drive letter.");
  m.def(
      "machine_drive_letters",
      [](Machine& machine) {
        std::vector<std::tuple<std::string, int, std::size_t>> out;
        std::vector<BasicVolume> volumes;
        {
          py::gil_scoped_release release;
          volumes = basic_volumes(machine);
        }
        for (const BasicVolume& v : volumes)
          if (v.letter) out.emplace_back(std::string(1, *v.letter), v.disk, v.partition);
        return out;
      },
      py::arg("machine"), "(letter, disk, partition) for every assigned drive letter.");
}

}  // namespace bootmirror::bindings
