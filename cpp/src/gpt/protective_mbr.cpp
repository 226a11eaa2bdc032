#include <algorithm>

#include "gpt/codec.h"

namespace bootmirror::gpt::codec {

namespace {
constexpr std::size_t kRecord = 446;
constexpr std::size_t kRecordSize = 16;

std::uint32_t protective_size(std::uint64_t sector_count) {
  return std::uint32_t(std::min<std::uint64_t>(sector_count - 1, 0xFFFFFFFFu));
}
}  // namespace

bool is_protective_mbr(ByteSpan block0, std::uint64_t sector_count) {
  if (block0.size() < 512 || load_le<std::uint16_t>(block0, 510) != 0xAA55) return false;
  for (int i = 0; i < 4; ++i) {
    ByteSpan record = block0.subspan(kRecord + i * kRecordSize, kRecordSize);
    if (std::to_integer<std::uint8_t>(record[4]) == 0xEE)
      return load_le<std::uint32_t>(record, 8) == 1 && load_le<std::uint32_t>(record, 12) == protective_size(sector_count);
  }
  return false;
}

ByteVector encode_protective_mbr(ByteSpan block0, std::uint64_t sector_count) {
  ByteVector out(block0.begin(), block0.end());
  std::fill(out.begin() + 440, out.begin() + 510, std::byte{0});
  MutableByteSpan record = MutableByteSpan(out).subspan(kRecord, kRecordSize);
  record[0] = std::byte{0x00};  // not bootable
  record[1] = std::byte{0x00};  // starting CHS 0/0/2: LBA 1
  record[2] = std::byte{0x02};
  record[3] = std::byte{0x00};
  record[4] = std::byte{0xEE};  // GPT protective
  record[5] = record[6] = record[7] = std::byte{0xFF};  // ending CHS: beyond CHS addressing
  store_le<std::uint32_t>(record, 8, 1);
  store_le<std::uint32_t>(record, 12, protective_size(sector_count));
  store_le<std::uint16_t>(out, 510, 0xAA55);
  return out;
}

bool has_mbr_partitions(ByteSpan block0) {
  if (block0.size() < 512 || load_le<std::uint16_t>(block0, 510) != 0xAA55) return false;
  for (int i = 0; i < 4; ++i) {
    ByteSpan record = block0.subspan(kRecord + i * kRecordSize, kRecordSize);
    if (std::to_integer<std::uint8_t>(record[4]) != 0 && load_le<std::uint32_t>(record, 12) != 0) return true;
  }
  return false;
}

}  // namespace bootmirror::gpt::codec
