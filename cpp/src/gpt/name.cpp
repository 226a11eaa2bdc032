// Partition names are UTF-16LE on disk and UTF-8 everywhere else.
#include <fmt/format.h>

#include "bootmirror/gpt.h"
#include "gpt/codec.h"

namespace bootmirror::gpt {

namespace {
void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(char(c));
  } else if (c < 0x800) {
    out.push_back(char(0xC0 | (c >> 6)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(char(0xE0 | (c >> 12)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (c >> 18)));
    out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  }
}
}  // namespace

std::string Partition::name_utf8() const {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char32_t c = name[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < name.size() && name[i + 1] >= 0xDC00 && name[i + 1] <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (char32_t(name[i + 1]) - 0xDC00);
      ++i;
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      c = 0xFFFD;  // a lone surrogate: shown as the replacement character, kept as is on disk
    }
    append_utf8(out, c);
  }
  return out;
}

void Partition::set_name(std::string_view utf8) {
  std::u16string units;
  for (std::size_t i = 0; i < utf8.size();) {
    const auto lead = static_cast<unsigned char>(utf8[i]);
    int length = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : (lead >> 3) == 30 ? 4 : 0;
    if (length == 0 || i + length > utf8.size()) throw UsageError("partition name is not valid UTF-8");
    char32_t c = length == 1 ? lead : length == 2 ? (lead & 0x1F) : length == 3 ? (lead & 0x0F) : (lead & 0x07);
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(utf8[i + k]);
      if ((next & 0xC0) != 0x80) throw UsageError("partition name is not valid UTF-8");
      c = (c << 6) | (next & 0x3F);
    }
    i += length;
    if (c >= 0x10000) {
      c -= 0x10000;
      units.push_back(char16_t(0xD800 + (c >> 10)));
      units.push_back(char16_t(0xDC00 + (c & 0x3FF)));
    } else {
      units.push_back(char16_t(c));
    }
  }
  if (units.size() > codec::kNameUnits)
    throw UsageError(fmt::format("partition name '{}' is longer than 36 UTF-16 code units", utf8));
  name = std::move(units);
}

}  // namespace bootmirror::gpt
