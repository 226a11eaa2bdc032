#include "ldm/fields.h"

#include <fmt/format.h>

namespace bootmirror::ldm::detail {

void FieldReader::fail(const std::string& message) const {
  throw FormatError(fmt::format("LDM {}: {}", what_, message), device_offset_ + pos_);
}

void FieldReader::need(std::size_t length, const char* field) const {
  if (remaining() < length)
    fail(fmt::format("field '{}' needs {} bytes but the record has {} left", field, length, remaining()));
}

std::uint64_t FieldReader::var_int(const char* field, unsigned max_length) {
  need(1, field);
  unsigned length = unsigned(bytes_[pos_]);
  if (length == 0 || length > max_length)
    fail(fmt::format("variable-length number '{}' has length {}, expected 1 to {}", field, length, max_length));
  need(1 + length, field);
  std::uint64_t value = 0;
  for (unsigned i = 1; i <= length; ++i) value = (value << 8) | std::uint64_t(bytes_[pos_ + i]);
  pos_ += 1 + length;
  return value;
}

std::string FieldReader::var_string(const char* field) {
  need(1, field);
  std::size_t length = std::size_t(bytes_[pos_]);
  need(1 + length, field);
  std::string text(reinterpret_cast<const char*>(bytes_.data() + pos_ + 1), length);
  pos_ += 1 + length;
  return text;
}

std::uint8_t FieldReader::u8(const char* field) {
  need(1, field);
  return std::uint8_t(bytes_[pos_++]);
}

std::uint64_t FieldReader::be64(const char* field) {
  need(8, field);
  std::uint64_t value = load_be<std::uint64_t>(bytes_, pos_);
  pos_ += 8;
  return value;
}

ByteSpan FieldReader::raw(std::size_t length, const char* field) {
  need(length, field);
  ByteSpan out = bytes_.subspan(pos_, length);
  pos_ += length;
  return out;
}

void FieldWriter::var_int(std::uint64_t value) {
  unsigned length = 1;
  while (length < 8 && (value >> (8 * length)) != 0) ++length;
  u8(std::uint8_t(length));
  for (unsigned i = length; i-- > 0;) u8(std::uint8_t(value >> (8 * i)));
}

void FieldWriter::var_string(std::string_view text) {
  if (text.size() > 255) throw UsageError(fmt::format("LDM names are at most 255 bytes: '{}'", text));
  u8(std::uint8_t(text.size()));
  raw(as_bytes(text));
}

void FieldWriter::be64(std::uint64_t value) {
  std::byte b[8];
  store_be<std::uint64_t>(b, 0, value);
  raw(b);
}

void FieldWriter::be32(std::uint32_t value) {
  std::byte b[4];
  store_be<std::uint32_t>(b, 0, value);
  raw(b);
}

}  // namespace bootmirror::ldm::detail
