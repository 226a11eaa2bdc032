#include "fat/names.h"

#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/error.h"

namespace bootmirror::fat {

namespace {

// The ASCII characters an 8.3 name may hold besides letters and digits (fatgen103 section 6.1).
bool short_char_ok(char16_t c) {
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::u16string_view(u"$%'-_@~`!(){}^#&").find(c) != std::u16string_view::npos;
}

bool is_surrogate(char16_t c) { return c >= 0xD800 && c <= 0xDFFF; }

// The byte that stands for an upper-case character in a short name, nullopt when 8.3 names cannot
// hold it (ASCII outside the allowed set, or a character the code page lacks).
std::optional<std::uint8_t> short_byte(char16_t upper, const OemCodePage& page) {
  if (upper < 0x80) return short_char_ok(upper) ? std::optional<std::uint8_t>(std::uint8_t(upper)) : std::nullopt;
  if (is_surrogate(upper)) return std::nullopt;
  return page.encode(upper);
}

// fatgen103: a name whose first byte really is 0xE5 stores 0x05 there (0xE5 marks a free entry).
void store_first_byte(ShortName& name) {
  if (static_cast<unsigned char>(name[0]) == 0xE5) name[0] = '\x05';
}

}  // namespace

// Windows' upcase table covers all of Unicode; these are the ranges names use in practice
// (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic).
char16_t upcase(char16_t c) {
  if (c >= 'a' && c <= 'z') return char16_t(c - 32);
  if (c < 0xE0) return c;
  if (c <= 0xFE && c != 0xF7) return char16_t(c - 32);
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x17F) {
    bool pairs_even_upper = (c <= 0x137) || (c >= 0x14A && c <= 0x177);
    if (pairs_even_upper) return (c & 1) ? char16_t(c - 1) : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c : char16_t(c - 1);
    return c;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return char16_t(c - 32);
  if (c >= 0x430 && c <= 0x44F) return char16_t(c - 32);
  if (c >= 0x450 && c <= 0x45F) return char16_t(c - 80);
  return c;
}

char16_t downcase(char16_t c) {
  if (c >= 'A' && c <= 'Z') return char16_t(c + 32);
  if (c < 0xC0) return c;
  if (c <= 0xDE && c != 0xD7) return char16_t(c + 32);
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x17F) {
    bool pairs_even_upper = (c <= 0x137) || (c >= 0x14A && c <= 0x177);
    if (pairs_even_upper) return (c & 1) ? c : char16_t(c + 1);
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? char16_t(c + 1) : c;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return char16_t(c + 32);
  if (c >= 0x410 && c <= 0x42F) return char16_t(c + 32);
  if (c >= 0x400 && c <= 0x40F) return char16_t(c + 80);
  return c;
}

std::u16string fold(std::u16string_view name) {
  std::u16string out(name);
  for (char16_t& c : out) c = upcase(c);
  return out;
}

namespace {
// upcase, with ASCII (nearly every name) inline.
char16_t fold_unit(char16_t c) {
  if (c < 0x80) return char16_t(c >= 'a' && c <= 'z' ? c - 32 : c);
  return upcase(c);
}
}  // namespace

std::size_t FoldedHash::operator()(std::u16string_view name) const {
  std::uint64_t hash = 0xCBF29CE484222325ull;  // FNV-1a over the folded code units
  for (char16_t c : name) hash = (hash ^ fold_unit(c)) * 0x100000001B3ull;
  return std::size_t(hash);
}

bool FoldedEqual::operator()(std::u16string_view a, std::u16string_view b) const {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i] && fold_unit(a[i]) != fold_unit(b[i])) return false;
  return true;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  std::string current;
  auto finish = [&] {
    while (!current.empty() && (current.back() == ' ' || current.back() == '.') && current != "." && current != "..")
      current.pop_back();
    if (current.empty() || current == ".") {
    } else if (current == "..") {
      if (!parts.empty()) parts.pop_back();
    } else {
      parts.push_back(current);
    }
    current.clear();
  };
  for (char c : path) {
    if (c == '/' || c == '\\') finish();
    else current.push_back(c);
  }
  finish();
  return parts;
}

