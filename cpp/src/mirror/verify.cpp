// Comparing a mirror's plexes: every in-sync plex hashed region by region with XXH3-128 (one
// thread per plex, so two plexes on two disks are read and hashed at once), then the regions where
// the hashes disagree, merged into runs. A region that is a hole on a plex's image is zeros there,
// and takes the hash of zeros without being read.
#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <exception>
#include <new>
#include <thread>

#include <fmt/format.h>

#include "bootmirror/error.h"
#include "bootmirror/mirror.h"
#include "core/xxh3.h"
#include "bootmirror/aligned_buffer.h"

namespace bootmirror::mirror {

namespace {

using Hash = std::array<std::uint64_t, 2>;

Hash hash_of(ByteSpan bytes) {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return Hash{h.low64, h.high64};
}

// Reads are this size at most: a piece read is hashed while it is still in the core's L2 cache
// (2 MiB here, shared with the page cache's copy), which measured faster than whole 1 MiB or
// larger regions. The hash streams over the pieces, so a region's hash is the same either way.
constexpr std::size_t kPieceBytes = 256 * 1024;

struct StreamState {
  XXH3_state_t* state = XXH3_createState();
  ~StreamState() { XXH3_freeState(state); }
};

}  // namespace

VerifyReport verify(VolumeDevice& volume, std::uint64_t region_bytes, const ProgressCallback& progress) {
  const std::uint32_t ss = volume.sector_size();
  if (region_bytes < ss || region_bytes % ss != 0 || region_bytes > (1u << 30))
    throw UsageError(fmt::format("a verify region is a whole number of {}-byte sectors up to 1 GiB, not {}", ss, region_bytes));
  VerifyReport report;
  report.region_bytes = region_bytes;
  std::vector<std::size_t> plexes;
  for (std::size_t i = 0; i < volume.plex_count(); ++i)
    if (volume.plexes()[i].state == PlexState::in_sync) plexes.push_back(i), report.plexes.push_back(volume.layout(i).name);
  if (plexes.empty()) throw OsError(EIO, volume.name(), "verify (no plex of the volume can be read)");
  const std::uint64_t total = volume.size();
  const std::size_t regions = std::size_t((total + region_bytes - 1) / region_bytes);
  report.hashes.assign(plexes.size(), std::vector<Hash>(regions));

  AlignedBuffer zeros(std::size_t(std::min<std::uint64_t>(region_bytes, std::max<std::uint64_t>(total, 1))));
  std::fill(zeros.span().begin(), zeros.span().end(), std::byte{0});
  const Hash zero_hash = hash_of(zeros.span());
  const std::uint64_t tail = total % region_bytes;
  const Hash zero_tail = tail ? hash_of(zeros.span().first(std::size_t(tail))) : zero_hash;

  std::atomic<std::uint64_t> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::exception_ptr> errors(plexes.size());
  auto hash_plex = [&](std::size_t k) {
    try {
      const std::size_t plex = plexes[k];
      const std::vector<Extent> data = volume.plex_extents(plex);
      std::size_t next = 0;
      AlignedBuffer buffer(std::min(zeros.size(), kPieceBytes));
      StreamState stream;
      if (!stream.state) throw std::bad_alloc();
      for (std::size_t r = 0; r < regions && !stop; ++r) {
        const std::uint64_t at = std::uint64_t(r) * region_bytes, n = std::min(region_bytes, total - at);
        while (next < data.size() && data[next].offset + data[next].length <= at) ++next;
        if (next < data.size() && data[next].offset < at + n) {
          XXH3_128bits_reset(stream.state);
          for (std::uint64_t piece = 0; piece < n;) {
            auto part = buffer.span().first(std::size_t(std::min<std::uint64_t>(buffer.size(), n - piece)));
            volume.read_plex(plex, at + piece, part);
            XXH3_128bits_update(stream.state, part.data(), part.size());
            piece += part.size();
          }
          const XXH128_hash_t h = XXH3_128bits_digest(stream.state);
          report.hashes[k][r] = Hash{h.low64, h.high64};
        } else {
          report.hashes[k][r] = n == region_bytes ? zero_hash : zero_tail;
        }
        done += n;
      }
    } catch (...) {
      errors[k] = std::current_exception();
      stop = true;
    }
  };
  std::vector<std::thread> workers;
  for (std::size_t k = 0; k < plexes.size(); ++k) workers.emplace_back(hash_plex, k);
  // This thread reports progress (over all plexes' bytes) while the workers hash. The callback's
  // own error stops them and is raised once they have ended (a thread left running would end the
  // process).
  const std::uint64_t all = total * plexes.size();
  std::exception_ptr reporting;
  if (progress) {
    try {
      while (done < all && !stop) {
        if (!progress(Progress{done, all})) stop = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    } catch (...) {
      reporting = std::current_exception();
      stop = true;
    }
  }
  for (auto& w : workers) w.join();
  if (reporting) std::rethrow_exception(reporting);
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  // A stop asked for after the last region was hashed cancels nothing.
  if (stop && done < all) throw UsageError(fmt::format("verify of {} was cancelled", volume.name()));

  for (std::size_t r = 0; r < regions; ++r) {
    bool same = true;
    for (std::size_t k = 1; k < plexes.size(); ++k) same &= report.hashes[k][r] == report.hashes[0][r];
    if (same) continue;
    const std::uint64_t at = std::uint64_t(r) * region_bytes, n = std::min(region_bytes, total - at);
    if (!report.mismatches.empty() && report.mismatches.back().offset + report.mismatches.back().length == at)
      report.mismatches.back().length += n;
    else
      report.mismatches.push_back(Mismatch{at, n});
  }
  return report;
}

}  // namespace bootmirror::mirror
