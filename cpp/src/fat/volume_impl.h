// The state behind a Volume: the device, its geometry, the FAT in memory, and a cache of the
// directories visited, each parsed once and written back sector by sector.
//
// Every public operation holds the volume's one lock (guard()) and runs as a Transaction: its
// changes stay in memory until its last fallible step, and if it fails they are undone, so that a
// failed operation writes nothing (or, when the device itself fails mid-write, the cache is read
// again from the disk).
#pragma once

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "bootmirror/aligned_buffer.h"
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
  std::u16string long_name;     // empty when there is none; may hold lone surrogates
  std::u16string short_text;    // the short name as shown (OEM code page, case flags applied)
  const std::u16string& wide_name() const { return long_name.empty() ? short_text : long_name; }
  std::string name() const { return utf16_to_wtf8(wide_name()); }  // WTF-8: opens this entry
  std::string shown() const { return wtf8_for_display(name()); }    // UTF-8, for messages
  bool is_dir() const { return entry.attributes & attr::directory; }
};

// Something wrong in a folder's entries, found while parsing it (for check).
struct DirProblem {
  // What repair does, as fsck.fat -a does: erase the slots (orphaned long-name entries, a label
  // outside the root, '.' or '..' out of place); give the entry a new short name (a name with
  // characters FAT forbids, a duplicate name); zero the slots after the end mark, which must be
  // zero (fatgen103 section 6) and which fsck.fat reads as entries; or zero a long-name entry's
  // LDIR_Type and LDIR_FstClusLO, which must be 0 (fatgen103 section 7).
  enum class Fix { erase, rename, zero_tail, lfn_fields };
  std::uint32_t first_slot = 0, slot_count = 0;
  std::string message;
  Fix fix = Fix::erase;
  const char* kind = "bad-entry";  // CheckProblem::kind: "bad-entry", "bad-name" or "duplicate-name"
};

class Directory {
 public:
  // `first_cluster` 0 is the FAT12/16 fixed root region. Reads and parses it from the device.
  Directory(Volume::Impl& volume, std::uint32_t first_cluster);
  // A new folder in a cluster just allocated: "." and ".." only, written by the next flush before
  // the FAT links anything to it.
  struct Fresh {
    std::uint32_t parent_cluster;  // for "..": 0 when the parent is the root
    ShortEntry stamp;              // times for both entries
  };
  Directory(Volume::Impl& volume, std::uint32_t first_cluster, const Fresh& fresh);

  std::uint32_t first_cluster() const { return first_cluster_; }
  bool fixed_root() const { return first_cluster_ == 0; }
  const std::vector<Run>& runs() const { return runs_; }
  const std::map<std::uint32_t, DirNode>& nodes() const { return nodes_; }
  // What parse() found wrong, duplicate names among it (which index the names first).
  const std::vector<DirProblem>& problems();
  std::optional<std::uint32_t> label_slot() const { return label_slot_; }
  // "." and ".." as found (nullopt when missing); ignored for the root.
  std::optional<std::uint32_t> dot_cluster, dotdot_cluster;

  DirNode* find(std::u16string_view name);
  // Adds an entry named `name` (short name chosen here, long-name entries when needed).
  DirNode& add(std::u16string_view name, ShortEntry entry);
  // The same for a name the caller has checked (check_long_name) and not found here.
  DirNode& add_absent(std::u16string_view name, ShortEntry entry);
  // Adds an entry with exactly this short name and no long name ('.', '..', the volume label).
  std::uint32_t add_raw(const ShortEntry& entry);
  void remove(std::uint32_t slot);
  void store(const DirNode& node);  // re-encodes a changed short entry (not its name)
  void store_raw(std::uint32_t slot, const ShortEntry& entry);
  ShortEntry raw(std::uint32_t slot) const;
  ByteSpan raw_bytes(std::uint32_t slot) const;
  void erase_slots(std::uint32_t first, std::uint32_t count);  // marks them deleted (repair)
  std::uint32_t capacity() const { return std::uint32_t(buffer_.size() / entry_size); }
  // Whether `count` more entries fit without growing (a fixed root cannot grow).
  bool has_room(std::uint32_t count) const;

