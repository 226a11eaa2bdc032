#include "bootmirror/bytes.h"

#include <algorithm>

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
  std::string text(reinterpret_cast<const char*>(field.data()), field.size());
  // Fixed-width text fields end at the first NUL.
  if (auto nul = text.find('\0'); nul != std::string::npos) text.resize(nul);
  return text;
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
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace bootmirror
