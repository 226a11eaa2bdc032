#include "fat/fat_table.h"

#include <algorithm>

#include <fmt/format.h>

#include "fat/boot_sector.h"

namespace bootmirror::fat {

FatTable::FatTable(BlockDevice& device, const Geometry& g, std::uint32_t copy)
    : device_(device), geometry_(g), limit_(g.cluster_count + 2) {
  const std::uint32_t sectors = fat_sectors_in_use(g);
  raw_.resize(std::uint64_t(sectors) * g.bytes_per_sector);
  device_.read(g.fat_offset(copy), raw_);
  dirty_sectors_.assign(sectors, false);
  entries_.resize(limit_);
  for (std::uint32_t c = 0; c < limit_; ++c) {
    entries_[c] = decode(c);
    if (c >= 2 && entries_[c] == free_entry) ++free_count_;
  }
}

std::uint32_t FatTable::decode(std::uint32_t c) const {
  std::uint32_t v;
  switch (geometry_.type) {
    case FatType::fat12: {
      std::size_t off = c + c / 2;
      std::uint32_t pair = std::to_integer<std::uint32_t>(raw_[off]) | (std::to_integer<std::uint32_t>(raw_[off + 1]) << 8);
      v = (c & 1) ? pair >> 4 : pair & 0xFFF;
      if (v >= 0xFF8) return end_of_chain;
      if (v == 0xFF7) return bad_cluster;
      return v;
    }
    case FatType::fat16:
      v = load_le<std::uint16_t>(raw_, std::size_t(c) * 2);
      if (v >= 0xFFF8) return end_of_chain;
      if (v == 0xFFF7) return bad_cluster;
      return v;
    case FatType::fat32:
    default:
      // The top four bits are reserved (fatgen103): ignored on read, preserved on write.
      v = load_le<std::uint32_t>(raw_, std::size_t(c) * 4) & 0x0FFFFFFF;
      if (v >= 0x0FFFFFF8) return end_of_chain;
      return v;
  }
}

void FatTable::encode(std::uint32_t c, std::uint32_t value) {
  std::size_t first_byte, last_byte;
  switch (geometry_.type) {
    case FatType::fat12: {
      std::uint32_t v = value & 0xFFF;
      std::size_t off = c + c / 2;
      std::uint32_t pair = std::to_integer<std::uint32_t>(raw_[off]) | (std::to_integer<std::uint32_t>(raw_[off + 1]) << 8);
      pair = (c & 1) ? (pair & 0x000F) | (v << 4) : (pair & 0xF000) | v;
      raw_[off] = std::byte(pair & 0xFF);
      raw_[off + 1] = std::byte(pair >> 8);
      first_byte = off;
      last_byte = off + 1;
      break;
    }
    case FatType::fat16:
      store_le<std::uint16_t>(raw_, std::size_t(c) * 2, std::uint16_t(value));
      first_byte = std::size_t(c) * 2;
      last_byte = first_byte + 1;
      break;
    case FatType::fat32:
    default: {
      std::size_t off = std::size_t(c) * 4;
      std::uint32_t old = load_le<std::uint32_t>(raw_, off);
      store_le<std::uint32_t>(raw_, off, (old & 0xF0000000) | (value & 0x0FFFFFFF));
      first_byte = off;
      last_byte = off + 3;
      break;
    }
  }
  std::size_t lo = first_byte / geometry_.bytes_per_sector, hi = last_byte / geometry_.bytes_per_sector;
  if (recording_) {
    if (!dirty_sectors_[lo]) undo_.newly_dirty.push_back(lo);
    if (hi != lo && !dirty_sectors_[hi]) undo_.newly_dirty.push_back(hi);
  }
  dirty_sectors_[lo] = true;
  dirty_sectors_[hi] = true;
  dirty_lo_ = std::min(dirty_lo_, lo);
  dirty_hi_ = std::max(dirty_hi_, hi);
  dirty_any_ = true;
}

void FatTable::set(std::uint32_t c, std::uint32_t value) {
  if (!deferred_.empty()) deferred_.erase(c);  // a later change supersedes a deferred one
  std::uint32_t old = entries_[c];
  if (recording_) undo_.entries.emplace_back(c, old);
  if (c >= 2) {
    if (old == free_entry && value != free_entry) --free_count_;
    if (old != free_entry && value == free_entry) ++free_count_;
  }
  entries_[c] = value;
  encode(c, value);
}

std::vector<Run> FatTable::chain(std::uint32_t first, std::uint32_t max_clusters) const {
  std::vector<Run> runs;
  if (first == 0) return runs;
  std::uint32_t c = first;
  std::uint64_t steps = 0;
  std::uint32_t bound = std::min(max_clusters, limit_ - 2);
  while (true) {
    if (!valid_cluster(c))
      throw FormatError(fmt::format("FAT: the chain from cluster {} reaches cluster {}, outside the volume (2..{})",
                                    first, c, limit_ - 1),
                        geometry_.fat_offset(0));
    if (++steps > bound)
      throw FormatError(fmt::format("FAT: the chain from cluster {} loops or is longer than {} clusters", first, bound),
                        geometry_.fat_offset(0));
    if (!runs.empty() && runs.back().first + runs.back().count == c)
      ++runs.back().count;
    else
      runs.push_back({c, 1});
    std::uint32_t next = entries_[c];
    if (next == end_of_chain) break;
    if (next == free_entry || next == bad_cluster)
      throw FormatError(fmt::format("FAT: the chain from cluster {} meets a {} cluster at {}", first,
                                    next == free_entry ? "free" : "bad", c),
                        geometry_.fat_offset(0));
    c = next;
  }
  return runs;
}

std::vector<Run> FatTable::allocate(std::uint32_t count, std::uint32_t after) {
  if (count == 0) return {};
  if (count > free_count_)
    throw UsageError(fmt::format("there is not enough space on the disk ({} clusters needed, {} free)", count,
                                 free_count_));
  std::vector<Run> runs;
  std::uint32_t wanted = count;
  // Continue right after the chain's last cluster when that is free: files grow in place.
  std::uint32_t c = (after && after + 1 < limit_ && entries_[after + 1] == free_entry) ? after + 1 : hint_;
  if (c < 2 || c >= limit_) c = 2;
  std::uint32_t scanned = 0;
  while (wanted) {
    if (c >= limit_) c = 2;
    if (entries_[c] != free_entry) {
      ++c;
      if (++scanned > 2 * limit_) throw FormatError("FAT: free cluster count is wrong");
      continue;
    }
    std::uint32_t start = c;
    while (c < limit_ && entries_[c] == free_entry && c - start < wanted) ++c;
    runs.push_back({start, c - start});
    wanted -= c - start;
  }
  // Link the runs into one chain after `after`.
  std::uint32_t prev = after;
  for (const Run& r : runs) {
    for (std::uint32_t i = 0; i < r.count; ++i) {
      std::uint32_t cl = r.first + i;
      if (prev) set(prev, cl);
      prev = cl;
    }
  }
  set(prev, end_of_chain);
  hint_ = runs.back().first + runs.back().count;
  if (hint_ >= limit_) hint_ = 2;
  return runs;
}

void FatTable::free_chain(std::uint32_t first) {
  std::uint32_t c = first;
  std::uint32_t guard = limit_;
  while (valid_cluster(c) && guard--) {
    std::uint32_t next = entries_[c];
    if (next == free_entry) break;
    auto [it, fresh] = deferred_.emplace(c, free_entry);
    if (!fresh) {
      if (it->second == free_entry) break;  // already being freed: a loop or a shared tail
      it->second = free_entry;
    }
    if (next == end_of_chain || next == bad_cluster) break;
    c = next;
  }
}

void FatTable::truncate_after(std::uint32_t last) {
  std::uint32_t next = entries_[last];
  deferred_[last] = end_of_chain;
  if (valid_cluster(next)) free_chain(next);
}

void FatTable::apply_deferred() {
  auto pending = std::move(deferred_);
  deferred_.clear();
  for (const auto& [c, value] : pending) {
    set(c, value);
    if (value == free_entry && c < hint_) hint_ = c;
  }
}

void FatTable::begin_undo() {
  undo_ = Undo{};
  undo_.deferred = deferred_;
  undo_.dirty_lo = dirty_lo_;
  undo_.dirty_hi = dirty_hi_;
  undo_.dirty_any = dirty_any_;
  undo_.free_count = free_count_;
  undo_.hint = hint_;
  recording_ = true;
}

void FatTable::commit_undo() {
  recording_ = false;
  undo_ = Undo{};
}

void FatTable::rollback_undo() {
  recording_ = false;
  for (auto it = undo_.entries.rbegin(); it != undo_.entries.rend(); ++it) {
    entries_[it->first] = it->second;
    encode(it->first, it->second);  // the bytes as they were (FAT12 pairs restored in reverse order)
  }
  for (std::size_t sector : undo_.newly_dirty) dirty_sectors_[sector] = false;
  deferred_ = std::move(undo_.deferred);
  dirty_lo_ = undo_.dirty_lo;
  dirty_hi_ = undo_.dirty_hi;
  dirty_any_ = undo_.dirty_any;
  free_count_ = undo_.free_count;
  hint_ = undo_.hint;
  undo_ = Undo{};
}

void FatTable::mark_all_dirty() {
  dirty_sectors_.assign(dirty_sectors_.size(), true);
  dirty_lo_ = 0;
  dirty_hi_ = dirty_sectors_.size() - 1;
  dirty_any_ = true;
}

void FatTable::flush() {
  if (!dirty_any_) return;
  const std::uint32_t bps = geometry_.bytes_per_sector;
  std::size_t n = std::min(dirty_sectors_.size(), dirty_hi_ + 1);
  for (std::size_t s = dirty_lo_; s < n;) {
    if (!dirty_sectors_[s]) {
      ++s;
      continue;
    }
    std::size_t e = s;
    while (e < n && dirty_sectors_[e]) dirty_sectors_[e++] = false;
    ByteSpan run(raw_.data() + s * bps, (e - s) * bps);
    for (std::uint32_t copy = 0; copy < geometry_.fat_count; ++copy)
      device_.write(geometry_.fat_offset(copy) + s * bps, run);
    s = e;
  }
  dirty_any_ = false;
  dirty_lo_ = SIZE_MAX;
  dirty_hi_ = 0;
}

}  // namespace bootmirror::fat
