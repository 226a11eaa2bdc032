#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/crc32.h"
#include "gpt/codec.h"

namespace bootmirror::gpt::codec {

Partition decode_entry(ByteSpan entry) {
  Partition p;
  p.type = Guid::from_uefi_bytes(subspan(entry, 0, 16));
  p.unique = Guid::from_uefi_bytes(subspan(entry, 16, 16));
  p.first_lba = load_le<std::uint64_t>(entry, 32);
  p.last_lba = load_le<std::uint64_t>(entry, 40);
  p.attributes = load_le<std::uint64_t>(entry, 48);
  std::uint32_t units = 0;  // up to the first NUL: sized once, not grown a unit at a time
  while (units < kNameUnits && load_le<std::uint16_t>(entry, 56 + 2 * units) != 0) ++units;
  p.name.resize(units);
  for (std::uint32_t i = 0; i < units; ++i) p.name[i] = char16_t(load_le<std::uint16_t>(entry, 56 + 2 * i));
  if (entry.size() > kEntrySize) p.tail.assign(entry.begin() + kEntrySize, entry.end());
  return p;
}

void encode_entry(const Partition& p, MutableByteSpan entry) {
  std::fill(entry.begin(), entry.end(), std::byte{0});
  if (!p.used()) return;
  p.type.store_uefi_bytes(subspan(entry, 0, 16));
  p.unique.store_uefi_bytes(subspan(entry, 16, 16));
  store_le<std::uint64_t>(entry, 32, p.first_lba);
  store_le<std::uint64_t>(entry, 40, p.last_lba);
  store_le<std::uint64_t>(entry, 48, p.attributes);
  for (std::size_t i = 0; i < p.name.size() && i < kNameUnits; ++i)
    store_le<std::uint16_t>(entry, 56 + 2 * i, std::uint16_t(p.name[i]));
  if (!p.tail.empty() && entry.size() > kEntrySize) {
    auto rest = entry.subspan(kEntrySize);
    std::copy_n(p.tail.begin(), std::min(rest.size(), p.tail.size()), rest.begin());
  }
}

std::vector<Partition> decode_array(ByteSpan array, const Header& h, std::uint64_t device_offset, Slots which) {
  const std::uint64_t bytes = h.array_bytes();
  if (array.size() < bytes) throw FormatError("GPT entry array: truncated", device_offset);
  const std::uint32_t computed = crc32(array.first(bytes));
  if (computed != h.entries_crc)
    throw FormatError(fmt::format("GPT entry array: CRC32 is {:#010x}, the header records {:#010x}", computed, h.entries_crc),
                      device_offset);

  const bool all = which == Slots::all;
  std::vector<Partition> entries;
  if (all) entries.reserve(h.entry_count);
  struct Extent {
    std::uint64_t first_lba;
    std::uint32_t slot;
    std::size_t index;  // in `entries`
    bool operator<(const Extent& other) const { return std::tie(first_lba, slot) < std::tie(other.first_lba, other.slot); }
  };
  std::vector<Extent> extents;  // of the used entries
  for (std::uint32_t slot = 0; slot < h.entry_count; ++slot) {
    const std::uint64_t at = std::uint64_t(slot) * h.entry_size;
    const ByteSpan bytes = array.subspan(at, h.entry_size);
    // Most of an array is unused entries, all zeros: what decode_entry would make of them, made
    // without decoding two GUIDs and a name each (an LDM scan reads every disk's arrays).
    if (is_all_zero(bytes)) {
      if (!all) continue;
      entries.emplace_back();
      if (h.entry_size > kEntrySize) entries.back().tail.assign(h.entry_size - kEntrySize, std::byte{0});
      continue;
    }
    Partition p = decode_entry(bytes);
    if (p.used()) {
      if (p.first_lba > p.last_lba || p.first_lba < h.first_usable_lba || p.last_lba > h.last_usable_lba)
        throw FormatError(fmt::format("GPT entry {}: LBA {}..{} is outside the usable range {}..{}", slot + 1,
                                      p.first_lba, p.last_lba, h.first_usable_lba, h.last_usable_lba),
                          device_offset + at + 32);
      extents.push_back({p.first_lba, slot, entries.size()});
    } else if (!all) {
      continue;
    }
    entries.push_back(std::move(p));
  }
  std::sort(extents.begin(), extents.end());
  for (std::size_t i = 1; i < extents.size(); ++i) {
    const Partition& before = entries[extents[i - 1].index];
    const Partition& after = entries[extents[i].index];
    if (after.first_lba <= before.last_lba)
      throw FormatError(fmt::format("GPT entries {} and {} overlap (LBA {}..{} and {}..{})", extents[i - 1].slot + 1,
                                    extents[i].slot + 1, before.first_lba, before.last_lba, after.first_lba,
                                    after.last_lba),
                        device_offset + std::uint64_t(extents[i].slot) * h.entry_size + 32);
  }
  return entries;
}

ByteVector encode_array(const Table& table) {
  ByteVector array(table.entry_array_sectors() * table.sector_size);
  for (std::size_t slot = 0; slot < table.entries.size(); ++slot)
    encode_entry(table.entries[slot], MutableByteSpan(array).subspan(slot * table.entry_size, table.entry_size));
  return array;
}

}  // namespace bootmirror::gpt::codec
