#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "bootmirror/io.h"

namespace bootmirror {

MemoryDisk::MemoryDisk(std::uint64_t size, std::uint32_t sector_size) : sector_size_(sector_size) {
  check_sector_size(sector_size);
  if (size == 0 || size % sector_size != 0)
    throw UsageError(fmt::format("disk size {} must be a positive multiple of the sector size {}", size, sector_size));
  if (size > bytes_.max_size()) throw UsageError(fmt::format("a memory disk of {} bytes is more than memory can address", size));
  bytes_.resize(size);
}

void MemoryDisk::do_read(std::uint64_t offset, MutableByteSpan out) {
  std::shared_lock lock(mutex_);
  std::memcpy(out.data(), bytes_.data() + offset, out.size());
}

void MemoryDisk::do_write(std::uint64_t offset, ByteSpan data) {
  std::unique_lock lock(mutex_);
  std::memcpy(bytes_.data() + offset, data.data(), data.size());
}

// Memory has no holes; report the sectors that hold something other than zeros, merged into
// runs, so that tests of sparse-aware code behave as they would on an image file.
std::vector<Extent> MemoryDisk::allocated_extents() const {
  std::shared_lock lock(mutex_);
  std::vector<Extent> extents;
  for (std::uint64_t at = 0; at < bytes_.size(); at += sector_size_) {
    if (is_all_zero(ByteSpan(bytes_).subspan(at, sector_size_))) continue;
    if (!extents.empty() && extents.back().offset + extents.back().length == at)
      extents.back().length += sector_size_;
    else
      extents.push_back(Extent{at, sector_size_});
  }
  return extents;
}

}  // namespace bootmirror
