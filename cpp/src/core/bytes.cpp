#include "bootmirror/bytes.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace bootmirror {

namespace detail {
void throw_field_out_of_range(std::size_t offset, std::size_t width, std::size_t size) {
  throw FormatError(fmt::format("field of {} bytes at offset {} runs past the end of a {}-byte structure",
                                width, offset, size));
}
}  // namespace detail

namespace {
void check_window(std::size_t size, std::size_t offset, std::size_t length) {
  if (offset > size || size - offset < length) detail::throw_field_out_of_range(offset, length, size);
}
}  // namespace

ByteSpan subspan(ByteSpan bytes, std::size_t offset, std::size_t length) {
  check_window(bytes.size(), offset, length);
  return bytes.subspan(offset, length);
}

MutableByteSpan subspan(MutableByteSpan bytes, std::size_t offset, std::size_t length) {
  check_window(bytes.size(), offset, length);
  return bytes.subspan(offset, length);
}

std::string load_ascii(ByteSpan bytes, std::size_t offset, std::size_t width) {
  auto field = subspan(bytes, offset, width);
  // Fixed-width text fields end at the first NUL; the string is made at that length, so that a
  // short name in a wide field stays in the string's own storage.
  const char* text = reinterpret_cast<const char*>(field.data());
  const void* nul = std::memchr(text, 0, field.size());
  return std::string(text, nul ? static_cast<const char*>(nul) - text : field.size());
}

void store_ascii(MutableByteSpan bytes, std::size_t offset, std::size_t width, std::string_view text) {
  auto field = subspan(bytes, offset, width);
  std::fill(field.begin(), field.end(), std::byte{0});
  std::copy_n(reinterpret_cast<const std::byte*>(text.data()), std::min(text.size(), width), field.begin());
}

bool matches_ascii(ByteSpan bytes, std::size_t offset, std::string_view signature) {
  if (offset > bytes.size() || bytes.size() - offset < signature.size()) return false;
  return std::memcmp(bytes.data() + offset, signature.data(), signature.size()) == 0;
}

bool is_all_zero(ByteSpan bytes) {
  // Eight bytes at a time (GPT arrays, directory tails and sectors are mostly zeros).
  const std::byte* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t any = 0;
  for (; n >= 32; p += 32, n -= 32) {
    std::uint64_t w[4];
    std::memcpy(w, p, sizeof w);
    if ((w[0] | w[1] | w[2] | w[3]) != 0) return false;
  }
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    any |= w;
  }
  for (; n; --n, ++p) any |= std::to_integer<std::uint64_t>(*p);
  return any == 0;
}

}  // namespace bootmirror