std::string join_path(const std::vector<std::string>& parts, char separator) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out.push_back(separator);
    out += p;
  }
  return out;
}

namespace {

// The characters no Windows name holds: controls and *?<>|:/\" (one bit per ASCII character).
constexpr std::uint64_t forbidden_bits(char16_t lo, char16_t hi) {
  std::uint64_t bits = 0;
  for (char c : std::string_view("*?<>|:/\\\""))
    if (char16_t(c) >= lo && char16_t(c) < hi) bits |= std::uint64_t(1) << (char16_t(c) - lo);
  return bits;
}
constexpr std::uint64_t forbidden_low = forbidden_bits(0, 64) | 0xFFFFFFFFull;  // controls below 0x20 too
constexpr std::uint64_t forbidden_high = forbidden_bits(64, 128);

bool forbidden_in_name(char16_t c) {
  if (c < 64) return (forbidden_low >> c) & 1;
  if (c < 128) return (forbidden_high >> (c - 64)) & 1;
  return false;
}

// CON, PRN, AUX, NUL, COM1-9 and LPT1-9, in any case: the part before the first dot.
bool is_device_name(std::u16string_view base) {
  if (base.size() != 3 && base.size() != 4) return false;
  char up[4];
  for (std::size_t i = 0; i < base.size(); ++i) {
    if (base[i] >= 0x80) return false;
    up[i] = char(upcase(base[i]));
  }
  const std::string_view word(up, 3);
  if (base.size() == 3) return word == "CON" || word == "PRN" || word == "AUX" || word == "NUL";
  return (word == "COM" || word == "LPT") && up[3] >= '1' && up[3] <= '9';
}

}  // namespace

void check_long_name(std::u16string_view name) {
  // Called for every name a bulk copy creates: one pass, and the message text only on refusal.
  auto shown = [&] { return wtf8_for_display(utf16_to_wtf8(name)); };
  if (name.empty()) throw UsageError("a file name cannot be empty");
  if (name.size() > 255) throw UsageError(fmt::format("the name '{}' is longer than 255 characters", shown()));
  for (char16_t c : name)
    if (forbidden_in_name(c))
      throw UsageError(fmt::format("the name '{}' contains a character Windows does not allow", shown()));
  // DOS device names, with or without an extension, are not files on Windows.
  if (is_device_name(name.substr(0, name.find(u'.'))))
    throw UsageError(fmt::format("'{}' is a device name on Windows, not a file name", shown()));
}

std::optional<ExactShort> exact_short_name(std::u16string_view name, const OemCodePage& page) {
  std::size_t dot = name.find(u'.');
  if (dot != std::u16string_view::npos && name.find(u'.', dot + 1) != std::u16string_view::npos) return std::nullopt;
  std::u16string_view base = name.substr(0, dot);
  std::u16string_view ext = dot == std::u16string_view::npos ? std::u16string_view{} : name.substr(dot + 1);
  if (base.empty() || base.size() > 8 || ext.size() > 3) return std::nullopt;
  if (dot != std::u16string_view::npos && ext.empty()) return std::nullopt;
  ExactShort r;
  r.name.fill(' ');
  auto part = [&](std::u16string_view p, std::size_t at, std::uint8_t lower_flag) -> bool {
    bool any_lower = false, any_upper = false;
    for (std::size_t i = 0; i < p.size(); ++i) {
      char16_t c = p[i], u = upcase(c);
      std::optional<std::uint8_t> byte = short_byte(u, page);
      if (!byte) return false;
      if (u != c) any_lower = true;
      else if (downcase(c) != c) any_upper = true;
      r.name[at + i] = char(*byte);
    }
    if (any_lower && any_upper) r.needs_long_name = true;
    else if (any_lower) r.case_flags |= lower_flag;
    return true;
  };
  if (!part(base, 0, 0x08) || !part(ext, 8, 0x10)) return std::nullopt;
  store_first_byte(r.name);
  // The short name alone must show exactly the name given; otherwise a long name keeps it.
  if (!r.needs_long_name && short_name_text(r.name, r.case_flags, page) != name) r.needs_long_name = true;
  return r;
}

