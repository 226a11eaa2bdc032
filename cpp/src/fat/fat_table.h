// The File Allocation Table held in memory: one decoded entry per cluster for fast chain walks,
// the encoded bytes of the first copy beside it, and the sectors that changed. flush() writes
// only dirty sectors, to every copy, in runs.
#pragma once

#include <cstdint>
#include <cstddef>
#include <unordered_map>
#include <vector>

#include "bootmirror/fat.h"

namespace bootmirror::fat {

// A run of consecutive clusters.
struct Run {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};

class FatTable {
 public:
  static constexpr std::uint32_t free_entry = 0;
  static constexpr std::uint32_t end_of_chain = 0x0FFFFFFF;  // normalised for every type
  static constexpr std::uint32_t bad_cluster = 0x0FFFFFF7;

  // Reads copy `copy` of the FAT from the device.
  FatTable(BlockDevice& device, const Geometry& geometry, std::uint32_t copy = 0);

  // Entries with end-of-chain and bad marks normalised to the FAT32 values.
  std::uint32_t get(std::uint32_t cluster) const { return entries_[cluster]; }
  void set(std::uint32_t cluster, std::uint32_t value);
  bool valid_cluster(std::uint32_t c) const { return c >= 2 && c < limit_; }
  std::uint32_t limit() const { return limit_; }  // one past the last data cluster
  std::uint32_t free_count() const { return free_count_; }

  // The runs of the chain from `first`. FormatError if it loops, leaves the volume or meets a free
  // or bad cluster before its end. `max_clusters` bounds the walk.
  std::vector<Run> chain(std::uint32_t first, std::uint32_t max_clusters) const;
  // `count` free clusters linked after `after` (0 for a new chain), preferring one contiguous run.
  // Returns the runs in chain order. UsageError ("disk full") when there are not enough.
  std::vector<Run> allocate(std::uint32_t count, std::uint32_t after);
  // Frees the chain from `first` (tolerating damage: stops at anything that is not a cluster).
  // Frees and truncations are deferred: they reach the FAT only in apply_deferred(), which the
  // volume calls after the directory entries that stopped using those clusters are on the disk.
  // Until then the clusters are not reused, so a crash in between leaves lost clusters at worst,
  // never an entry whose clusters are free or belong to another file.
  void free_chain(std::uint32_t first);
  // Ends the chain at `last` and frees what followed it (deferred, as free_chain).
  void truncate_after(std::uint32_t last);
  void apply_deferred();
  bool has_deferred() const { return !deferred_.empty(); }

  void flush();  // dirty sectors to every copy
  bool dirty() const { return dirty_any_ || !deferred_.empty(); }
  bool sectors_dirty() const { return dirty_any_; }  // what flush() would write now

  // Undo for a failed operation: between begin_undo() and commit_undo(), every change is recorded;
  // rollback_undo() restores the entries, the encoded bytes, the dirty marks and the counts.
  void begin_undo();
  void commit_undo();
  void rollback_undo();
  void mark_all_dirty();
  const std::vector<std::byte>& raw() const { return raw_; }
  std::uint32_t next_free_hint() const { return hint_; }

 private:
  std::uint32_t decode(std::uint32_t cluster) const;
  void encode(std::uint32_t cluster, std::uint32_t value);

  BlockDevice& device_;
  Geometry geometry_;
  std::vector<std::uint32_t> entries_;
  std::unordered_map<std::uint32_t, std::uint32_t> deferred_;  // cluster -> value to store later
  std::vector<std::byte> raw_;
  std::vector<bool> dirty_sectors_;
  bool dirty_any_ = false;
  std::size_t dirty_lo_ = SIZE_MAX, dirty_hi_ = 0;  // the dirty sectors lie in [lo, hi]: flush scans only that
  std::uint32_t limit_;
  std::uint32_t free_count_ = 0;
  std::uint32_t hint_ = 2;

  struct Undo {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> entries;  // cluster, old value
    std::vector<std::size_t> newly_dirty;                          // sectors clean before
    std::unordered_map<std::uint32_t, std::uint32_t> deferred;
    std::size_t dirty_lo = 0, dirty_hi = 0;
    bool dirty_any = false;
    std::uint32_t free_count = 0, hint = 0;
  };
  bool recording_ = false;
  Undo undo_;
};

}  // namespace bootmirror::fat
