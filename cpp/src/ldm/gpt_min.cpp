// GPT header (UEFI 2.10 table 5-5), little-endian:
//  0x00 8 "EFI PART" | 0x08 4 revision 0x00010000 | 0x0C 4 header size (92) | 0x10 4 header CRC32
//  0x14 4 reserved | 0x18 8 my LBA | 0x20 8 alternate LBA | 0x28 8 first usable | 0x30 8 last
//  usable | 0x38 16 disk GUID (mixed endian) | 0x48 8 entry array LBA | 0x50 4 entry count |
//  0x54 4 entry size | 0x58 4 entry array CRC32
// Entry (table 5-6): 0x00 16 type | 0x10 16 unique | 0x20 8 first LBA | 0x28 8 last LBA (inclusive)
//  | 0x30 8 attributes | 0x38 72 name (UTF-16LE)
#include "ldm/gpt_min.h"

#include <fmt/format.h>

#include "bootmirror/crc32.h"

namespace bootmirror::ldm::detail {

std::u16string utf16(std::string_view ascii) { return {ascii.begin(), ascii.end()}; }

GptTable read_gpt(BlockDevice& dev) {
  const std::uint32_t ss = dev.sector_size();
  ByteVector h = dev.read(ss, ss);
  const std::uint64_t off = ss;
  if (!matches_ascii(h, 0, "EFI PART")) throw FormatError("no GPT header ('EFI PART') at LBA 1", off);
  std::uint32_t header_size = load_le<std::uint32_t>(h, 0x0C);
  if (header_size < 92 || header_size > ss) throw FormatError(fmt::format("GPT header size {} is impossible", header_size), off + 0x0C);
  std::uint32_t crc = load_le<std::uint32_t>(h, 0x10);
  store_le<std::uint32_t>(h, 0x10, 0);
  if (crc32(ByteSpan(h).first(header_size)) != crc) throw FormatError("GPT header CRC32 does not match", off + 0x10);
  GptTable t;
  t.backup_lba = load_le<std::uint64_t>(h, 0x20);
  t.first_usable = load_le<std::uint64_t>(h, 0x28);
  t.last_usable = load_le<std::uint64_t>(h, 0x30);
  t.disk_guid = Guid::from_uefi_bytes(subspan(ByteSpan(h), 0x38, 16));
  t.entries_lba = load_le<std::uint64_t>(h, 0x48);
  t.entry_count = load_le<std::uint32_t>(h, 0x50);
  t.entry_size = load_le<std::uint32_t>(h, 0x54);
  std::uint32_t array_crc = load_le<std::uint32_t>(h, 0x58);
  // libldm gpt.c: at most 1024 entries of at most 1024 bytes.
  if (t.entry_count == 0 || t.entry_count > 1024 || t.entry_size < 128 || t.entry_size > 1024 || t.entry_size % 8)
    throw FormatError(fmt::format("GPT entry array of {} entries of {} bytes is impossible", t.entry_count, t.entry_size), off + 0x50);
  std::uint64_t bytes = std::uint64_t(t.entry_count) * t.entry_size;
  if (t.entries_lba < 2 || (t.entries_lba * ss + bytes) > dev.size())
    throw FormatError("GPT entry array lies outside the disk", off + 0x48);
  ByteVector a = dev.read(t.entries_lba * ss, bytes);
  if (crc32(a) != array_crc) throw FormatError("GPT entry array CRC32 does not match", t.entries_lba * ss);
  for (std::uint32_t i = 0; i < t.entry_count; ++i) {
    ByteSpan e = subspan(ByteSpan(a), std::size_t(i) * t.entry_size, t.entry_size);
    GptEntry entry;
    entry.type = Guid::from_uefi_bytes(e.subspan(0, 16));
    entry.unique = Guid::from_uefi_bytes(e.subspan(16, 16));
    entry.first_lba = load_le<std::uint64_t>(e, 0x20);
    entry.last_lba = load_le<std::uint64_t>(e, 0x28);
    entry.attributes = load_le<std::uint64_t>(e, 0x30);
    for (int c = 0; c < 36; ++c) {
      char16_t ch = load_le<std::uint16_t>(e, 0x38 + 2 * c);
      if (ch == 0) break;
      entry.name.push_back(ch);
    }
    if (entry.used() && (entry.last_lba < entry.first_lba || (entry.last_lba + 1) * ss > dev.size()))
      throw FormatError(fmt::format("GPT entry {} runs from LBA {} to {}, outside the disk", i + 1, entry.first_lba, entry.last_lba),
                        t.entries_lba * ss + std::uint64_t(i) * t.entry_size + 0x20);
    t.entries.push_back(std::move(entry));
  }
  return t;
}

namespace {
ByteVector encode_array(const GptTable& t) {
  ByteVector a(std::size_t(t.entry_count) * t.entry_size);
  for (std::size_t i = 0; i < t.entries.size() && i < t.entry_count; ++i) {
    const GptEntry& entry = t.entries[i];
    if (!entry.used()) continue;
    MutableByteSpan e = subspan(MutableByteSpan(a), i * t.entry_size, t.entry_size);
    entry.type.store_uefi_bytes(e.subspan(0, 16));
    entry.unique.store_uefi_bytes(e.subspan(16, 16));
    store_le<std::uint64_t>(e, 0x20, entry.first_lba);
    store_le<std::uint64_t>(e, 0x28, entry.last_lba);
    store_le<std::uint64_t>(e, 0x30, entry.attributes);
    for (std::size_t c = 0; c < entry.name.size() && c < 36; ++c) store_le<std::uint16_t>(e, 0x38 + 2 * c, entry.name[c]);
  }
  return a;
}

ByteVector encode_header(const GptTable& t, std::uint32_t ss, std::uint64_t my_lba, std::uint64_t other_lba,
                         std::uint64_t array_lba, std::uint32_t array_crc) {
  ByteVector h(ss);
  store_ascii(h, 0, 8, "EFI PART");
  store_le<std::uint32_t>(h, 0x08, 0x00010000);
  store_le<std::uint32_t>(h, 0x0C, 92);
  store_le<std::uint64_t>(h, 0x18, my_lba);
  store_le<std::uint64_t>(h, 0x20, other_lba);
  store_le<std::uint64_t>(h, 0x28, t.first_usable);
  store_le<std::uint64_t>(h, 0x30, t.last_usable);
  t.disk_guid.store_uefi_bytes(subspan(MutableByteSpan(h), 0x38, 16));
  store_le<std::uint64_t>(h, 0x48, array_lba);
  store_le<std::uint32_t>(h, 0x50, t.entry_count);
  store_le<std::uint32_t>(h, 0x54, t.entry_size);
  store_le<std::uint32_t>(h, 0x58, array_crc);
  store_le<std::uint32_t>(h, 0x10, crc32(ByteSpan(h).first(92)));
  return h;
}
}  // namespace

void write_gpt(BlockDevice& dev, const GptTable& t) {
  const std::uint32_t ss = dev.sector_size();
  const std::uint64_t last = dev.sector_count() - 1;
  ByteVector a = encode_array(t);
  std::uint32_t array_crc = crc32(a);
  std::uint64_t array_sectors = (a.size() + ss - 1) / ss;
  std::uint64_t backup_array = last - array_sectors;
  dev.write(backup_array * ss, a);
  dev.write(last * ss, encode_header(t, ss, last, 1, backup_array, array_crc));
  dev.flush();
  dev.write(t.entries_lba * ss, a);
  dev.write(ss, encode_header(t, ss, 1, last, t.entries_lba, array_crc));
  dev.flush();
}

}  // namespace bootmirror::ldm::detail
