#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/gpt.h"
#include "bootmirror/identity.h"
#include "gpt/codec.h"

namespace bootmirror::gpt {

Table Table::create(std::uint64_t sector_count, std::uint32_t sector_size) {
  check_sector_size(sector_size);
  Table t;
  t.sector_size = sector_size;
  t.sector_count = sector_count;
  t.entries.resize(128);
  t.entry_size = codec::kEntrySize;
  const std::uint64_t array_sectors = t.entry_array_sectors();
  // Protective MBR, primary header, primary array, at least one usable sector, backup array and header.
  if (sector_count < 3 + 2 * array_sectors + 1)
    throw UsageError(fmt::format("a disk of {} sectors is too small for a GPT", sector_count));
  t.disk_guid = IdentitySource::new_guid();
  t.primary_entries_lba = 2;
  t.first_usable_lba = 2 + array_sectors;
  t.backup_header_lba = sector_count - 1;
  t.backup_entries_lba = t.backup_header_lba - array_sectors;
  t.last_usable_lba = t.backup_entries_lba - 1;
  return t;
}

std::uint64_t Table::entry_array_sectors() const {
  const std::uint64_t bytes = std::uint64_t(entries.size()) * entry_size;
  return (bytes + sector_size - 1) / sector_size;
}

std::vector<Partition> Table::in_offset_order() const {
  std::vector<Partition> used;
  for (const Partition& p : entries)
    if (p.used()) used.push_back(p);
  std::stable_sort(used.begin(), used.end(), [](const Partition& a, const Partition& b) { return a.first_lba < b.first_lba; });
  return used;
}

void Table::compact() {
  std::vector<Partition> used = in_offset_order();
  const std::size_t slots = entries.size();
  entries = std::move(used);
  entries.resize(slots);
}

void Table::check() const {
  if (entries.empty() || entry_size < codec::kEntrySize || entry_size % 8 != 0)
    throw UsageError(fmt::format("a GPT needs at least one entry of at least 128 bytes ({} of {})", entries.size(), entry_size));
  std::vector<std::pair<std::uint64_t, std::size_t>> extents;
  for (std::size_t slot = 0; slot < entries.size(); ++slot) {
    const Partition& p = entries[slot];
    if (!p.used()) continue;
    if (p.first_lba > p.last_lba || p.first_lba < first_usable_lba || p.last_lba > last_usable_lba)
      throw UsageError(fmt::format("GPT entry {}: LBA {}..{} is outside the usable range {}..{}", slot + 1, p.first_lba,
                                   p.last_lba, first_usable_lba, last_usable_lba));
    extents.emplace_back(p.first_lba, slot);
  }
  std::sort(extents.begin(), extents.end());
  for (std::size_t i = 1; i < extents.size(); ++i)
    if (entries[extents[i].second].first_lba <= entries[extents[i - 1].second].last_lba)
      throw UsageError(fmt::format("GPT entries {} and {} overlap", extents[i - 1].second + 1, extents[i].second + 1));
}

}  // namespace bootmirror::gpt