  // Repair: gives an entry a new short name (its long-name entries get the new checksum).
  void rename_short(std::uint32_t slot, const ShortName& name);
  // Repair: makes slot `slot` hold `entry` ('.' or '..'), moving a live entry found there (with its
  // long name) to free slots first, the folder grown by a cluster if need be. False when it
  // cannot grow (a full volume or the 65,536-entry limit).
  bool place_dot(std::uint32_t slot, const ShortEntry& entry);
  // Repair: the entry keeps its short name only (its long-name slots are marked deleted).
  void drop_long_name(std::uint32_t slot);
  // Repair: the slots from `first` to the end, cleared when parsed, are written as zeros.
  void write_zero_tail(std::uint32_t first);
  // Repair: LDIR_Type and LDIR_FstClusLO of the long-name entry in `slot` become 0.
  void clear_lfn_fields(std::uint32_t slot);

  // The clusters not yet on the device (a new folder's, or those a folder grew by), in order.
  std::vector<std::uint32_t> fresh_clusters() const;
  // For a bulk copy's data pass (see Volume::Impl::SealedFolders): when `cluster` is the first of
  // this folder's clusters not yet on the device, its bytes are copied into `out` (to be written
  // with the files' data, in one request) and it counts as written. False otherwise.
  bool stage_fresh_cluster(std::uint32_t cluster, MutableByteSpan out);
  // Writes grown or new clusters (before the FAT links them), then the other dirty sectors.
  void flush_fresh();
  void flush();
  bool dirty() const { return dirty_any_ || fresh_from_ < buffer_.size(); }

  // Transaction support: the first change in an operation records the buffer's shape, each change
  // the old bytes of its slots; rollback() puts them back and parses the folder again.
  void rollback();
  void commit() { undo_.reset(); }

 private:
  void parse();
  void reset_parse();
  void report(std::uint32_t found_at, DirProblem problem);  // parse(): a problem met at slot `found_at`
  // The name tables are built on first use (a lookup, a change, problems()), not by parse(): a
  // folder only listed or exported, as every folder of a tree export is, never needs them, and
  // building and freeing them cost that export more than its folders' parsing otherwise did.
  void index_all();
  bool index(const DirNode& node);  // false when a name of it was in the table already
  void unindex(const DirNode& node);  // indexes all first: every change of a node's names starts here
  DirNode make_node(std::uint32_t slot, const ShortEntry& entry, std::u16string long_name, std::uint32_t lfn_count) const;
  std::uint32_t reserve_slots(std::uint32_t count);
  void grow();
  void mark(std::uint32_t slot, std::uint32_t count);
  void begin_change();
  void touch(std::uint32_t slot, std::uint32_t count);  // before changing the bytes of these slots
  MutableByteSpan slot_bytes(std::uint32_t slot) { return {buffer_.data() + std::size_t(slot) * entry_size, entry_size}; }
  std::uint64_t device_offset(std::uint64_t byte) const;
  void write_sectors(std::size_t first, std::size_t end);  // buffer sectors [first, end) to the device

