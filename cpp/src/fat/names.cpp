#include "fat/names.h"

#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/error.h"

namespace bootmirror::fat {

namespace {

bool short_char_ok(char16_t c) {
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::u16string_view(u"$%'-_@~`!(){}^#&").find(c) != std::u16string_view::npos;
}

bool is_lower(char16_t c) { return c != upcase(c); }
bool is_upper(char16_t c) { return c >= 'A' && c <= 'Z'; }

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

std::u16string fold(std::u16string_view name) {
  std::u16string out(name);
  for (char16_t& c : out) c = upcase(c);
  return out;
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

void check_long_name(std::u16string_view name) {
  std::string shown = utf16_to_utf8(name);
  if (name.empty()) throw UsageError("a file name cannot be empty");
  if (name.size() > 255) throw UsageError(fmt::format("the name '{}' is longer than 255 characters", shown));
  for (char16_t c : name)
    if (c < 0x20 || std::u16string_view(u"*?<>|:/\\\"").find(c) != std::u16string_view::npos)
      throw UsageError(fmt::format("the name '{}' contains a character Windows does not allow", shown));
  // DOS device names, with or without an extension, are not files on Windows.
  std::u16string base = fold(name.substr(0, name.find(u'.')));
  static const char16_t* devices[] = {u"CON", u"PRN", u"AUX", u"NUL"};
  bool device = std::any_of(std::begin(devices), std::end(devices), [&](const char16_t* d) { return base == d; });
  if (base.size() == 4 && (base.starts_with(u"COM") || base.starts_with(u"LPT")) && base[3] >= '1' && base[3] <= '9')
    device = true;
  if (device) throw UsageError(fmt::format("'{}' is a device name on Windows, not a file name", shown));
}

std::optional<ExactShort> exact_short_name(std::u16string_view name) {
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
      char16_t c = p[i];
      char16_t u = c < 0x80 ? upcase(c) : c;
      if (!short_char_ok(u)) return false;
      if (is_lower(c)) any_lower = true;
      if (is_upper(c)) any_upper = true;
      r.name[at + i] = char(u);
    }
    if (any_lower && any_upper) r.needs_long_name = true;
    else if (any_lower) r.case_flags |= lower_flag;
    return true;
  };
  if (!part(base, 0, 0x08) || !part(ext, 8, 0x10)) return std::nullopt;
  return r;
}

ShortName generate_short_name(std::u16string_view long_name, const std::function<bool(const ShortName&)>& taken) {
  if (auto exact = exact_short_name(long_name); exact && !taken(exact->name)) return exact->name;
  std::u16string name(long_name);
  name.erase(std::remove(name.begin(), name.end(), u' '), name.end());
  std::size_t lead = name.find_first_not_of(u'.');
  name = lead == std::u16string::npos ? u"" : name.substr(lead);
  std::size_t dot = name.rfind(u'.');
  std::u16string base = name.substr(0, dot);
  std::u16string ext = dot == std::u16string::npos ? u"" : name.substr(dot + 1);
  auto convert = [](std::u16string_view in, std::size_t limit) {
    std::string out;
    for (char16_t c : in) {
      if (c == u'.') continue;
      char16_t u = upcase(c);
      out.push_back(u < 0x80 && short_char_ok(u) ? char(u) : '_');
      if (out.size() == limit) break;
    }
    return out;
  };
  std::string b = convert(base, 8), e = convert(ext, 3);
  if (b.empty()) b.assign(1, '_');
  auto make = [&](const std::string& stem) {
    ShortName s;
    s.fill(' ');
    std::copy(stem.begin(), stem.end(), s.begin());
    std::copy(e.begin(), e.end(), s.begin() + 8);
    return s;
  };
  // As Windows does: "~1" to "~4" on the basis, then the first two characters, four hex digits
  // from a hash of the long name and "~1".."~9", so that a folder of many similar names costs a
  // few tries per name, not one per earlier name.
  for (std::uint32_t n = 1; n <= 4; ++n) {
    ShortName s = make(b.substr(0, 6) + fmt::format("~{}", n));
    if (!taken(s)) return s;
  }
  std::uint32_t hash = 0x811C9DC5;  // FNV-1a over the UTF-16 code units
  for (char16_t c : long_name) hash = (hash ^ c) * 0x01000193;
  for (std::uint32_t round = 0; round < 0x10000; ++round) {
    std::string stem = b.substr(0, 2) + fmt::format("{:04X}", (hash + round) & 0xFFFF);
    for (std::uint32_t n = 1; n <= 9; ++n) {
      ShortName s = make(stem + fmt::format("~{}", n));
      if (!taken(s)) return s;
    }
  }
  throw UsageError(fmt::format("no short name is left for '{}'", utf16_to_utf8(long_name)));
}

std::string display_short_name(const ShortName& name, std::uint8_t case_flags) {
  std::string base(name.begin(), name.begin() + 8), ext(name.begin() + 8, name.end());
  while (!base.empty() && base.back() == ' ') base.pop_back();
  while (!ext.empty() && ext.back() == ' ') ext.pop_back();
  if (!base.empty() && base[0] == '\x05') base[0] = char(0xE5);
  auto lower = [](std::string& s) {
    for (char& c : s)
      if (c >= 'A' && c <= 'Z') c = char(c + 32);
  };
  if (case_flags & 0x08) lower(base);
  if (case_flags & 0x10) lower(ext);
  std::string out = base;
  if (!ext.empty()) out += "." + ext;
  // Bytes above 0x7F are OEM code page 437 on disk; show them as Latin-1 so the result is UTF-8.
  std::u16string wide(out.begin(), out.end());
  for (auto& c : wide) c = char16_t(static_cast<unsigned char>(c));
  return utf16_to_utf8(wide);
}

bool valid_short_name(const ShortName& name) {
  if (name[0] == ' ') return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 && !(c == 0x05 && i == 0)) return false;
    if (std::string_view("*?<>|\"/\\:").find(char(c)) != std::string_view::npos) return false;
  }
  return true;
}

std::uint8_t lfn_checksum(const ShortName& name) {
  std::uint8_t sum = 0;
  for (char c : name) sum = std::uint8_t(((sum & 1) ? 0x80 : 0) + (sum >> 1) + static_cast<unsigned char>(c));
  return sum;
}

}  // namespace bootmirror::fat
