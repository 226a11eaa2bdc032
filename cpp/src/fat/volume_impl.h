// The state behind a Volume: the device, its geometry, the FAT in memory, and a cache of the
// directories visited, each parsed once and written back sector by sector.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "bootmirror/fat.h"
#include "fat/boot_sector.h"
#include "fat/dir_entry.h"
#include "fat/fat_table.h"
#include "fat/names.h"

namespace bootmirror::fat {

// One live entry of a directory: its short entry and the long name stored before it.
struct DirNode {
  std::uint32_t slot = 0;       // index of the short entry
  std::uint32_t lfn_count = 0;  // long-name slots just before it
  ShortEntry entry;
  std::u16string long_name;     // empty when there is none
  std::string name() const;     // UTF-8, the long name or the short name as shown
  bool is_dir() const { return entry.attributes & attr::directory; }
};

// Something wrong in a folder's entries, found while parsing it (for check).
struct DirProblem {
  std::uint32_t first_slot = 0, slot_count = 0;
  std::string message;
  bool erasable = false;  // orphaned long-name entries: marking them deleted is safe
};

class Directory {
 public:
  // `first_cluster` 0 is the FAT12/16 fixed root region.
  Directory(Volume::Impl& volume, std::uint32_t first_cluster);

  std::uint32_t first_cluster() const { return first_cluster_; }
  bool fixed_root() const { return first_cluster_ == 0; }
  const std::vector<Run>& runs() const { return runs_; }
  const std::map<std::uint32_t, DirNode>& nodes() const { return nodes_; }
  const std::vector<DirProblem>& problems() const { return problems_; }
  std::optional<std::uint32_t> label_slot() const { return label_slot_; }
  // "." and ".." as found (nullopt when missing); ignored for the root.
  std::optional<std::uint32_t> dot_cluster, dotdot_cluster;

  DirNode* find(std::u16string_view name);
  // Adds an entry named `name` (short name chosen here, long-name entries when needed).
  DirNode& add(std::u16string_view name, ShortEntry entry);
  // Adds an entry with exactly this short name and no long name ('.', '..', the volume label).
  std::uint32_t add_raw(const ShortEntry& entry);
  void remove(std::uint32_t slot);
  void store(const DirNode& node);  // re-encodes a changed short entry
  void store_raw(std::uint32_t slot, const ShortEntry& entry);
  ShortEntry raw(std::uint32_t slot) const;
  void erase_slots(std::uint32_t first, std::uint32_t count);  // marks them deleted (repair)
  std::uint32_t capacity() const { return std::uint32_t(buffer_.size() / entry_size); }

  void flush();
  bool dirty() const { return dirty_any_; }

 private:
  void parse();
  void index(const DirNode& node);
  void unindex(const DirNode& node);
  std::uint32_t reserve_slots(std::uint32_t count);
  void grow();
  void mark(std::uint32_t slot, std::uint32_t count);
  std::uint64_t device_offset(std::uint64_t byte) const;

  Volume::Impl& volume_;
  std::uint32_t first_cluster_;
  std::vector<Run> runs_;
  ByteVector buffer_;
  std::vector<bool> dirty_;
  bool dirty_any_ = false;
  std::map<std::uint32_t, DirNode> nodes_;
  std::unordered_map<std::u16string, std::uint32_t> by_name_;
  std::unordered_set<std::string> short_names_;
  std::uint32_t end_slot_ = 0;
  std::uint32_t deleted_ = 0;
  std::optional<std::uint32_t> label_slot_;
  std::vector<DirProblem> problems_;
};

struct FileState {
  std::uint32_t dir = 0;   // first cluster of the folder that holds the entry (0: fixed root)
  std::uint32_t slot = 0;
  std::uint32_t first_cluster = 0;
  std::uint64_t size = 0;
  std::vector<Run> runs;
  std::vector<std::uint64_t> run_starts;  // byte offset of each run within the file
  bool writable = false;
  bool entry_dirty = false;
};

struct Volume::Impl {
  DevicePtr device;
  Geometry geometry;
  BootSector boot;
  std::unique_ptr<FatTable> fat;
  std::recursive_mutex mutex;
  std::unordered_map<std::uint32_t, std::unique_ptr<Directory>> directories;
  std::vector<std::weak_ptr<FileState>> open_files;
  bool fsinfo_present = false;
  FsInfo fsinfo;
  // Set once the FAT is written (or a repair asks): only then does flush() rewrite FSInfo, so that
  // opening, reading and checking a volume write nothing, even when FSInfo's hints are stale.
  bool fsinfo_stale = false;
  bool detached = false;  // set by Volume::detach(): the file system was reformatted or unmounted

