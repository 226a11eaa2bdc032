// Copying a volume into a plex that is being rebuilt (diskpart's "Rebuild"): chunk by chunk from
// the cursor to the end, while the volume stays in use. VolumeDevice keeps the two sides in step:
// writes below the cursor reach the new plex, writes above it are copied when the cursor gets there,
// and a range that was a hole on both sides is skipped unless a write has landed in it since.
// Then the copy is verified against the source, range by range on both cores (VolumeDevice::
// same_bytes), and only a verified plex is marked in sync.
#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include <fmt/format.h>

#include "bootmirror/error.h"
#include "bootmirror/extents.h"
#include "bootmirror/mirror.h"
#include "bootmirror/aligned_buffer.h"
#include "mirror/checkpoint_flusher.h"

namespace bootmirror::mirror {

namespace {

void flush_plex(const VolumeDevice& volume, std::size_t plex) {
  const std::vector<DevicePtr> devices = volume.devices();
  std::vector<bool> done(devices.size());
  // A device that is gone (its disk failed under the copy) has nothing left to flush.
  for (const Run& r : volume.layout(plex).runs)
    if (r.device < devices.size() && devices[r.device] && !done[r.device]) done[r.device] = true, devices[r.device]->flush();
}

}  // namespace

bool rebuild(VolumeDevice& volume, std::size_t plex, std::uint64_t cursor, const RebuildOptions& options) {
  const std::uint64_t generation = volume.generation();
  if (plex >= volume.plex_count()) throw UsageError(fmt::format("volume {} has no plex {}", volume.name(), plex));
  const std::size_t source = volume.source_plex(plex);
  if (source == volume.plex_count()) throw UsageError("The volume has no healthy copy to mirror from.");
  const std::uint64_t total = volume.size();
  const std::uint64_t chunk = std::max<std::uint64_t>(volume.sector_size(), options.chunk_bytes / volume.sector_size() * volume.sector_size());
  volume.start_rebuild(plex, std::min(cursor, total) / volume.sector_size() * volume.sector_size());
  cursor = volume.plexes().at(plex).cursor / volume.sector_size() * volume.sector_size();
  // What holds data on either side, in whole sectors, with short gaps closed: a chunk copies these
  // and leaves the holes between them alone, so a sparse plex stays sparse without a copy call per
  // scattered block (copying each 4 MiB chunk whole around NTFS's scattered metadata made the
  // shadow of a fresh C: three times the size of its source).
  constexpr std::uint64_t kCopyGap = 64 * 1024;
  const std::vector<Extent> data =
      coalesce_extents(volume.plex_extents(source), volume.plex_extents(plex), volume.sector_size(), kCopyGap);
  AlignedBuffer buffer(std::size_t(std::min(chunk, std::max<std::uint64_t>(total, 1))));
  std::uint64_t since_checkpoint = 0;
  // A cursor is recorded only for the plexes the copy began with: after a reconfiguration (a
  // disk failed, the mirror was broken) it would describe a copy that is no longer under way.
  auto make_durable = [&](std::uint64_t at) {
    if (volume.generation() != generation) return;
    flush_plex(volume, plex);
    if (options.checkpoint) options.checkpoint(at);
  };
  // Checkpoints along the way are made by the flusher while the copy goes on; the one the copy
  // stops at (the end, or a stop) waits for it and is made here.
  CheckpointFlusher flusher(make_durable);
  auto checkpoint = [&](std::uint64_t at) {
    flusher.drain();
    make_durable(at);
    since_checkpoint = 0;
  };
  // Asked before the first chunk as well: a caller holding the copy (a speed limit of 0) gets
  // nothing copied.
  if (options.progress && !options.progress(Progress{cursor, total})) return false;
  try {
    for (std::uint64_t at = cursor; at < total;) {
      const std::uint64_t n = std::min(chunk, total - at);
      // A piece with nothing to copy (a hole on both sides, or outside the ranges asked for) is
      // skipped unless a write has landed in it since the copy began.
      auto copy_unless_hole = [&](std::uint64_t from, std::uint64_t length) {
        if (!volume.skip_hole(generation, plex, from, length)) volume.copy_chunk(generation, plex, from, length, buffer.span());
      };
      auto copy = [&](std::uint64_t from, std::uint64_t length, bool wanted) {
        const std::uint64_t end = from + length;
        if (wanted)
          for (const Extent& e : extents_within(data, from, length)) {
            if (e.offset > from) copy_unless_hole(from, e.offset - from);
            volume.copy_chunk(generation, plex, e.offset, e.length, buffer.span());
            from = e.offset + e.length;
          }
        if (from < end) copy_unless_hole(from, end - from);
      };
      if (!options.only) {
        copy(at, n, true);
      } else {
        std::uint64_t from = at;
        for (const Extent& e : extents_within(*options.only, at, n)) {
          if (e.offset > from) copy(from, e.offset - from, false);
          copy(e.offset, e.length, true);
          from = e.offset + e.length;
        }
        if (from < at + n) copy(from, at + n - from, false);
      }
      at += n;
      since_checkpoint += n;
      if (since_checkpoint >= options.checkpoint_bytes && at < total) flusher.post(at), since_checkpoint = 0;
      if (options.progress && !options.progress(Progress{at, total})) {
        checkpoint(at);
        return false;
      }
    }
    // The copy is made durable by the flusher while it is verified here: the disk's write-back and
    // the compare (from the page cache, mostly) overlap instead of following each other.
    flusher.post(total);
    // Verified before it serves: both sides read back and compared, a piece at a time small enough
    // that both pieces stay in the core's L2 cache for the compare (measured: twice as fast as
    // comparing whole 4 MiB chunks, which spill to memory). Each core compares half of the volume:
    // on one, the compare's reads from the page cache outlasted the disk's write-back of the copy.
    constexpr std::uint64_t kComparePiece = 256 * 1024;
    const std::size_t piece = std::size_t(std::min<std::uint64_t>(buffer.size(), std::max<std::uint64_t>(volume.sector_size(), kComparePiece)));
    const std::vector<Extent> source_extents = volume.plex_extents(source), target_extents = volume.plex_extents(plex);
    // The first half's error is the one reported (the first piece that differs); once it has one,
    // the second half stops at its next chunk.
    std::atomic<bool> first_half_failed{false};
    auto compare = [&](std::uint64_t from, std::uint64_t to, bool second) {
      AlignedBuffer mine{piece}, theirs{piece};
      ExtentCursor source_now(source_extents), target_now(target_extents);
      std::optional<ExtentCursor> compared;
      if (options.only) compared.emplace(*options.only);
      std::size_t from_plex = source;
      for (std::uint64_t at = from; at < to && !(second && first_half_failed);) {
        const std::uint64_t n = std::min(chunk, to - at);
        if ((!compared || compared->holds_data(at, n)) && (source_now.holds_data(at, n) || target_now.holds_data(at, n)))
          for (std::uint64_t p = at; p < at + n; p += piece) {
            const std::uint64_t m = std::min<std::uint64_t>(piece, at + n - p);
            // Bytes that differ because a side failed under the compare (a write's error) are
            // that failure, not a bad copy: the target's ends the rebuild as its error, and a
            // failed source gives way to the next in-sync plex.
            while (!volume.same_bytes(generation, from_plex, plex, p, m, mine.span(), theirs.span())) {
              volume.check_rebuilding(generation, plex);
              const std::size_t now = volume.source_plex(plex);
              if (now == from_plex)
                throw FormatError(fmt::format("plex {} differs from plex {} after its rebuild, at volume bytes {}+{}",
                                              volume.layout(plex).name, volume.layout(from_plex).name, p, m));
              if (now == volume.plex_count()) throw OsError(EIO, volume.name(), "rebuild (no plex to compare with)");
              from_plex = now;
            }
          }
        at += n;
      }
    };
    const std::uint64_t middle = total / 2 / chunk * chunk;
    std::exception_ptr second_half;
    std::thread helper([&] {
      try {
        compare(middle, total, true);
      } catch (...) {
        second_half = std::current_exception();
      }
    });
    try {
      compare(0, middle, false);
    } catch (...) {
      first_half_failed = true;
      helper.join();
      throw;
    }
    helper.join();
    if (second_half) std::rethrow_exception(second_half);
    flusher.drain();
  } catch (const OsError& e) {
    // A checkpoint posted before the error still counts: the bytes below it were written, so the
    // resync that follows starts there rather than at the one before it. Its own failure is left
    // unsaid; the copy's error is the one to report.
    try {
      flusher.drain();
    } catch (const std::exception&) {
    }
    // Which side failed: a source that failed is already marked (the copy reads another plex
    // while there is one), and so is a target a write failed; an error here is the target's.
    if (volume.generation() != generation) throw Reconfigured(e.what());
    if (volume.source_plex(plex) != volume.plex_count() && volume.plexes().at(plex).state == PlexState::rebuilding)
      volume.fail(plex, e.what());
    throw;
  }
  volume.mark_in_sync(plex, generation);
  return true;
}

}  // namespace bootmirror::mirror
