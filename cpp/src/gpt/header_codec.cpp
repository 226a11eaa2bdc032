#include <fmt/format.h>

#include "bootmirror/crc32.h"
#include "gpt/codec.h"

namespace bootmirror::gpt::codec {

namespace {
std::uint32_t header_crc(ByteSpan block, std::uint32_t header_size) {
  ByteVector copy(block.begin(), block.begin() + header_size);
  store_le<std::uint32_t>(copy, 16, 0);
  return crc32(copy);
}
}  // namespace

Header decode_header(ByteSpan block, std::uint64_t lba, std::uint64_t sector_count, std::uint32_t sector_size) {
  const std::uint64_t at = lba * sector_size;
  if (block.size() < sector_size) throw FormatError("GPT header: truncated block", at);
  if (!matches_ascii(block, 0, "EFI PART")) throw FormatError("GPT header: no \"EFI PART\" signature", at);
  Header h;
  h.revision = load_le<std::uint32_t>(block, 8);
  h.header_size = load_le<std::uint32_t>(block, 12);
  if (h.header_size < kHeaderSize || h.header_size > sector_size)
    throw FormatError(fmt::format("GPT header: header size {} is outside 92..{}", h.header_size, sector_size), at + 12);
  const std::uint32_t stored_crc = load_le<std::uint32_t>(block, 16);
  const std::uint32_t computed = header_crc(block, h.header_size);
  if (stored_crc != computed)
    throw FormatError(fmt::format("GPT header: CRC32 is {:#010x}, the header's bytes give {:#010x}", stored_crc, computed),
                      at + 16);
  h.my_lba = load_le<std::uint64_t>(block, 24);
  h.alternate_lba = load_le<std::uint64_t>(block, 32);
  h.first_usable_lba = load_le<std::uint64_t>(block, 40);
  h.last_usable_lba = load_le<std::uint64_t>(block, 48);
  h.disk_guid = Guid::from_uefi_bytes(subspan(block, 56, 16));
  h.entries_lba = load_le<std::uint64_t>(block, 72);
  h.entry_count = load_le<std::uint32_t>(block, 80);
  h.entry_size = load_le<std::uint32_t>(block, 84);
  h.entries_crc = load_le<std::uint32_t>(block, 88);

  if (h.my_lba != lba)
    throw FormatError(fmt::format("GPT header: MyLBA is {}, but the header was read at LBA {}", h.my_lba, lba), at + 24);
  if (h.alternate_lba == lba || h.alternate_lba == 0)
    throw FormatError(fmt::format("GPT header: AlternateLBA {} cannot hold the other header", h.alternate_lba), at + 32);
  if (h.first_usable_lba > h.last_usable_lba + 1 || h.last_usable_lba >= sector_count || h.first_usable_lba < 2)
    throw FormatError(fmt::format("GPT header: usable range LBA {}..{} does not fit a disk of {} sectors",
                                  h.first_usable_lba, h.last_usable_lba, sector_count),
                      at + 40);
  if (h.entry_size < kEntrySize || h.entry_size % 8 != 0 || h.entry_size > (1u << 20))
    throw FormatError(fmt::format("GPT header: partition entry size {} is not a multiple of 8 of at least 128",
                                  h.entry_size), at + 84);
  if (h.entry_count == 0 || h.array_bytes() > kMaxArrayBytes)
    throw FormatError(fmt::format("GPT header: {} entries of {} bytes is not a plausible entry array",
                                  h.entry_count, h.entry_size), at + 80);
  const std::uint64_t array_sectors = (h.array_bytes() + sector_size - 1) / sector_size;
  if (h.entries_lba < 1 || h.entries_lba >= sector_count || sector_count - h.entries_lba < array_sectors)
    throw FormatError(fmt::format("GPT header: entry array at LBA {} ({} sectors) runs past the end of the disk ({} sectors)",
                                  h.entries_lba, array_sectors, sector_count), at + 72);
  // The other copy lies outside the usable range: a primary's backup (header and array) after it,
  // a backup's primary before it (UEFI 2.10, 5.3.2: the usable range excludes both copies).
  if (h.alternate_lba > lba) {
    if (h.alternate_lba <= h.last_usable_lba || h.alternate_lba - h.last_usable_lba - 1 < array_sectors)
      throw FormatError(fmt::format("GPT header: AlternateLBA {} leaves no room for the backup after the usable range "
                                    "(which ends at LBA {})", h.alternate_lba, h.last_usable_lba), at + 32);
  } else if (h.alternate_lba >= h.first_usable_lba) {
    throw FormatError(fmt::format("GPT header: AlternateLBA {} of a backup header lies inside the usable range from LBA {}",
                                  h.alternate_lba, h.first_usable_lba), at + 32);
  }
  const std::uint64_t array_end = h.entries_lba + array_sectors;  // exclusive
  const bool overlaps_usable = h.entries_lba <= h.last_usable_lba && h.first_usable_lba < array_end &&
                               h.first_usable_lba <= h.last_usable_lba;
  if (overlaps_usable || (h.entries_lba <= lba && lba < array_end))
    throw FormatError(fmt::format("GPT header: entry array at LBA {}..{} overlaps the usable range or the header",
                                  h.entries_lba, array_end - 1), at + 72);
  // Each copy's array lies on its own side of the usable range (UEFI 2.10, 5.3.2), and a backup
  // leaves room before that range for the primary's array from LBA 2: else repair could not lay
  // the other copy out from this one.
  if (h.alternate_lba > lba ? array_end > h.first_usable_lba : (h.entries_lba <= h.last_usable_lba || array_end > lba))
    throw FormatError(fmt::format("GPT header: the {} entry array at LBA {}..{} is not between its header and the usable range",
                                  h.alternate_lba > lba ? "primary" : "backup", h.entries_lba, array_end - 1), at + 72);
  if (h.alternate_lba < lba && h.first_usable_lba < 2 + array_sectors)
    throw FormatError(fmt::format("GPT header: the usable range starts at LBA {}, before the end of a primary array of {} sectors from LBA 2",
                                  h.first_usable_lba, array_sectors), at + 40);
  return h;
}

ByteVector encode_header(const Header& h, std::uint32_t sector_size) {
  ByteVector block(sector_size);
  store_ascii(block, 0, 8, "EFI PART");
  store_le<std::uint32_t>(block, 8, h.revision);
  store_le<std::uint32_t>(block, 12, kHeaderSize);
  store_le<std::uint64_t>(block, 24, h.my_lba);
  store_le<std::uint64_t>(block, 32, h.alternate_lba);
  store_le<std::uint64_t>(block, 40, h.first_usable_lba);
  store_le<std::uint64_t>(block, 48, h.last_usable_lba);
  h.disk_guid.store_uefi_bytes(subspan(MutableByteSpan(block), 56, 16));
  store_le<std::uint64_t>(block, 72, h.entries_lba);
  store_le<std::uint32_t>(block, 80, h.entry_count);
  store_le<std::uint32_t>(block, 84, h.entry_size);
  store_le<std::uint32_t>(block, 88, h.entries_crc);
  store_le<std::uint32_t>(block, 16, header_crc(block, kHeaderSize));
  return block;
}

}  // namespace bootmirror::gpt::codec
