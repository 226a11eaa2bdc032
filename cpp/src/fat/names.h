// Names on FAT (UTF-8 <-> UTF-16 from bootmirror/unicode.h): Windows' case-insensitive comparison, path
// splitting, and 8.3 short names (validity, case flags, numeric-tail generation, LFN checksum).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/unicode.h"

namespace bootmirror::fat {

using ShortName = std::array<char, 11>;  // 8 + 3, space padded, as stored


// The key two names share when Windows treats them as equal (upper case, simple mappings).
std::u16string fold(std::u16string_view name);
char16_t upcase(char16_t c);

// "a\\b/c/" -> {"a", "b", "c"}; "." is dropped, ".." removes the previous component; trailing dots
// and spaces are stripped as Windows does.
std::vector<std::string> split_path(std::string_view path);
std::string join_path(const std::vector<std::string>& parts, char separator = '/');

// UsageError unless `name` may be a long file name (1..255 UTF-16 units, no control characters,
// none of "*?<>|:/\\" and '"', not a DOS device name such as CON or LPT1).
void check_long_name(std::u16string_view name);

// The 8.3 form of a name that already is one once upper-cased ("readme.txt" -> README.TXT) and
// the case flags (byte 12: 0x08 lower-case base, 0x10 lower-case extension) that let Windows
// show it without a long name. nullopt when the name is not 8.3 or mixes case within a part.
struct ExactShort {
  ShortName name;
  std::uint8_t case_flags = 0;
  bool needs_long_name = false;  // 8.3 when upper-cased, but mixed case: keep the long name too
};
std::optional<ExactShort> exact_short_name(std::u16string_view name);

// Windows' short name for a long one: the basis name (upper case, invalid characters as '_',
// spaces and leading dots removed, 8 + 3), then "~N" numeric tails until `taken` says no.
ShortName generate_short_name(std::u16string_view long_name, const std::function<bool(const ShortName&)>& taken);

// "README.TXT" (or "readme.txt" with case flags), as dir shows it.
std::string display_short_name(const ShortName& name, std::uint8_t case_flags = 0);
bool valid_short_name(const ShortName& name);  // what fsck.fat accepts
std::uint8_t lfn_checksum(const ShortName& name);

}  // namespace bootmirror::fat
