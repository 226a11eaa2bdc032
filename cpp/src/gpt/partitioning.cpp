#include "bootmirror/partitioning.h"

#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/identity.h"
#include "gpt/codec.h"

namespace bootmirror::partitioning {

namespace {
using gpt::Kind;
using Reason = PartitioningError::Reason;

constexpr std::uint64_t kMiB = 1ull << 20;
// diskpart's documented minimum for convert gpt.
constexpr std::uint64_t kMinimumGptDisk = 128 * kMiB;

// Sizes, offsets and alignments come from callers as any 64-bit value: one whose rounding would
// pass 64 bits is refused, not wrapped (an alignment of 2^64-1 became 1 sector).
std::uint64_t round_up(std::uint64_t value, std::uint64_t unit) {
  const std::uint64_t down = value / unit * unit;
  if (down == value) return value;
  if (down > UINT64_MAX - unit) throw UsageError(fmt::format("{} rounded up to a multiple of {} passes 64 bits", value, unit));
  return down + unit;
}

gpt::Table read_gpt(BlockDevice& disk) {
  if (style_of(disk) != Style::gpt)
    throw PartitioningError(Reason::not_gpt, fmt::format("{} is not a GPT disk", disk.name()));
  return gpt::read(disk);
}

gpt::Partition new_partition(NewKind kind, std::uint64_t first, std::uint64_t last) {
  gpt::Partition p;
  // Windows' own names for the partitions it creates.
  switch (kind) {
    case NewKind::efi:
      p.type = gpt::type_of(Kind::efi_system);
      p.set_name("EFI system partition");
      break;
    case NewKind::msr:
      p.type = gpt::type_of(Kind::microsoft_reserved);
      p.set_name("Microsoft reserved partition");
      break;
    case NewKind::primary:
      p.type = gpt::type_of(Kind::basic_data);
      p.set_name("Basic data partition");
      break;
  }
  p.unique = IdentitySource::new_guid();
  p.first_lba = first;
  p.last_lba = last;
  return p;
}

std::size_t number_of(const gpt::Table& table, const Guid& unique) {
  auto ordered = table.in_offset_order();
  for (std::size_t i = 0; i < ordered.size(); ++i)
    if (ordered[i].unique == unique) return i + 1;
  return 0;
}

// Where a partition of `sectors` (none: as many as the extent holds) goes: the first free extent
// that holds it, or the extent holding `offset`.
std::pair<std::uint64_t, std::uint64_t> place(const gpt::Table& table, const CreateRequest& request,
                                              std::optional<std::uint64_t> sectors) {
  const std::uint64_t ss = table.sector_size;
  const std::uint64_t align = request.align ? std::max<std::uint64_t>(round_up(*request.align, ss) / ss, 1) : 1;
  const auto extents = free_extents(table);
  if (request.offset) {
    const std::uint64_t start = round_up(round_up(*request.offset, ss) / ss, align);
    for (const FreeExtent& e : extents) {
      if (start < e.first_lba || start > e.last_lba) continue;
      const std::uint64_t room = e.last_lba - start + 1;
      if (sectors && *sectors > room) break;
      return {start, start + (sectors ? *sectors : room) - 1};
    }
    throw PartitioningError(Reason::bad_offset,
                            fmt::format("no free extent at offset {} holds the partition", *request.offset));
  }
  std::optional<std::pair<std::uint64_t, std::uint64_t>> best;
  for (const FreeExtent& e : extents) {
    const std::uint64_t start = round_up(e.first_lba, align);
    if (start > e.last_lba) continue;
    const std::uint64_t room = e.last_lba - start + 1;
    if (sectors) {
      if (*sectors <= room) return {start, start + *sectors - 1};
    } else if (!best || room > best->second - best->first + 1) {
      best = {{start, e.last_lba}};  // no size: the largest free extent
    }
  }
  if (best) return *best;
  throw PartitioningError(Reason::no_space, "there is not enough free space for the partition");
}

}  // namespace

Style style_of(BlockDevice& disk) {
  if (disk.sector_count() == 0) return Style::raw;  // an image shorter than a sector holds no table
  if (disk.sector_count() >= 4 && gpt::looks_like_gpt(disk)) return Style::gpt;
  ByteVector block0 = disk.read(0, disk.sector_size());
  return gpt::codec::has_mbr_partitions(block0) ? Style::mbr : Style::raw;
}

std::vector<FreeExtent> free_extents(const gpt::Table& table) {
  std::vector<FreeExtent> out;
  std::uint64_t next = table.first_usable_lba;
  for (const gpt::Partition& p : table.in_offset_order()) {
    if (p.first_lba > next) out.push_back({next, p.first_lba - 1});
    next = std::max(next, p.last_lba + 1);
  }
  if (next <= table.last_usable_lba) out.push_back({next, table.last_usable_lba});
  return out;
}

std::uint64_t free_bytes(BlockDevice& disk) {
  if (style_of(disk) != Style::gpt) return disk.size();
  const gpt::Table table = gpt::read(disk);
  std::uint64_t sectors = 0;
  for (const FreeExtent& e : free_extents(table)) sectors += e.last_lba - e.first_lba + 1;
  return sectors * table.sector_size;
}

std::uint64_t msr_size_for(std::uint64_t disk_bytes) { return disk_bytes < (16ull << 30) ? 32 * kMiB : 128 * kMiB; }

void convert_gpt(BlockDevice& disk) {
  if (style_of(disk) != Style::raw)
    throw PartitioningError(Reason::not_convertible, fmt::format("{} is not an empty basic disk", disk.name()));
  if (disk.size() < kMinimumGptDisk)
    throw PartitioningError(Reason::not_convertible, fmt::format("{} is smaller than the 128 MiB a GPT disk needs", disk.name()));
  gpt::Table table = gpt::Table::create(disk.sector_count(), disk.sector_size());
  const std::uint64_t sectors = msr_size_for(disk.size()) / disk.sector_size();
  if (table.last_usable_lba - table.first_usable_lba + 1 >= sectors)
    table.entries[0] = new_partition(NewKind::msr, table.first_usable_lba, table.first_usable_lba + sectors - 1);
  gpt::write(disk, table);
}

std::vector<gpt::Partition> partitions(BlockDevice& disk) {
  if (style_of(disk) != Style::gpt) return {};
  return gpt::read(disk).in_offset_order();
}

std::pair<std::size_t, gpt::Partition> create_partition(BlockDevice& disk, const CreateRequest& request) {
  gpt::Table table = read_gpt(disk);
  std::optional<std::uint64_t> sectors;
  if (request.size) {
    if (*request.size == 0) throw PartitioningError(Reason::no_space, "a partition needs a size above zero");
    sectors = round_up(*request.size, table.sector_size) / table.sector_size;
  }
  auto [first, last] = place(table, request, sectors);
  auto free_slot = std::find_if(table.entries.begin(), table.entries.end(), [](const gpt::Partition& p) { return !p.used(); });
  if (free_slot == table.entries.end())
    throw PartitioningError(Reason::no_space, fmt::format("all {} entries of the GPT are in use", table.entries.size()));
  *free_slot = new_partition(request.kind, first, last);
  const gpt::Partition created = *free_slot;
  table.compact();
  gpt::write(disk, table);
  return {number_of(table, created.unique), created};
}

void delete_partition(BlockDevice& disk, std::size_t number, bool override_protection) {
  gpt::Table table = read_gpt(disk);
  auto ordered = table.in_offset_order();
  if (number < 1 || number > ordered.size())
    throw PartitioningError(Reason::no_such_partition, fmt::format("{} has no partition {}", disk.name(), number));
  const gpt::Partition target = ordered[number - 1];
  const Kind kind = target.kind();
  // diskpart deletes only known data partitions without override: EFI, MSR, LDM and unknown
  // types are protected.
  const bool is_protected = kind != Kind::basic_data;
  if (is_protected && !override_protection)
    throw PartitioningError(Reason::protected_partition,
                            fmt::format("partition {} ({}) is protected", number, gpt::kind_name(kind)));
  for (gpt::Partition& p : table.entries)
    if (p.used() && p.unique == target.unique && p.first_lba == target.first_lba) p = gpt::Partition{};
  table.compact();
  gpt::write(disk, table);
}

void clean(BlockDevice& disk) {
  const std::uint64_t span = std::min<std::uint64_t>(kMiB, disk.size());
  const ByteVector zeros(span);
  // The backup first: with the primary still whole, a crash leaves a disk that reads as it was.
  disk.write(disk.size() - span, zeros);
  disk.flush();
  disk.write(0, zeros);
  disk.flush();
}

}  // namespace bootmirror::partitioning