ShortName generate_short_name(std::u16string_view long_name, const std::function<bool(const ShortName&)>& taken,
                              const OemCodePage& page) {
  if (auto exact = exact_short_name(long_name, page); exact && !taken(exact->name)) return exact->name;
  return numbered_short_name(long_name, taken, page);
}

ShortName numbered_short_name(std::u16string_view long_name, const std::function<bool(const ShortName&)>& taken,
                              const OemCodePage& page) {
  // Spaces and leading dots go; the extension is what follows the last dot. (Every name of a bulk
  // copy may come here: no allocation and no formatting below.)
  std::u16string_view rest = long_name;
  const std::size_t lead = rest.find_first_not_of(u". ");
  rest = lead == std::u16string_view::npos ? std::u16string_view{} : rest.substr(lead);
  const std::size_t dot = rest.rfind(u'.');
  const std::u16string_view base = rest.substr(0, dot);
  const std::u16string_view ext = dot == std::u16string_view::npos ? std::u16string_view{} : rest.substr(dot + 1);
  auto convert = [&](std::u16string_view in, char* out, std::size_t limit) {
    std::size_t n = 0;
    for (char16_t c : in) {
      if (c == u'.' || c == u' ') continue;
      std::optional<std::uint8_t> byte = short_byte(upcase(c), page);
      out[n++] = byte ? char(*byte) : '_';
      if (n == limit) break;
    }
    return n;
  };
  char b[8], e[3];
  std::size_t b_len = convert(base, b, 8);
  const std::size_t e_len = convert(ext, e, 3);
  if (b_len == 0) b[b_len++] = '_';
  // The stem's first `keep` characters, then `tail`, then the extension.
  auto make = [&](std::size_t keep, std::string_view tail) {
    ShortName s;
    s.fill(' ');
    const std::size_t k = std::min(keep, b_len);
    std::copy_n(b, k, s.begin());
    std::copy(tail.begin(), tail.end(), s.begin() + std::ptrdiff_t(k));
    std::copy_n(e, e_len, s.begin() + 8);
    store_first_byte(s);
    return s;
  };
  // As Windows does: "~1" to "~4" on the basis, then the first two characters, four hex digits
  // from a hash of the long name and "~1".."~9", so that a folder of many similar names costs a
  // few tries per name, not one per earlier name.
  for (char n = '1'; n <= '4'; ++n) {
    const char tail[2] = {'~', n};
    ShortName s = make(6, std::string_view(tail, 2));
    if (!taken(s)) return s;
  }
  std::uint32_t hash = 0x811C9DC5;  // FNV-1a over the UTF-16 code units
  for (char16_t c : long_name) hash = (hash ^ c) * 0x01000193;
  static constexpr char hex[] = "0123456789ABCDEF";
  for (std::uint32_t round = 0; round < 0x10000; ++round) {
    const std::uint32_t h = (hash + round) & 0xFFFF;
    char tail[6] = {hex[h >> 12], hex[(h >> 8) & 15], hex[(h >> 4) & 15], hex[h & 15], '~', '1'};
    for (char n = '1'; n <= '9'; ++n) {
      tail[5] = n;
      ShortName s = make(2, std::string_view(tail, 6));
      if (!taken(s)) return s;
    }
  }
  throw UsageError(fmt::format("no short name is left for '{}'", wtf8_for_display(utf16_to_wtf8(long_name))));
}

