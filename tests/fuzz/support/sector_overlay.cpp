#include "support/sector_overlay.h"

#include "support/harness.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace bootmirror::fuzz {

SectorOverlay::SectorOverlay(std::uint64_t size, std::uint32_t sector_size) : size_(size), sector_size_(sector_size) {
  check_sector_size(sector_size);
  if (size == 0 || size % sector_size != 0)
    throw UsageError(fmt::format("overlay size {} is not a whole number of {}-byte sectors", size, sector_size));
}

SectorOverlay::SectorOverlay(std::shared_ptr<const ByteVector> base, std::uint32_t sector_size)
    : SectorOverlay(base ? base->size() : 0, sector_size) {
  base_ = std::move(base);
}

void SectorOverlay::base_sector(std::uint64_t sector, MutableByteSpan out) const {
  if (base_) std::memcpy(out.data(), base_->data() + sector * sector_size_, sector_size_);
  else std::fill(out.begin(), out.end(), std::byte{0});
}

void SectorOverlay::copy_out(std::uint64_t offset, MutableByteSpan out) const {
  if (base_) std::memcpy(out.data(), base_->data() + offset, out.size());
  else std::fill(out.begin(), out.end(), std::byte{0});
  const std::uint64_t end = offset + out.size();
  for (auto it = sectors_.lower_bound(offset / sector_size_); it != sectors_.end(); ++it) {
    const std::uint64_t start = it->first * sector_size_;
    if (start >= end) break;
    const std::uint64_t from = std::max(start, offset), to = std::min(start + sector_size_, end);
    std::memcpy(out.data() + (from - offset), it->second.data() + (from - start), to - from);
  }
}

void SectorOverlay::do_read(std::uint64_t offset, MutableByteSpan out) { copy_out(offset, out); }

void SectorOverlay::do_write(std::uint64_t offset, ByteSpan data) {
  ++writes_;
  const std::uint64_t end = offset + data.size();
  for (std::uint64_t sector = offset / sector_size_; sector * sector_size_ < end; ++sector) {
    const std::uint64_t start = sector * sector_size_;
    auto [it, fresh] = sectors_.try_emplace(sector);
    if (fresh) {
      it->second.resize(sector_size_);
      base_sector(sector, it->second);
    }
    const std::uint64_t from = std::max(start, offset), to = std::min(start + sector_size_, end);
    std::memcpy(it->second.data() + (from - start), data.data() + (from - offset), to - from);
    // Over zeros, a sector written back to zeros costs nothing: copies of empty areas (a mirror
    // resynchronising a blank plex) stay small.
    if (!base_ && all_zero(it->second)) sectors_.erase(it);
  }
}

std::vector<Extent> SectorOverlay::allocated_extents() const {
  if (base_) return BlockDevice::allocated_extents();
  std::vector<Extent> extents;
  for (const auto& [sector, bytes] : sectors_) {
    const std::uint64_t at = sector * sector_size_;
    if (!extents.empty() && extents.back().offset + extents.back().length == at) extents.back().length += sector_size_;
    else extents.push_back(Extent{at, sector_size_});
  }
  return extents;
}

ByteVector SectorOverlay::contents() const {
  ByteVector out(size_);
  copy_out(0, out);
  return out;
}

}  // namespace bootmirror::fuzz
