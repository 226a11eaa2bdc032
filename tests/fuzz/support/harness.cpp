#include "support/harness.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bootmirror/identity.h"

namespace bootmirror::fuzz {

void broken(std::string_view invariant) {
  std::fprintf(stderr, "fuzz invariant broken: %.*s\n", int(invariant.size()), invariant.data());
  std::fflush(stderr);
  std::abort();
}

bool same_bytes(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

bool all_zero(ByteSpan bytes) {
  static const std::byte zeros[4096] = {};
  for (std::size_t at = 0; at < bytes.size(); at += sizeof zeros) {
    const std::size_t n = std::min(sizeof zeros, bytes.size() - at);
    if (std::memcmp(bytes.data() + at, zeros, n) != 0) return false;
  }
  return true;
}

void deterministic() {
  // 2023-11-14 22:13:20 UTC; any fixed values do.
  IdentitySource::configure({0xF022, 1700000000});
}

std::uint8_t Input::u8() {
  ByteSpan b = take(1);
  return b.empty() ? 0 : std::to_integer<std::uint8_t>(b[0]);
}

std::uint16_t Input::u16() {
  std::uint16_t lo = u8();
  return std::uint16_t(lo | std::uint16_t(u8()) << 8);
}

std::uint32_t Input::u32() {
  std::uint32_t lo = u16();
  return lo | std::uint32_t(u16()) << 16;
}

ByteSpan Input::take(std::size_t n) {
  n = std::min(n, remaining());
  ByteSpan out = bytes_.subspan(pos_, n);
  pos_ += n;
  return out;
}

}  // namespace bootmirror::fuzz