  Volume::Impl& volume_;
  std::uint32_t first_cluster_;
  std::vector<Run> runs_;
  ByteVector buffer_;
  std::vector<bool> dirty_;
  bool dirty_any_ = false;
  std::map<std::uint32_t, DirNode> nodes_;
  // Names to slots, compared folded. A key views a name of the node its slot holds (nodes_'s nodes
  // never move), so the table copies no names; a node's names change only while it is out of the
  // table (unindex, change, index), and a node leaves nodes_ only after unindex.
  std::unordered_map<std::u16string_view, std::uint32_t, FoldedHash, FoldedEqual> by_name_;
  std::unordered_set<ShortName, ShortNameHash> short_names_;
  bool indexed_ = false;  // the two tables hold every node's names
  std::uint32_t end_slot_ = 0;
  std::uint32_t deleted_ = 0;
  std::optional<std::uint32_t> label_slot_;
  std::vector<DirProblem> problems_;
  std::vector<std::uint32_t> found_at_;  // until indexed: the slot parse() was at for each problem
  std::size_t fresh_from_ = SIZE_MAX;  // bytes from here are clusters not yet on the device
  struct Undo {
    std::size_t buffer_size = 0;
    std::vector<Run> runs;
    std::vector<bool> dirty;
    bool dirty_any = false;
    std::size_t fresh_from = 0;
    std::vector<std::pair<std::uint32_t, std::array<std::byte, entry_size>>> slots;
  };
  std::optional<Undo> undo_;
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
  const OemCodePage* codepage = &OemCodePage::default_page();  // 8.3 names and labels
  std::unique_ptr<FatTable> fat;
  std::recursive_mutex mutex;
  std::unordered_map<std::uint32_t, std::unique_ptr<Directory>> directories;
  std::vector<std::weak_ptr<FileState>> open_files;
  bool fsinfo_present = false;
  FsInfo fsinfo;
  bool fsinfo_due = false;  // FSInfo is rewritten only after a change to the FAT (or a repair)
  bool detached = false;     // set by Volume::detach(): the file system was reformatted or unmounted

  // Locks the volume for one operation; UsageError once it has been detached.
  std::unique_lock<std::recursive_mutex> guard();

  // What the running Transaction changed (see Transaction below).
  struct Changes {
    bool active = false;
    bool wrote_metadata = false;         // a flush reached the device: undo by reading it again
    std::vector<std::uint32_t> changed;  // directories with undo records
    std::vector<std::uint32_t> created;  // directories made in this operation
  };
  Changes changes;
  void rollback();  // undoes the running transaction's changes in memory
  void reload();    // drops the cache: the FAT and directories are read from the device again
  bool dirty() const;

  std::uint32_t root_key() const { return geometry.type == FatType::fat32 ? geometry.root_cluster : 0; }
  std::uint32_t max_dir_clusters() const;  // 65,536 entries at most (fatgen103)
  Directory& directory(std::uint32_t key);
  // A new folder's Directory, cached at once (it is on no device yet).
  Directory& create_directory(std::uint32_t cluster, const Directory::Fresh& fresh);
  // The folder a directory entry points to (first cluster 0 means the root, as in "..").
  std::uint32_t dir_key(const ShortEntry& e) const { return e.first_cluster == 0 ? root_key() : e.first_cluster; }

  // The deepest path the engine walks or makes: a Windows path has at most 260 characters, so a
  // deeper walk means a folder cycle, and a deeper tree is one no Windows program reaches.
  static constexpr std::size_t max_path_parts = 200;

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
  // Whether a handle has the file whose entry is `slot` of folder `dir` open (with `writers_only`,
  // a handle that may write it).
  bool is_open(std::uint32_t dir, std::uint32_t slot, bool writers_only = false);
  // UsageError before any change is made in memory when the device cannot be written.
  void require_writable() const;
  // Writes `data` over the clusters of `runs` from byte `offset` of the chain, in contiguous pieces.
  void write_runs(const std::vector<Run>& runs, std::uint64_t offset, ByteSpan data);
  void read_runs(const std::vector<Run>& runs, std::uint64_t offset, MutableByteSpan out);
  // The first `size` bytes of a chain into the host file `fd`: each contiguous piece copied in the
  // kernel where the device allows it (BlockDevice::copy_to_host) and `in_kernel` is still true,
  // else through `buffer`. A refusal sets `in_kernel` false, so that a bulk export to another file
  // system (where the kernel refuses every time) asks once.
  void copy_runs_to_host(const std::vector<Run>& runs, std::uint64_t size, int fd, const std::string& shown,
                         AlignedBuffer& buffer, bool& in_kernel);
  void zero_runs(const std::vector<Run>& runs, std::uint64_t offset, std::uint64_t length);
  std::uint32_t mkdir_in(Directory& parent, std::u16string_view name);  // returns the new folder's cluster
  // The folders of `parts` below the root, made as needed (in memory: the caller flushes).
  std::uint32_t make_dirs(const std::string& path, const std::vector<std::string>& parts);

