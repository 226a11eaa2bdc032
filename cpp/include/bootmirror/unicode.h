// UTF-8 (bootmirror's text everywhere) and UTF-16 (GPT partition names, FAT long names, EFI
// variables) converted into each other, once for every module.
#pragma once

#include <string>
#include <string_view>

namespace bootmirror {

// UsageError naming the text when it is not well-formed UTF-8 (surrogates and values past
// U+10FFFF included).
std::u16string utf8_to_utf16(std::string_view text);
// Lone surrogates (which UTF-16 on disk may hold) become U+FFFD.
std::string utf16_to_utf8(std::u16string_view text);
// Appends one code point, UTF-8 encoded.
void append_utf8(std::string& out, char32_t code_point);

}  // namespace bootmirror
