#include "fat/oem_codepage.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bootmirror/error.h"
#include "bootmirror/unicode.h"

namespace bootmirror::fat {

namespace {

// "CP850", "850", "ibm850", "cp-850" -> "cp850".
std::string canonical(std::string_view name) {
  std::string s;
  for (char c : name)
    if (c != '-' && c != '_' && c != ' ') s.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  if (s.starts_with("ibm")) s = "cp" + s.substr(3);
  else if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) s = "cp" + s;
  return s;
}

}  // namespace

OemCodePage::OemCodePage(const OemTable& table) : table_(&table) {
  // Only defined bytes: a new name never gets a byte the page leaves undefined.
  for (std::size_t i = 0; i < 128; ++i)
    if (table.high[i]) reverse_.emplace_back(table.high[i], std::uint8_t(0x80 + i));
  std::sort(reverse_.begin(), reverse_.end());
}

const std::vector<OemCodePage>& OemCodePage::all() {
  static const std::vector<OemCodePage> pages = [] {
    std::vector<OemCodePage> v;
    for (const OemTable& t : oem_tables) v.push_back(OemCodePage(t));
    return v;
  }();
  return pages;
}

const OemCodePage& OemCodePage::named(std::string_view name) {
  std::string wanted = canonical(name);
  for (const OemCodePage& page : all())
    if (page.name() == wanted) return page;
  throw UsageError(fmt::format("unknown OEM code page '{}' (supported: {})", escape_bytes(name),
                               fmt::join(names(), ", ")));
}

const OemCodePage& OemCodePage::default_page() { return all().front(); }

std::vector<std::string> OemCodePage::names() {
  std::vector<std::string> out;
  for (const OemCodePage& page : all()) out.emplace_back(page.name());
  return out;
}

std::optional<std::uint8_t> OemCodePage::encode(char16_t c) const {
  if (c < 0x80) return std::uint8_t(c);
  auto it = std::lower_bound(reverse_.begin(), reverse_.end(), std::pair<char16_t, std::uint8_t>{c, 0});
  if (it == reverse_.end() || it->first != c) return std::nullopt;
  return it->second;
}

}  // namespace bootmirror::fat
