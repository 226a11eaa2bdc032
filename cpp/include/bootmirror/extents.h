// Arithmetic on sorted, disjoint lists of byte ranges (Extent): which parts of a device hold
// data, are in use, or differ. Shared by the mirror's copies and the NTFS writers.
#pragma once

#include <cstdint>
#include <vector>

#include "bootmirror/io.h"

namespace bootmirror {

// "Does [offset, offset+length) touch one of the extents?", asked with ascending offsets: each
// question starts where the last one stopped, so a walk over a device costs one pass.
class ExtentCursor {
 public:
  explicit ExtentCursor(std::vector<Extent> extents) : extents_(std::move(extents)) {}
  bool holds_data(std::uint64_t offset, std::uint64_t length) {
    while (next_ < extents_.size() && extents_[next_].offset + extents_[next_].length <= offset) ++next_;
    return next_ < extents_.size() && extents_[next_].offset < offset + length;
  }

 private:
  std::vector<Extent> extents_;
  std::size_t next_ = 0;
};

// The parts of `ranges` inside [offset, offset+length).
std::vector<Extent> extents_within(const std::vector<Extent>& ranges, std::uint64_t offset, std::uint64_t length);
// `ranges` less `minus`.
std::vector<Extent> subtract_extents(const std::vector<Extent>& ranges, const std::vector<Extent>& minus);
// The union of two extent lists, each extent widened to whole `grain`s and gaps shorter than
// `min_gap` closed: the ranges worth a copy call each.
std::vector<Extent> coalesce_extents(const std::vector<Extent>& a, const std::vector<Extent>& b, std::uint64_t grain,
                                     std::uint64_t min_gap);
// Copies each extent of `from` to the same place on `to`, a megabyte at a time, each megabyte
// counted on `meter` when there is one.
void copy_extents(BlockDevice& from, BlockDevice& to, const std::vector<Extent>& extents, ProgressMeter* meter = nullptr);
// The bytes `extents` cover.
std::uint64_t extent_bytes(const std::vector<Extent>& extents);
// Adds [offset, offset+length) at the end of `list` (offsets ascending), merged with the last
// extent when they touch.
void append_extent(std::vector<Extent>& list, std::uint64_t offset, std::uint64_t length);

}  // namespace bootmirror
