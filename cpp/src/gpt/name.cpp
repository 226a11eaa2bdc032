// Partition names are UTF-16LE on disk and UTF-8 everywhere else.
#include <fmt/format.h>

#include "bootmirror/gpt.h"
#include "bootmirror/unicode.h"
#include "gpt/codec.h"

namespace bootmirror::gpt {

std::string Partition::name_utf8() const { return utf16_to_utf8(name); }

void Partition::set_name(std::string_view utf8) {
  std::u16string units = utf8_to_utf16(utf8);
  if (units.size() > codec::kNameUnits)
    throw UsageError(fmt::format("partition name '{}' is longer than 36 UTF-16 code units", utf8));
  name = std::move(units);
}

}  // namespace bootmirror::gpt
