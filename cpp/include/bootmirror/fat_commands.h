// The text side of Windows' `format` (FAT, FAT32 and NTFS) and `xcopy` for FAT volumes: parsing their switches and
// printing what they print. The engine (bootmirror/fat.h) knows nothing of this text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/fat.h"

namespace bootmirror::shell {

struct FormatCommand {
  fat::FormatOptions options;  // /fs:ntfs uses its label, cluster size and quick flag
  bool ntfs = false;           // /fs:ntfs
  bool file_system_given = false;  // /fs: at all (without it, format keeps the volume's own)
  bool yes = false;            // /y: no confirmation
};
// "/fs:fat /q /y /v:LABEL /a:4096" -> options. UsageError on an unknown switch, as format says
// "Invalid parameter".
FormatCommand parse_format_switches(std::string_view switches);

// Everything format prints after it has been told to go, from "The type of the file system is
// RAW." to "Volume Serial Number is XXXX-XXXX", exactly as Windows lays it out.
std::string format_summary(const fat::FormatResult& result, std::uint64_t volume_bytes,
                           std::string_view previous_file_system, bool quick);
// "EA34-03C7"
std::string serial_text(std::uint32_t serial);

// "/s /h /e" -> copy options (the pattern comes from the source argument).
fat::CopyOptions parse_xcopy_switches(std::string_view switches);
// "p:\EFI\...\Boot0003" lines then "7 File(s) copied", given the source folder as typed
// ("p:\") and the copied paths relative to it.
std::string xcopy_listing(std::string_view source_folder, const std::vector<std::string>& copied);

// What `format` says the volume held before: "FAT" (FAT12/16), "FAT32", "NTFS", or "RAW".
std::string file_system_name(const DevicePtr& device);
// `format X: <switches>` on a volume's device: formats it and returns what Windows prints. The
// label (/v:) is written in `codepage`, the machine's OEM code page; `progress` as fat::format's
// and ntfs::format's.
std::string run_format(const DevicePtr& device, std::string_view switches, std::string_view codepage = "cp437",
                       const ProgressCallback& progress = {});

// An xcopy argument: "p:\*.*", "s:", "p:\EFI\Boot\*.efi". The drive letter is upper case; the
// rest is what follows the colon ("\*.*", "", ...).
struct DrivePath {
  char drive = 0;  // 'P'
  char typed = 0;  // 'p' as typed: xcopy lists paths the way they were typed
  std::string rest;
};
DrivePath parse_drive_path(std::string_view text);
// `xcopy <source> <destination> <switches>` between two volumes (the caller has resolved the
// drive letters): copies with xcopy's semantics and returns its listing; `progress` as
// fat::copy_tree's.
std::string run_xcopy(fat::Volume& source, const DrivePath& from, fat::Volume& target, const DrivePath& to,
                      std::string_view switches, const ProgressCallback& progress = {});

}  // namespace bootmirror::shell
