// GUIDs as 16 bytes in RFC 4122 order (the order of the printed string). On-disk forms differ:
// UEFI (GPT, device paths, NVRAM) stores the first three fields little-endian ("mixed endian"),
// while LDM stores volume GUIDs in RFC order and most others as 36-character ASCII.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "bootmirror/bytes.h"

namespace bootmirror {

class Guid {
 public:
  constexpr Guid() = default;
  explicit Guid(const std::array<std::byte, 16>& rfc_bytes) : bytes_(rfc_bytes) {}

  // Accepts "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", with or without braces, any case.
  static Guid parse(std::string_view text);
  static bool is_valid(std::string_view text);

  static Guid from_rfc_bytes(ByteSpan sixteen_bytes);
  static Guid from_uefi_bytes(ByteSpan sixteen_bytes);
  void store_rfc_bytes(MutableByteSpan out) const;
  void store_uefi_bytes(MutableByteSpan out) const;

  std::string to_string() const;  // lowercase, no braces
  const std::array<std::byte, 16>& rfc_bytes() const { return bytes_; }
  bool is_nil() const;

  // memcmp, not the defaulted member-wise forms: std::byte is an enum, so std::array's == and <=>
  // compare it a byte at a time (a GPT read compares 256 GUIDs; memcmp orders bytes as unsigned
  // char, the order std::byte compares in).
  bool operator==(const Guid& o) const { return std::memcmp(bytes_.data(), o.bytes_.data(), 16) == 0; }
  std::strong_ordering operator<=>(const Guid& o) const {
    return std::memcmp(bytes_.data(), o.bytes_.data(), 16) <=> 0;
  }

 private:
  std::array<std::byte, 16> bytes_{};
};

}  // namespace bootmirror
