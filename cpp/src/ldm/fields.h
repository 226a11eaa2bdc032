// Reading and writing LDM's variable-length fields: a "var int" is a length byte L followed by L
// big-endian bytes; a "var string" is a length byte followed by that many bytes, no NUL.
// Sources: Linux block/partitions/ldm.c ldm_get_vnum/ldm_get_vstr (L = 0 or L > 8 is "Illegal
// length"); libldm src/ldm.c PARSE_VAR_INT (L larger than the destination, 4 for 32-bit ids and
// counts, 8 for sizes, is an error). Windows writes the minimal length (checked on the 2003 R2 and
// 2008 R2 images: 02 04 43, 01 02, 03 01 78 00).
#pragma once

#include <cstdint>
#include <string>

#include "bootmirror/bytes.h"

namespace bootmirror::ldm::detail {

// A cursor over one record's bytes. Every read is bounds-checked; errors name the record, the
// field and the device byte offset of the field.
class FieldReader {
 public:
  FieldReader(ByteSpan bytes, std::uint64_t device_offset, std::string what)
      : bytes_(bytes), device_offset_(device_offset), what_(std::move(what)) {}

  std::uint64_t var_int(const char* field, unsigned max_length);
  std::uint32_t var_u32(const char* field) { return std::uint32_t(var_int(field, 4)); }
  std::uint64_t var_u64(const char* field) { return var_int(field, 8); }
  std::string var_string(const char* field);
  std::uint8_t u8(const char* field);
  std::uint64_t be64(const char* field);
  ByteSpan raw(std::size_t length, const char* field);
  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  [[noreturn]] void fail(const std::string& message) const;

 private:
  void need(std::size_t length, const char* field) const;
  ByteSpan bytes_;
  std::size_t pos_ = 0;
  std::uint64_t device_offset_;
  std::string what_;
};

class FieldWriter {
 public:
  void var_int(std::uint64_t value);
  void var_string(std::string_view text);
  void u8(std::uint8_t value) { out_.push_back(std::byte(value)); }
  void be64(std::uint64_t value);
  void be32(std::uint32_t value);
  void raw(ByteSpan bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
  void zeros(std::size_t n) { out_.insert(out_.end(), n, std::byte{0}); }
  const ByteVector& bytes() const { return out_; }
  ByteVector take() { return std::move(out_); }

 private:
  ByteVector out_;
};

}  // namespace bootmirror::ldm::detail
