// $Bitmap (record 6): one bit per cluster, set when the cluster is in use (ntfs-3g layout.h,
// FILE_Bitmap; bit i of byte j is cluster 8j+i). What format and install_tree copy, and what the
// free space is.
#include <bit>

#include <fmt/format.h>

#include "bootmirror/ntfs.h"
#include "ntfs/volume_state.h"

namespace bootmirror::ntfs {

namespace {

constexpr std::uint64_t kBitmapRecord = 6;

// Calls `each(first_cluster, count)` for each run of clusters in use, in order.
template <typename Each>
void for_each_used_run(const Volume& volume, Each each) {
  const std::uint64_t clusters = volume.cluster_count();
  const std::uint64_t bytes_needed = (clusters + 7) / 8;
  ByteVector piece(std::size_t(1) << 20);
  std::uint64_t run_start = 0, run_length = 0;
  for (std::uint64_t at = 0; at < bytes_needed; at += piece.size()) {
    const std::size_t want = std::size_t(std::min<std::uint64_t>(piece.size(), bytes_needed - at));
    if (volume.read_data(kBitmapRecord, at, MutableByteSpan(piece.data(), want)) < want)
      throw FormatError(fmt::format("NTFS: $Bitmap holds {} bytes, short of the {} its {} clusters need", at, bytes_needed, clusters));
    for (std::size_t i = 0; i < want; ++i) {
      const auto byte = std::to_integer<unsigned>(piece[i]);
      for (unsigned bit = 0; bit < 8; ++bit) {
        const std::uint64_t cluster = (at + i) * 8 + bit;
        if (cluster >= clusters) break;
        if (byte >> bit & 1) {
          if (run_length && run_start + run_length == cluster) ++run_length;
          else {
            if (run_length) each(run_start, run_length);
            run_start = cluster, run_length = 1;
          }
        }
      }
    }
  }
  if (run_length) each(run_start, run_length);
}

}  // namespace

std::vector<Extent> Volume::allocated_ranges() const {
  std::vector<Extent> out;
  const std::uint64_t cluster = cluster_bytes();
  for_each_used_run(*this, [&](std::uint64_t first, std::uint64_t count) { out.push_back({first * cluster, count * cluster}); });
  return out;
}

std::uint64_t Volume::free_clusters() const {
  std::uint64_t used = 0;
  for_each_used_run(*this, [&](std::uint64_t, std::uint64_t count) { used += count; });
  return cluster_count() - used;
}

}  // namespace bootmirror::ntfs
