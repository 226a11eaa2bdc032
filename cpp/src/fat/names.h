// Names on FAT: Windows' case-insensitive comparison, path splitting, and 8.3 short names (validity,
// case flags, numeric-tail generation, LFN checksum) in the volume's OEM code page.
//
// Names and paths are WTF-8 inside the engine (bootmirror/unicode.h): UTF-8 that can also carry the
// lone UTF-16 surrogates a long name on disk may hold, so that every name a listing gives opens
// the file it names. Text meant only for display goes through wtf8_for_display().
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/unicode.h"
#include "fat/oem_codepage.h"

namespace bootmirror::fat {

using ShortName = std::array<char, 11>;  // 8 + 3, space padded, as stored
// A folder's table of short names taken: the 11 bytes hashed as they are.
struct ShortNameHash {
  std::size_t operator()(const ShortName& name) const {
    std::uint64_t head;
    std::uint32_t tail = 0;
    std::memcpy(&head, name.data(), 8);
    std::memcpy(&tail, name.data() + 8, 3);
    const std::uint64_t h = head * 0x9E3779B97F4A7C15ull ^ std::uint64_t(tail) * 0xC2B2AE3D27D4EB4Full;
    return std::size_t(h ^ (h >> 29));
  }
};


// The key two names share when Windows treats them as equal (upper case, simple mappings).
std::u16string fold(std::u16string_view name);
char16_t upcase(char16_t c);
// A hash and an equality for tables keyed by folded names that look a name up as it is given,
// without making its folded copy (the stored keys are folded; upcase is idempotent).
struct FoldedHash {
  using is_transparent = void;
  std::size_t operator()(std::u16string_view name) const;
};
struct FoldedEqual {
  using is_transparent = void;
  bool operator()(std::u16string_view a, std::u16string_view b) const;
};
char16_t downcase(char16_t c);  // the inverse of upcase where upcase changes a character

// "a\\b/c/" -> {"a", "b", "c"}; "." is dropped, ".." removes the previous component; trailing dots
// and spaces are stripped as Windows does.
std::vector<std::string> split_path(std::string_view path);
std::string join_path(const std::vector<std::string>& parts, char separator = '/');

// UsageError unless `name` may be a long file name (1..255 UTF-16 units, no control characters,
// none of "*?<>|:/\\" and '"', not a DOS device name such as CON or LPT1).
void check_long_name(std::u16string_view name);

// The 8.3 form of a name that already is one once upper-cased ("readme.txt" -> README.TXT) in the
// OEM code page, and the case flags (byte 12: 0x08 lower-case base, 0x10 lower-case extension)
// that let Windows show it without a long name. nullopt when the name is not 8.3 or has a
// character the page cannot represent.
struct ExactShort {
  ShortName name;                // as stored: a leading 0xE5 is kept as 0x05
  std::uint8_t case_flags = 0;
  bool needs_long_name = false;  // 8.3 once upper-cased, but it shows differently (mixed case)
};
std::optional<ExactShort> exact_short_name(std::u16string_view name, const OemCodePage& page);

// Windows' short name for a long one: the basis name (upper case in the OEM page; characters the
// page cannot represent and those 8.3 forbids as '_'; spaces and leading dots removed; 8 + 3),
// then "~N" numeric tails until `taken` says no.
ShortName generate_short_name(std::u16string_view long_name, const std::function<bool(const ShortName&)>& taken,
                              const OemCodePage& page);
// The same past its first step: for a name whose exact 8.3 form is unusable or taken.
ShortName numbered_short_name(std::u16string_view long_name, const std::function<bool(const ShortName&)>& taken,
                              const OemCodePage& page);

// The short name as dir shows it: "README.TXT", or "readme.txt" with case flags; its bytes
// decoded with the OEM code page (0x05 first stands for 0xE5).
std::u16string short_name_text(const ShortName& name, std::uint8_t case_flags, const OemCodePage& page);
// The same, WTF-8.
std::string display_short_name(const ShortName& name, std::uint8_t case_flags, const OemCodePage& page);
bool valid_short_name(const ShortName& name);  // what fsck.fat accepts (the raw bytes)
std::uint8_t lfn_checksum(const ShortName& name);

// A volume label (root directory entry and boot sector): up to 11 OEM bytes, upper case as
// Windows' label command stores it, without surrounding spaces, space padded (all spaces: no
// label). UsageError for characters a label cannot hold or the page cannot represent.
ShortName encode_label(std::string_view text, const OemCodePage& page);
// The label as text: the bytes decoded with the page, trailing spaces (and NULs) dropped.
std::string decode_label(std::string_view raw, const OemCodePage& page);
bool is_no_label(const ShortName& label);  // all spaces

}  // namespace bootmirror::fat
