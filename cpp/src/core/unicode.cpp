#include "bootmirror/unicode.h"

#include <fmt/format.h>

#include "bootmirror/error.h"

namespace bootmirror {

namespace {
// The length of the well-formed UTF-8 sequence at `i` (Unicode 15, table 3-7), 0 when ill-formed.
// With `surrogates`, ED A0..BF xx (an encoded UTF-16 surrogate, as WTF-8 allows) is accepted too.
std::size_t sequence_length(std::string_view s, std::size_t i, bool surrogates) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char b = at(0);
  if (b < 0x80) return 1;
  std::size_t n;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) n = 2;
  else if (b >= 0xE0 && b <= 0xEF) { n = 3; if (b == 0xE0) low = 0xA0; if (b == 0xED && !surrogates) high = 0x9F; }
  else if (b >= 0xF0 && b <= 0xF4) { n = 4; if (b == 0xF0) low = 0x90; if (b == 0xF4) high = 0x8F; }
  else return 0;
  if (i + n > s.size()) return 0;
  if (at(1) < low || at(1) > high) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((at(k) & 0xC0) != 0x80) return 0;
  return n;
}

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) { return sequence_length(s, i, false); }

// The code point of the sequence of length n at i (already validated).
std::uint32_t decode_sequence(std::string_view s, std::size_t i, std::size_t n) {
  std::uint32_t cp = n == 1 ? std::uint32_t(static_cast<unsigned char>(s[i]))
                            : std::uint32_t(static_cast<unsigned char>(s[i]) & (0x7F >> n));
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

bool is_surrogate(std::uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

// UTF-8 (or, with `surrogates`, WTF-8) to UTF-16; UsageError naming the text when ill-formed.
std::u16string to_utf16(std::string_view s, bool surrogates) {
  std::u16string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = sequence_length(s, i, surrogates);
    if (n == 0) throw UsageError(fmt::format("'{}' is not valid UTF-8", escape_bytes(s)));
    std::uint32_t cp = decode_sequence(s, i, n);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(char16_t(0xD800 + (cp >> 10)));
      out.push_back(char16_t(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(char16_t(cp));
    }
    i += n;
  }
  return out;
}

// UTF-16 to UTF-8, appended to `out`; a lone surrogate becomes U+FFFD, or with `keep` its WTF-8
// three-byte form.
void append_from_utf16(std::string& out, std::u16string_view s, bool keep) {
  out.reserve(out.size() + s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    std::uint32_t cp = s[i];
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < s.size() && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (s[i + 1] - 0xDC00);
      ++i;
    } else if (is_surrogate(cp) && !keep) {
      cp = 0xFFFD;
    }
    append_utf8(out, char32_t(cp));
  }
}

std::string from_utf16(std::u16string_view s, bool keep) {
  std::string out;
  append_from_utf16(out, s, keep);
  return out;
}
}  // namespace

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

std::u16string utf8_to_utf16(std::string_view s) { return to_utf16(s, false); }

std::string utf16_to_utf8(std::u16string_view s) { return from_utf16(s, false); }

void append_utf16_as_utf8(std::string& out, std::u16string_view s) { append_from_utf16(out, s, false); }


bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_or_replacement(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      append_utf8(out, 0xFFFD);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string escape_bytes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto b = static_cast<unsigned char>(c);
    if (b == '\\') out += "\\\\";
    else if (b >= 0x20 && b < 0x7F) out.push_back(c);
    else out += fmt::format("\\x{:02x}", b);
  }
  return out;
}

std::string utf16_to_wtf8(std::u16string_view s) { return from_utf16(s, true); }

std::u16string wtf8_to_utf16(std::string_view s) { return to_utf16(s, true); }

std::string wtf8_for_display(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = sequence_length(s, i, true);
    if (n == 0) {
      append_utf8(out, 0xFFFD);
      ++i;
    } else {
      if (n == 3 && is_surrogate(decode_sequence(s, i, n))) append_utf8(out, 0xFFFD);
      else out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace bootmirror
