// Explicit little- and big-endian field codecs for on-disk structures. Every structure is decoded
// field by field from a byte span (never by casting packed structs over a buffer). Offsets are
// checked against the span: reading past its end is a FormatError, not undefined behaviour.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "bootmirror/error.h"

namespace bootmirror {

using ByteSpan = std::span<const std::byte>;
using MutableByteSpan = std::span<std::byte>;
using ByteVector = std::vector<std::byte>;

namespace detail {
[[noreturn]] void throw_field_out_of_range(std::size_t offset, std::size_t width, std::size_t size);

template <typename T>
T load_raw(ByteSpan bytes, std::size_t offset) {
  static_assert(std::is_integral_v<T>);
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T))
    throw_field_out_of_range(offset, sizeof(T), bytes.size());
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

template <typename T>
void store_raw(MutableByteSpan bytes, std::size_t offset, T value) {
  static_assert(std::is_integral_v<T>);
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T))
    throw_field_out_of_range(offset, sizeof(T), bytes.size());
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

// std::byteswap is C++23; gcc 12 serves C++20.
template <typename T>
T byteswap(T value) {
  if constexpr (sizeof(T) == 1) return value;
  else if constexpr (sizeof(T) == 2) return T(__builtin_bswap16(std::uint16_t(value)));
  else if constexpr (sizeof(T) == 4) return T(__builtin_bswap32(std::uint32_t(value)));
  else return T(__builtin_bswap64(std::uint64_t(value)));
}

template <typename T>
T to_little(T value) {
  if constexpr (std::endian::native == std::endian::little) return value;
  else return byteswap(value);
}

template <typename T>
T to_big(T value) {
  if constexpr (std::endian::native == std::endian::big) return value;
  else return byteswap(value);
}
}  // namespace detail

template <typename T>
T load_le(ByteSpan bytes, std::size_t offset) {
  return detail::to_little(detail::load_raw<T>(bytes, offset));
}
template <typename T>
T load_be(ByteSpan bytes, std::size_t offset) {
  return detail::to_big(detail::load_raw<T>(bytes, offset));
}
template <typename T>
void store_le(MutableByteSpan bytes, std::size_t offset, T value) {
  detail::store_raw<T>(bytes, offset, detail::to_little(value));
}
template <typename T>
void store_be(MutableByteSpan bytes, std::size_t offset, T value) {
  detail::store_raw<T>(bytes, offset, detail::to_big(value));
}

// A checked sub-span: [offset, offset+length) must lie inside `bytes`.
ByteSpan subspan(ByteSpan bytes, std::size_t offset, std::size_t length);
MutableByteSpan subspan(MutableByteSpan bytes, std::size_t offset, std::size_t length);

// Fixed-width ASCII fields (signatures, names padded with NULs or spaces).
std::string load_ascii(ByteSpan bytes, std::size_t offset, std::size_t width);
void store_ascii(MutableByteSpan bytes, std::size_t offset, std::size_t width, std::string_view text);
bool matches_ascii(ByteSpan bytes, std::size_t offset, std::string_view signature);

inline ByteSpan as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

bool is_all_zero(ByteSpan bytes);

// Sums and products of on-disk sizes, which may claim anything: past the top they stay at the top.
constexpr std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > std::numeric_limits<std::uint64_t>::max() - a ? std::numeric_limits<std::uint64_t>::max() : a + b;
}
constexpr std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  return a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a ? std::numeric_limits<std::uint64_t>::max() : a * b;
}

}  // namespace bootmirror