  // A file about to be created in `dir` (replacing a file of that name): the entry is in the
  // directory and its clusters allocated, in memory only; nothing is on the device yet. Everything
  // that can refuse (names, space, a folder or read-only file in the way) refuses here.
  struct PlannedFile {
    std::uint32_t dir = 0, slot = 0;
    std::uint64_t size = 0;
    std::vector<Run> runs;
  };
  PlannedFile plan_file(Directory& dir, std::u16string_view name, std::uint64_t size, ShortEntry entry);
  // Writes a planned file's data, `fill(offset, out)` supplying it. Small files in one run are
  // staged (write-combined) behind the previous one.
  void fill_file(const PlannedFile& file, const std::function<void(std::uint64_t, MutableByteSpan)>& fill,
                 AlignedBuffer& buffer);

  // Write-combining for bulk copies: small files whose clusters follow one another on the device
  // are gathered (padded to whole clusters) and written in one request of up to 2 MiB, instead of
  // one request each. Staged bytes reach the device before any metadata (flush) and before any
  // read of the data area.
  //
  // Write-behind, in import_tree's data pass (WritingBehind): a full buffer is handed to a worker
  // thread, which writes it while this one reads the next host files into the other buffer. Both
  // are kernel work (copying into and out of page caches), so on two cores they overlap instead of
  // adding up. While a write is in flight nothing else here touches the device: every other
  // device access goes through flush_staging first, which waits for it (and rethrows its error).
  // Each buffer written behind is then started on its way to the disk (start_writeback), so the
  // disk writes the data while the host files are read, and the flush at the end waits for the
  // last pieces instead of all of it: 10,000 files (31 MB), data pass 89 ms -> 57 ms, of which the
  // fsync had been 37 ms.
  struct Staging {
    std::uint64_t device_offset = 0;
    std::size_t used = 0;  // bytes staged at the start of `bytes`
    AlignedBuffer bytes;   // allocated (2 MiB) when the first file is staged
    AlignedBuffer writing;  // the buffer a write behind is writing
    // That write. Declared after the buffers, so that destroying the staging waits for it first.
    std::future<void> in_flight;
    bool behind = false;  // full buffers are written behind
    bool empty() const { return used == 0; }
    void clear() { used = 0; }
  };
  Staging staging;
  void flush_staging();
  // Writes the staged bytes behind when `staging.behind`, else as flush_staging does.
  void flush_staging_behind();
  // A failing operation's end: waits for a write behind, whose error is that operation's own
  // (already on its way), and drops the staged bytes.
  void abandon_staging() noexcept;
  struct WritingBehind {
    explicit WritingBehind(Impl& v) : volume(v) { v.staging.behind = true; }
    ~WritingBehind() { volume.staging.behind = false; }
    Impl& volume;
  };

  // New folders' clusters lie between the files' data (a folder's cluster is taken just before its
  // files'), and each broke the staged run in two: an import of 10,000 files in 445 folders made
  // 900 writes instead of 4. During the data pass of import_tree and copy_tree, when every entry is
  // already made and no folder changes any more, a gap of such clusters is staged with the data
  // (stage_folder_gap). The map names each such cluster's folder; it is empty outside that pass.
  std::unordered_map<std::uint32_t, std::uint32_t> sealed_folder_clusters;  // cluster -> folder key
  struct SealedFolders {
    explicit SealedFolders(Impl& v);
    ~SealedFolders() { volume.sealed_folder_clusters.clear(); }
    Impl& volume;
  };
  void stage_folder_gap(std::uint64_t at);

  void flush();  // data, new folder clusters, FAT copies, directories, deferred frees, FSInfo
};

// One public operation's changes, undone unless commit() is reached. Nested transactions (an
// operation built from others) join the outermost one.
class Transaction {
 public:
  explicit Transaction(Volume::Impl& volume);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Volume::Impl& volume_;
  bool owner_;
  bool done_ = false;
};

std::vector<std::uint64_t> run_starts(const std::vector<Run>& runs, std::uint32_t cluster_size);

}  // namespace bootmirror::fat
