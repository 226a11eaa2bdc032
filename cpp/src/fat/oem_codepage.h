// DOS OEM code pages: the single-byte character sets that FAT keeps 8.3 names and volume labels
// in (fatgen103 section 6: "the OEM character set"; Windows uses the system's OEM code page,
// cp437 in the US, cp850 and others in Europe). Bytes 0x00-0x7F are ASCII; the upper halves come
// from oem_tables.cpp, generated from Python's codecs by gen_oem_tables.py.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bootmirror::fat {

struct OemTable {
  const char* name;                // "cp437"
  std::array<char16_t, 128> high;  // bytes 0x80..0xFF; 0 where the page defines no character
};
extern const std::array<OemTable, 15> oem_tables;

class OemCodePage {
 public:
  // "cp437", "CP850", "437", "ibm850" name the same pages as Python's codecs. UsageError naming
  // the supported pages for any other name.
  static const OemCodePage& named(std::string_view name);
  static const OemCodePage& default_page();  // cp437, Windows' OEM page in the US
  static std::vector<std::string> names();

  std::string_view name() const { return table_->name; }
  // The character a byte stands for. A byte the page leaves undefined becomes U+DC80+(byte-0x80)
  // as Python's surrogateescape does, so that decoding loses nothing and encode() returns it.
  char16_t decode(std::uint8_t byte) const {
    if (byte < 0x80) return byte;
    char16_t c = table_->high[byte - 0x80];
    return c ? c : char16_t(0xDC00 + byte);
  }
  // The byte that stands for `c`, nullopt when the page cannot represent it (stand-ins included).
  std::optional<std::uint8_t> encode(char16_t c) const;

 private:
  explicit OemCodePage(const OemTable& table);
  static const std::vector<OemCodePage>& all();  // one per table, built on first use
  const OemTable* table_;
  std::vector<std::pair<char16_t, std::uint8_t>> reverse_;  // defined bytes, sorted by character
};

}  // namespace bootmirror::fat