  // Locks the volume for one operation; UsageError once it has been detached.
  std::unique_lock<std::recursive_mutex> guard();

  std::uint32_t root_key() const { return geometry.type == FatType::fat32 ? geometry.root_cluster : 0; }
  std::uint32_t max_dir_clusters() const;  // 65,536 entries at most (fatgen103)
  Directory& directory(std::uint32_t key);
  // The folder a directory entry points to (first cluster 0 means the root, as in "..").
  std::uint32_t dir_key(const ShortEntry& e) const { return e.first_cluster == 0 ? root_key() : e.first_cluster; }

  struct Location {
    Directory* parent = nullptr;  // null for the root itself
    DirNode* node = nullptr;
  };
  // Resolves a path; OsError ENOENT / ENOTDIR as Windows would report.
  Location locate(const std::string& path, const std::vector<std::string>& parts);
  Directory& folder(const std::string& path);  // the directory a path names
  Directory& parent_of(const std::string& path, const std::vector<std::string>& parts);
  Entry to_entry(const DirNode& node) const;

  std::uint32_t clusters_for(std::uint64_t bytes) const {
    return std::uint32_t((bytes + geometry.cluster_size() - 1) / geometry.cluster_size());
  }
  bool is_open(std::uint32_t dir, std::uint32_t slot);
  // UsageError before any change is made in memory when the device cannot be written.
  void require_writable() const;
  // Writes `data` over the clusters of `runs` from byte `offset` of the chain, in contiguous pieces.
  void write_runs(const std::vector<Run>& runs, std::uint64_t offset, ByteSpan data);
  void read_runs(const std::vector<Run>& runs, std::uint64_t offset, MutableByteSpan out);
  void zero_runs(const std::vector<Run>& runs, std::uint64_t offset, std::uint64_t length);
  std::uint32_t mkdir_in(Directory& parent, std::u16string_view name);  // returns the new folder's cluster
  // A new file (replacing a file of that name) of `size` bytes, filled by `fill(offset, out)`,
  // its clusters allocated at once so that they form one run when free space allows. `entry`
  // gives attributes and times. The entry is added only after the data is on the device.
  void create_file(Directory& dir, std::u16string_view name, std::uint64_t size,
                   const std::function<void(std::uint64_t, MutableByteSpan)>& fill, ShortEntry entry,
                   ByteVector& buffer);

  // Write-combining for bulk copies: small files whose clusters follow one another on the device
  // are gathered (padded to whole clusters) and written in one request of up to 8 MiB, instead of
  // one request each. Staged bytes reach the device before any metadata (flush) and before any
  // read of the data area.
  struct Staging {
    std::uint64_t device_offset = 0;
    ByteVector bytes;
  };
  Staging staging;
  void flush_staging();

  // Flushes when a bulk operation ends, by return or by exception: what was copied before a
  // failure is on the disk, consistent, and the caller sees the failure.
  struct FlushOnExit {
    Impl& impl;
    ~FlushOnExit() {
      try {
        impl.flush();
      } catch (...) {
      }
    }
  };
  void flush();  // FAT copies, then directories, then FSInfo
};

std::vector<std::uint64_t> run_starts(const std::vector<Run>& runs, std::uint32_t cluster_size);

}  // namespace bootmirror::fat
