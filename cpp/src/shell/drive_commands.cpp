// format and xcopy on a Machine's drive letters: resolve the letters to volumes, then run the
// FAT commands (bootmirror/fat_commands.h) on them.
#include <fmt/format.h>

#include "bootmirror/fat_commands.h"
#include "bootmirror/shell.h"
#include "bootmirror/volumes.h"

namespace bootmirror::shell {

std::string format_drive(Machine& machine, std::string_view drive, std::string_view switches,
                         const ProgressCallback& progress) {
  auto hold = machine.hold();
  DevicePtr device = drive_device(machine, drive);
  if (!device) throw UsageError(fmt::format("The system cannot find the drive specified ({}).", drive));
  unmount_fat(machine, drive);  // whoever holds the old file system must not write it back
  return run_format(device, switches, machine.oem_codepage(), progress);
}

std::string xcopy_drives(Machine& machine, std::string_view source, std::string_view destination,
                         std::string_view switches, const ProgressCallback& progress) {
  auto hold = machine.hold();
  DrivePath from = parse_drive_path(source), to = parse_drive_path(destination);
  // This xcopy copies between FAT volumes: an NTFS drive is refused as such, not read as a FAT
  // one and reported damaged.
  for (const char drive : {from.drive, to.drive})
    if (const DevicePtr device = drive_device(machine, std::string(1, drive)); device && file_system_name(device) == "NTFS")
      throw UsageError(fmt::format("{}: holds NTFS; xcopy here copies between FAT volumes (bootmirror.ntfs reads NTFS)", drive));
  auto source_volume = mount_fat(machine, std::string(1, from.drive));
  auto target_volume = mount_fat(machine, std::string(1, to.drive));
  return run_xcopy(*source_volume, from, *target_volume, to, switches, progress);
}

}  // namespace bootmirror::shell
