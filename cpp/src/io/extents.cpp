// Extent lists (see bootmirror/extents.h).
#include "bootmirror/aligned_buffer.h"
#include "bootmirror/extents.h"

#include <algorithm>
#include <iterator>

namespace bootmirror {

std::vector<Extent> extents_within(const std::vector<Extent>& ranges, std::uint64_t offset, std::uint64_t length) {
  std::vector<Extent> out;
  auto it = std::upper_bound(ranges.begin(), ranges.end(), offset,
                             [](std::uint64_t at, const Extent& e) { return at < e.offset + e.length; });
  for (; it != ranges.end() && it->offset < offset + length; ++it) {
    const std::uint64_t lo = std::max(it->offset, offset), hi = std::min(it->offset + it->length, offset + length);
    if (lo < hi) out.push_back(Extent{lo, hi - lo});
  }
  return out;
}

std::vector<Extent> subtract_extents(const std::vector<Extent>& ranges, const std::vector<Extent>& minus) {
  std::vector<Extent> out;
  std::size_t j = 0;
  for (const Extent& r : ranges) {
    std::uint64_t from = r.offset;
    const std::uint64_t end = r.offset + r.length;
    while (j < minus.size() && minus[j].offset + minus[j].length <= from) ++j;
    for (std::size_t k = j; k < minus.size() && minus[k].offset < end; ++k) {
      if (minus[k].offset > from) out.push_back({from, minus[k].offset - from});
      from = std::max(from, minus[k].offset + minus[k].length);
    }
    if (from < end) out.push_back({from, end - from});
  }
  return out;
}

std::vector<Extent> coalesce_extents(const std::vector<Extent>& a, const std::vector<Extent>& b, std::uint64_t grain,
                                     std::uint64_t min_gap) {
  std::vector<Extent> all;
  all.reserve(a.size() + b.size());
  std::merge(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(all),
             [](const Extent& x, const Extent& y) { return x.offset < y.offset; });
  std::vector<Extent> out;
  for (const Extent& e : all) {
    const std::uint64_t lo = e.offset / grain * grain, hi = (e.offset + e.length + grain - 1) / grain * grain;
    if (!out.empty() && lo <= out.back().offset + out.back().length + min_gap)
      out.back().length = std::max(out.back().offset + out.back().length, hi) - out.back().offset;
    else
      out.push_back({lo, hi - lo});
  }
  return out;
}

void copy_extents(BlockDevice& from, BlockDevice& to, const std::vector<Extent>& extents, ProgressMeter* meter) {
  AlignedBuffer buffer(std::size_t(1) << 20);
  for (const Extent& e : extents)
    for (std::uint64_t at = e.offset; at < e.offset + e.length;) {
      const MutableByteSpan piece(buffer.data(), std::size_t(std::min<std::uint64_t>(buffer.size(), e.offset + e.length - at)));
      from.read(at, piece);
      to.write(at, piece);
      at += piece.size();
      if (meter) meter->advance(piece.size());
    }
}

std::uint64_t extent_bytes(const std::vector<Extent>& extents) {
  std::uint64_t bytes = 0;
  for (const Extent& e : extents) bytes += e.length;
  return bytes;
}

void append_extent(std::vector<Extent>& list, std::uint64_t offset, std::uint64_t length) {
  if (!list.empty() && list.back().offset + list.back().length == offset) list.back().length += length;
  else list.push_back({offset, length});
}

}  // namespace bootmirror
