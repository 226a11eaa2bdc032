// UCS-2 strings inside NVRAM values (variable names, load option descriptions, file path nodes,
// Windows' load options): little-endian 16-bit units ended by a NUL unit. Firmware does not check
// surrogates, so neither do we: the units are kept as they are and shown as WTF-8.
#include <fmt/format.h>

#include "nvram/codec.h"

namespace bootmirror::nvram::codec {

std::u16string load_ucs2_z(ByteSpan bytes, std::size_t at, std::uint64_t base, std::string_view what, std::size_t* end) {
  std::u16string text;
  for (std::size_t pos = at;; pos += 2) {
    if (pos >= bytes.size())
      throw FormatError(fmt::format("{}: UCS-2 text has no NUL before the end of its {} bytes", what, bytes.size() - at),
                        base + at);
    if (bytes.size() - pos < 2)
      throw FormatError(fmt::format("{}: UCS-2 text ends in an odd byte", what), base + pos);
    const auto unit = load_le<std::uint16_t>(bytes, pos);
    if (unit == 0) {
      if (end) *end = pos + 2;
      return text;
    }
    text.push_back(char16_t(unit));
  }
}

void append_ucs2(ByteVector& out, std::u16string_view text, bool with_nul) {
  const std::size_t at = out.size();
  out.resize(at + 2 * (text.size() + (with_nul ? 1 : 0)), std::byte{0});
  for (std::size_t i = 0; i < text.size(); ++i) store_le<std::uint16_t>(out, at + 2 * i, std::uint16_t(text[i]));
}

std::u16string checked_name(std::u16string_view text, std::string_view what) {
  if (text.find(u'\0') != std::u16string_view::npos)
    throw UsageError(fmt::format("{} holds a NUL character, which would end it early", what));
  return std::u16string(text);
}

}  // namespace bootmirror::nvram::codec
