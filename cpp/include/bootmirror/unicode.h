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
// The same, appended to `out` (a buffer kept across many names costs no allocation per name).
void append_utf16_as_utf8(std::string& out, std::u16string_view text);
// Appends one code point, UTF-8 encoded.
void append_utf8(std::string& out, char32_t code_point);

// Whether `text` is well-formed UTF-8 (no surrogates, nothing past U+10FFFF, shortest forms).
bool is_valid_utf8(std::string_view text);
// Bytes from disk that should be UTF-8 (LDM names): each ill-formed sequence becomes U+FFFD, so the
// result is always valid UTF-8. Keep the raw bytes where they must round-trip.
std::string utf8_or_replacement(std::string_view bytes);
// Raw bytes quoted for a message: printable ASCII as is, '\\' for a backslash, \xNN for every other
// byte. Messages that quote on-disk bytes use it, so no message carries undecodable text.
std::string escape_bytes(std::string_view bytes);

// WTF-8 (https://simonsapin.github.io/wtf-8/): UTF-8 generalised so that it can also carry lone
// UTF-16 surrogates, each as its three-byte form (ED A0 80 .. ED BF BF). Names read from UTF-16 on
// disk (FAT long names) may hold lone surrogates; WTF-8 keeps them, so that a name listed is a
// name that opens the file. Python's "surrogatepass" error handler reads and writes the same bytes.
// For well-formed UTF-16 the result is plain UTF-8.
std::string utf16_to_wtf8(std::u16string_view text);
// UsageError naming the text when it is not WTF-8. Encoded surrogates that form a pair are joined
// (as the UTF-16 they stand for), so any name Python hands over maps to one UTF-16 name.
std::u16string wtf8_to_utf16(std::string_view text);
// WTF-8 made fit to print: each encoded lone surrogate becomes U+FFFD; the result is valid UTF-8.
// For text that must only be shown (listings, messages); the name itself stays WTF-8.
std::string wtf8_for_display(std::string_view text);

}  // namespace bootmirror