std::u16string short_name_text(const ShortName& name, std::uint8_t case_flags, const OemCodePage& page) {
  std::size_t base_len = 8, ext_len = 3;
  while (base_len && name[base_len - 1] == ' ') --base_len;
  while (ext_len && name[8 + ext_len - 1] == ' ') --ext_len;
  std::u16string out;
  out.reserve(base_len + ext_len + 1);
  auto put = [&](std::size_t i, bool lower) {
    auto byte = static_cast<unsigned char>(name[i]);
    if (i == 0 && byte == 0x05) byte = 0xE5;
    char16_t c = page.decode(byte);
    out.push_back(lower ? downcase(c) : c);
  };
  for (std::size_t i = 0; i < base_len; ++i) put(i, case_flags & 0x08);
  if (ext_len) {
    out.push_back(u'.');
    for (std::size_t i = 8; i < 8 + ext_len; ++i) put(i, case_flags & 0x10);
  }
  return out;
}

std::string display_short_name(const ShortName& name, std::uint8_t case_flags, const OemCodePage& page) {
  return utf16_to_wtf8(short_name_text(name, case_flags, page));
}

bool valid_short_name(const ShortName& name) {
  // fsck.fat's rule: no control characters (0x05 first stands for 0xE5), no DEL, no '.', none of
  // the characters Windows forbids in any name; a name does not start with a space.
  if (name[0] == ' ') return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if ((c < 0x20 && !(c == 0x05 && i == 0)) || c == 0x7F) return false;
    if (std::string_view("*?<>|\"/\\:.").find(char(c)) != std::string_view::npos) return false;
  }
  return true;
}

std::uint8_t lfn_checksum(const ShortName& name) {
  std::uint8_t sum = 0;
  for (char c : name) sum = std::uint8_t(((sum & 1) ? 0x80 : 0) + (sum >> 1) + static_cast<unsigned char>(c));
  return sum;
}

ShortName encode_label(std::string_view text, const OemCodePage& page) {
  std::u16string wide = wtf8_to_utf16(text);
  // Surrounding spaces are not part of a label (fsck.fat refuses a leading one; trailing ones pad).
  std::size_t lead = wide.find_first_not_of(u' '), tail = wide.find_last_not_of(u' ');
  wide = lead == std::u16string::npos ? std::u16string() : wide.substr(lead, tail - lead + 1);
  std::string shown = wtf8_for_display(text);
  ShortName out;
  out.fill(' ');
  std::size_t n = 0;
  for (char16_t c : wide) {
    char16_t u = upcase(c);
    if (u < 0x20 || std::u16string_view(u"*?<>|\"/\\:.+,;=[]").find(u) != std::u16string_view::npos)
      throw UsageError(fmt::format("the label '{}' has characters a label cannot hold", shown));
    std::optional<std::uint8_t> byte = u < 0x80 ? std::optional<std::uint8_t>(std::uint8_t(u))
                                      : is_surrogate(u) ? std::nullopt : page.encode(u);
    if (!byte)
      throw UsageError(fmt::format("the label '{}' has characters code page {} cannot hold", shown, page.name()));
    if (n == out.size()) throw UsageError(fmt::format("the label '{}' is longer than 11 characters", shown));
    out[n++] = char(*byte);
  }
  store_first_byte(out);
  return out;
}

bool is_no_label(const ShortName& label) {
  return std::all_of(label.begin(), label.end(), [](char c) { return c == ' '; });
}

std::string decode_label(std::string_view raw, const OemCodePage& page) {
  std::size_t n = raw.size();
  while (n && (raw[n - 1] == ' ' || raw[n - 1] == '\0')) --n;
  std::u16string wide;
  for (std::size_t i = 0; i < n; ++i) {
    auto byte = static_cast<unsigned char>(raw[i]);
    wide.push_back(page.decode(i == 0 && byte == 0x05 ? 0xE5 : byte));
  }
  return utf16_to_wtf8(wide);
}

}  // namespace bootmirror::fat
