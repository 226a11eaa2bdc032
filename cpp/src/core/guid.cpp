#include "bootmirror/guid.h"

#include <algorithm>

#include <fmt/format.h>

namespace bootmirror {

namespace {
// Canonical text: 8-4-4-4-12 hex digits. Where each byte's two digits start, in text order; the
// dashes sit at 8, 13, 18 and 23. (LDM headers hold their GUIDs as this text: a scan of a
// machine's disks decodes a few hundred.)
constexpr std::size_t kDigitPairs[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};

std::string_view strip_braces(std::string_view text) {
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') return text.substr(1, 36);
  return text;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(std::string_view text, std::array<std::byte, 16>& out) {
  text = strip_braces(text);
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') return false;
  for (std::size_t byte = 0; byte < 16; ++byte) {
    const int hi = hex_value(text[kDigitPairs[byte]]), lo = hex_value(text[kDigitPairs[byte] + 1]);
    if (hi < 0 || lo < 0) return false;
    out[byte] = std::byte(hi * 16 + lo);
  }
  return true;
}

// UEFI's EFI_GUID: Data1 (u32), Data2 (u16), Data3 (u16) little-endian, Data4 as bytes.
constexpr std::size_t kUefiOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
}  // namespace

Guid Guid::parse(std::string_view text) {
  std::array<std::byte, 16> bytes{};
  if (!decode(text, bytes)) throw UsageError(fmt::format("'{}' is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", text));
  return Guid(bytes);
}

bool Guid::is_valid(std::string_view text) {
  std::array<std::byte, 16> bytes{};
  return decode(text, bytes);
}

Guid Guid::from_rfc_bytes(ByteSpan sixteen_bytes) {
  auto field = subspan(sixteen_bytes, 0, 16);
  std::array<std::byte, 16> bytes{};
  std::copy(field.begin(), field.end(), bytes.begin());
  return Guid(bytes);
}

Guid Guid::from_uefi_bytes(ByteSpan sixteen_bytes) {
  auto field = subspan(sixteen_bytes, 0, 16);
  std::array<std::byte, 16> bytes{};
  for (std::size_t i = 0; i < 16; ++i) bytes[i] = field[kUefiOrder[i]];
  return Guid(bytes);
}

void Guid::store_rfc_bytes(MutableByteSpan out) const {
  auto field = subspan(out, 0, 16);
  std::copy(bytes_.begin(), bytes_.end(), field.begin());
}

void Guid::store_uefi_bytes(MutableByteSpan out) const {
  auto field = subspan(out, 0, 16);
  for (std::size_t i = 0; i < 16; ++i) field[kUefiOrder[i]] = bytes_[i];
}

std::string Guid::to_string() const {
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
    text += fmt::format("{:02x}", static_cast<unsigned>(bytes_[i]));
  }
  return text;
}

bool Guid::is_nil() const { return is_all_zero(bytes_); }

}  // namespace bootmirror
