// Update sequences and FILE record headers (see record.h for the field tables and sources).
#include "ntfs/record.h"

#include <cstring>

#include <fmt/format.h>

namespace bootmirror::ntfs {

void apply_fixups(MutableByteSpan record, const char (&magic)[5], std::uint64_t base) {
  if (record.size() < kFixupStride || record.size() % kFixupStride != 0)
    throw FormatError(fmt::format("{} record of {} bytes is not whole 512-byte strides", magic, record.size()), base);
  if (std::memcmp(record.data(), magic, 4) != 0) throw FormatError(fmt::format("not a {} record", magic), base);
  const std::uint16_t offset = load_le<std::uint16_t>(record, 4), count = load_le<std::uint16_t>(record, 6);
  const std::size_t strides = record.size() / kFixupStride;
  if (count != strides + 1)
    throw FormatError(fmt::format("{} record: update sequence of {} entries for {} strides", magic, count, strides), base + 6);
  // The array lies in the first stride, after the magic and its own two fields, and before the
  // stride's last two bytes (which it replaces).
  if (offset < 8 || offset % 2 != 0 || std::size_t(offset) + 2u * count > kFixupStride - 2)
    throw FormatError(fmt::format("{} record: update sequence at offset {} does not fit", magic, offset), base + 4);
  const std::uint16_t usn = load_le<std::uint16_t>(record, offset);
  for (std::size_t i = 0; i < strides; ++i) {
    const std::size_t end = (i + 1) * kFixupStride - 2;
    if (load_le<std::uint16_t>(record, end) != usn)
      throw FormatError(fmt::format("{} record: stride {} was torn (its end is not the update sequence number)", magic, i),
                        base + end);
    store_le<std::uint16_t>(record, end, load_le<std::uint16_t>(record, offset + 2 * (i + 1)));
  }
}

RecordHeader RecordHeader::decode(ByteSpan record, std::uint64_t base) {
  RecordHeader h;
  h.sequence = load_le<std::uint16_t>(record, 16);
  h.link_count = load_le<std::uint16_t>(record, 18);
  h.first_attribute = load_le<std::uint16_t>(record, 20);
  const std::uint16_t flags = load_le<std::uint16_t>(record, 22);
  h.in_use = flags & 0x0001;
  h.directory = flags & 0x0002;
  h.bytes_in_use = load_le<std::uint32_t>(record, 24);
  const std::uint32_t allocated = load_le<std::uint32_t>(record, 28);
  if (allocated != record.size())
    throw FormatError(fmt::format("FILE record: {} bytes allocated in a {}-byte record", allocated, record.size()), base + 28);
  const std::uint16_t usa_end = std::uint16_t(load_le<std::uint16_t>(record, 4) + 2 * load_le<std::uint16_t>(record, 6));
  if (h.first_attribute % 8 != 0 || h.first_attribute < usa_end || h.first_attribute + 8u > record.size())
    throw FormatError(fmt::format("FILE record: first attribute at offset {}", h.first_attribute), base + 20);
  if (h.bytes_in_use % 8 != 0 || h.bytes_in_use > record.size() || h.bytes_in_use < h.first_attribute + 8u)
    throw FormatError(fmt::format("FILE record: {} bytes in use", h.bytes_in_use), base + 24);
  h.base = FileReference::decode(load_le<std::uint64_t>(record, 32));
  return h;
}

}  // namespace bootmirror::ntfs
