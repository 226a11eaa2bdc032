// The text side of Windows' `format` and `xcopy` for FAT volumes: parsing their switches and
// printing what they print. The engine (bootmirror/fat.h) knows nothing of this text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/fat.h"

namespace bootmirror::shell {

struct FormatCommand {
  fat::FormatOptions options;
  bool yes = false;  // /y: no confirmation
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
// 213680128 -> "213,680,128"
std::string with_thousands(std::uint64_t value);

// "/s /h /e" -> copy options (the pattern comes from the source argument).
fat::CopyOptions parse_xcopy_switches(std::string_view switches);
// "p:\EFI\...\Boot0003" lines then "7 File(s) copied", given the source folder as typed
// ("p:\") and the copied paths relative to it.
std::string xcopy_listing(std::string_view source_folder, const std::vector<std::string>& copied);

}  // namespace bootmirror::shell
