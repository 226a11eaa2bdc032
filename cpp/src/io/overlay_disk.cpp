#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "bootmirror/io.h"

namespace bootmirror {

OverlayDisk::OverlayDisk(DevicePtr base) : base_(std::move(base)) {
  if (!base_) throw UsageError("an overlay needs a base device");
}

std::string OverlayDisk::name() const { return fmt::format("overlay of {}", base_->name()); }

std::uint64_t OverlayDisk::overlay_bytes() const {
  std::lock_guard lock(mutex_);
  return chunks_.size() * kChunk;
}

ByteVector& OverlayDisk::chunk_for_write(std::uint64_t index) {
  auto it = chunks_.find(index);
  if (it != chunks_.end()) return it->second;
  // The chunk starts as the base holds it; the last chunk may be shorter than kChunk.
  const std::uint64_t start = index * kChunk;
  ByteVector bytes(std::size_t(std::min(kChunk, size() - start)));
  base_->read(start, bytes);
  return chunks_.emplace(index, std::move(bytes)).first->second;
}

void OverlayDisk::do_read(std::uint64_t offset, MutableByteSpan out) {
  std::lock_guard lock(mutex_);
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t at = offset + done, index = at / kChunk, within = at % kChunk;
    auto it = chunks_.find(index);
    // Runs of chunks the overlay does not hold are read from the base in one request.
    std::uint64_t run = kChunk - within;
    if (it == chunks_.end()) {
      auto next = chunks_.upper_bound(index);
      const std::uint64_t stop = next == chunks_.end() ? size() : next->first * kChunk;
      run = stop - at;
    }
    const std::size_t n = std::size_t(std::min<std::uint64_t>(run, out.size() - done));
    if (it == chunks_.end()) base_->read(at, out.subspan(done, n));
    else std::memcpy(out.data() + done, it->second.data() + within, n);
    done += n;
  }
}

void OverlayDisk::do_write(std::uint64_t offset, ByteSpan data) {
  std::lock_guard lock(mutex_);
  std::size_t done = 0;
  while (done < data.size()) {
    const std::uint64_t at = offset + done, index = at / kChunk, within = at % kChunk;
    const std::size_t n = std::size_t(std::min<std::uint64_t>(kChunk - within, data.size() - done));
    ByteVector& chunk = chunk_for_write(index);
    std::memcpy(chunk.data() + within, data.data() + done, n);
    done += n;
  }
}

std::vector<Extent> OverlayDisk::changed_extents(std::uint32_t granule) const {
  // Granules tile each chunk: a power of two up to the chunk (0 would never step on).
  if (granule == 0 || granule > kChunk || (granule & (granule - 1)))
    throw UsageError(fmt::format("changed_extents: a granule of {} bytes is not a power of two up to {}", granule, kChunk));
  std::lock_guard lock(mutex_);
  std::vector<Extent> out;
  ByteVector base;
  for (const auto& [index, bytes] : chunks_) {
    base.resize(bytes.size());
    base_->read(index * kChunk, base);
    // Granule by granule (kChunk is a multiple of every sector size): one that differs anywhere
    // is written whole.
    for (std::size_t at = 0; at < bytes.size(); at += granule) {
      const std::size_t n = std::min<std::size_t>(granule, bytes.size() - at);
      if (std::memcmp(bytes.data() + at, base.data() + at, n) == 0) continue;
      const std::uint64_t offset = index * kChunk + at;
      if (!out.empty() && out.back().offset + out.back().length == offset) out.back().length += n;
      else out.push_back(Extent{offset, n});
    }
  }
  return out;
}

std::vector<Extent> OverlayDisk::allocated_extents() const {
  std::vector<Extent> all = base_->allocated_extents();
  {
    std::lock_guard lock(mutex_);
    for (const auto& [index, bytes] : chunks_) all.push_back(Extent{index * kChunk, bytes.size()});
  }
  std::sort(all.begin(), all.end(), [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
  std::vector<Extent> merged;
  for (const Extent& e : all) {
    if (!merged.empty() && e.offset <= merged.back().offset + merged.back().length)
      merged.back().length = std::max(merged.back().length, e.offset + e.length - merged.back().offset);
    else
      merged.push_back(e);
  }
  return merged;
}

}  // namespace bootmirror
