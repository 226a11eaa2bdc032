#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/io.h"

namespace bootmirror {

Slice::Slice(DevicePtr parent, std::uint64_t offset, std::uint64_t length)
    : parent_(std::move(parent)), offset_(offset), length_(length) {
  if (!parent_) throw UsageError("a slice needs a parent device");
  if (offset > parent_->size() || parent_->size() - offset < length)
    throw UsageError(fmt::format("slice [{}, +{}) lies outside {} ({} bytes)", offset, length, parent_->name(),
                                 parent_->size()));
}

std::string Slice::name() const { return fmt::format("{}[{}:+{}]", parent_->name(), offset_, length_); }

void Slice::do_read(std::uint64_t offset, MutableByteSpan out) { parent_->read(offset_ + offset, out); }

void Slice::do_write(std::uint64_t offset, ByteSpan data) { parent_->write(offset_ + offset, data); }

std::vector<Extent> Slice::allocated_extents() const {
  std::vector<Extent> extents;
  const std::uint64_t end = offset_ + length_;
  for (const Extent& e : parent_->allocated_extents()) {
    std::uint64_t lo = std::max(e.offset, offset_), hi = std::min(e.offset + e.length, end);
    if (lo < hi) extents.push_back(Extent{lo - offset_, hi - lo});
  }
  return extents;
}

std::uint32_t hidden_sectors_of(const BlockDevice& device) {
  if (auto* slice = dynamic_cast<const Slice*>(&device)) {
    const std::uint64_t s = slice->offset() / device.sector_size();
    return s > 0xFFFFFFFF ? 0xFFFFFFFF : std::uint32_t(s);
  }
  return 0;
}

}  // namespace bootmirror
