#include <fmt/format.h>

#include "bootmirror/shell.h"

namespace bootmirror::shell {

// diskpart's size and offset columns, a rule derived from KB 814070, whose tables can be checked
// against the byte counts its bootcfg /list prints for the same partitions:
//   - the unit is the largest of B, KB, MB, GB, TB (powers of 1024) holding at least 8 of it:
//     4,996 MiB and 4,149 MiB stay "MB", 8,729 MiB (9,153,031,680 B) becomes "9 GB"; 17,408 B is
//     "17 KB"; zero is "0 B";
//   - the value is rounded to the nearest whole unit, halves up: 32,256 B (31.5 KiB) -> "32 KB",
//     213,825,024 B (203.9 MiB) -> "204 MB", 8.52 GiB -> "9 GB", 3,142,056,960 B (2996.496 MiB)
//     -> "2996 MB" (so neither truncation nor rounding up fits every line of the seed).
std::string format_size(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  int unit = 0;
  while (unit < 4 && bytes >= (std::uint64_t(8) << (10 * (unit + 1)))) ++unit;
  const std::uint64_t scale = std::uint64_t(1) << (10 * unit);
  // Half up, without the sum that wrapped near 2^64 (2^64-1 bytes showed as "0 TB").
  const std::uint64_t value = bytes / scale + (bytes % scale >= scale - scale / 2 ? 1 : 0);
  return fmt::format("{} {}", value, kUnits[unit]);
}

}  // namespace bootmirror::shell
