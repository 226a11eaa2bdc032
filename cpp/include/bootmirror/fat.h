// FAT12/16/32 file systems on any BlockDevice (a partition slice, a whole disk, a mirrored
// volume): format as Windows `format` does, files and folders with long names, check and repair.
//
// Paths inside a volume accept '/' and '\', are case-insensitive as on Windows, and are WTF-8:
// UTF-8 that may also carry the lone UTF-16 surrogates a long name on disk can hold (see
// bootmirror/unicode.h), so that every name a listing returns opens its file. 8.3 names and labels
// are stored in the volume's OEM code page (cp437 unless told otherwise, as on a US Windows).
// A Volume caches its FAT and directories in memory; every public call leaves the device
// consistent (data first, then the FAT copies, then directory entries), and a call that fails
// leaves the device as it was. One lock serialises every call on a volume and its files.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/bytes.h"
#include "bootmirror/host_files.h"
#include "bootmirror/identity.h"
#include "bootmirror/io.h"
#include "bootmirror/progress.h"

namespace bootmirror::fat {

enum class FatType { fat12, fat16, fat32 };
std::string to_string(FatType type);  // "FAT12", "FAT16", "FAT32"

// Directory entry attribute bits (fatgen103, "FAT Directory Structure").
namespace attr {
inline constexpr std::uint8_t read_only = 0x01;
inline constexpr std::uint8_t hidden = 0x02;
inline constexpr std::uint8_t system = 0x04;
inline constexpr std::uint8_t volume_label = 0x08;
inline constexpr std::uint8_t directory = 0x10;
inline constexpr std::uint8_t archive = 0x20;
}  // namespace attr

// What `format` may be told; everything left empty follows Windows' defaults.
struct FormatOptions {
  std::string file_system = "FAT";           // "FAT" (FAT12 or FAT16 by size), "FAT32", "FAT12", "FAT16"
  std::optional<std::uint32_t> cluster_size;  // bytes (format /a:)
  std::string label;                          // up to 11 characters, empty for none
  std::uint8_t fat_count = 2;
  std::optional<std::uint32_t> root_entries;  // FAT12/16 only; default 512
  std::optional<std::uint32_t> serial;        // default: from IdentitySource
  std::uint8_t media = 0xF8;
  bool quick = true;                          // false also zeroes the data area
  std::string codepage = "cp437";             // OEM code page of the label
};

// The OEM code pages 8.3 names and labels can be read and written in: "cp437", "cp850", ...
std::vector<std::string> oem_code_pages();
// A code page's name as the engine spells it ("850", "CP850", "ibm850" -> "cp850"); UsageError
// naming the pages it knows for any other.
std::string oem_code_page(std::string_view name);

// The layout of a FAT volume, as chosen by format or read from a boot sector.
struct Geometry {
  FatType type = FatType::fat16;
  std::uint32_t bytes_per_sector = 512;
  std::uint32_t sectors_per_cluster = 1;
  std::uint32_t reserved_sectors = 1;
  std::uint32_t fat_count = 2;
  std::uint32_t root_entries = 0;     // 0 on FAT32
  std::uint32_t sectors_per_fat = 0;
  std::uint64_t total_sectors = 0;
  std::uint32_t cluster_count = 0;    // data clusters, numbered 2 .. cluster_count+1
  std::uint32_t root_cluster = 0;     // FAT32 only

  std::uint32_t cluster_size() const { return bytes_per_sector * sectors_per_cluster; }
  std::uint64_t fat_offset(std::uint32_t copy) const;
  std::uint64_t root_dir_offset() const;  // FAT12/16 fixed root region
  std::uint32_t root_dir_sectors() const;
  std::uint64_t data_offset() const;
  std::uint64_t cluster_offset(std::uint32_t cluster) const;
  std::uint32_t bits_per_entry() const { return type == FatType::fat12 ? 12 : type == FatType::fat16 ? 16 : 32; }
  std::uint64_t data_bytes() const { return std::uint64_t(cluster_count) * cluster_size(); }
};

// The geometry Windows `format` would choose for `volume_bytes` (Microsoft's default cluster-size
// tables, then the FAT size by fatgen103's formula). UsageError if the size cannot hold the type.
Geometry plan_format(std::uint64_t volume_bytes, std::uint32_t sector_size, const FormatOptions& options);
// The default cluster size in bytes (before the sector size is applied) for a volume size.
std::uint32_t default_cluster_size(std::uint64_t volume_bytes, bool fat32);

struct FormatResult {
  Geometry geometry;
  std::uint32_t serial = 0;
  std::string label;
  std::uint64_t total_bytes = 0;      // data area, as Windows reports "bytes total disk space"
  std::uint64_t available_bytes = 0;
};

// `progress` counts the bytes written (a full format's zeroed data area is most of them). Stopped
// at its first report (the callback answers false: Stopped), nothing is written; later, the volume
// holds no file system, as after a cancelled Windows format: the old boot sector is gone and the
// new one not yet written.
FormatResult format(const DevicePtr& device, const FormatOptions& options = {}, const ProgressCallback& progress = {});

// One directory entry as a caller sees it.
struct Entry {
  std::string name;        // the long name if there is one, else the short name as shown (WTF-8)
  std::string short_name;  // "README.TXT", decoded with the volume's OEM code page
  std::string raw_short_name;    // the 11 bytes on disk (0x05 first kept as stored)
  std::u16string raw_long_name;  // the long name's UTF-16 as on disk, empty when there is none
  std::uint8_t attributes = 0;
  std::uint64_t size = 0;
  std::uint32_t first_cluster = 0;
  Timestamp created, modified, accessed;  // accessed has a whole-day resolution
  bool is_dir() const { return attributes & attr::directory; }
};

struct WalkStep {
  std::string path;             // "" for the root, then "EFI", "EFI/Microsoft", ... ('/' separated)
  std::vector<Entry> entries;   // every entry of that folder except "." and ".."
};

struct CheckProblem {
  std::string kind;     // "lost-clusters", "cross-link", "size-mismatch", "cycle", "fat-copies-differ",
                        // "bad-entry", "bad-chain", "directory-cycle", "free-count", "bad-name",
                        // "duplicate-name", "duplicate-entry", "dot-entry", "label", "boot-backup"
  std::string path;     // the file or folder concerned (WTF-8, opens it), "" when none
  std::string message;  // what fsck would say (UTF-8); when not repaired, why in parentheses
  bool repaired = false;
};

struct CheckReport {
  std::vector<CheckProblem> problems;
  std::uint32_t files = 0, directories = 0, used_clusters = 0, cluster_count = 0;
  bool clean() const { return problems.empty(); }
};

class Volume;
struct FileState;

// An open file: reads and writes at byte offsets. Holds its volume alive; the entry cannot be
// removed or renamed while a File refers to it (as on Windows). A writable file left open is
// closed (its entry written) when the File goes away.
class File {
 public:
  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();
  std::uint64_t size() const;
  std::size_t read(std::uint64_t offset, MutableByteSpan out);
  void write(std::uint64_t offset, ByteSpan data);
  void truncate(std::uint64_t size);
  void flush();
  void close();
  bool closed() const;
  const std::string& path() const { return path_; }

 private:
  friend class Volume;
  File(std::shared_ptr<Volume> volume, std::string path, std::shared_ptr<FileState> state);
  FileState& state() const;
  std::shared_ptr<Volume> volume_;
  std::string path_;
  std::shared_ptr<FileState> state_;
};

class Volume : public std::enable_shared_from_this<Volume> {
 public:
  // Reads and validates the boot sector, FAT and root folder; FormatError on anything
  // inconsistent, UsageError for an unknown code page. Never writes.
  static std::shared_ptr<Volume> open(const DevicePtr& device, std::string_view codepage = "cp437");
  ~Volume();

  const Geometry& geometry() const;
  const DevicePtr& device() const;
  std::uint32_t serial() const;
  std::string codepage() const;  // "cp437"
  std::string label() const;  // the root directory's label entry, else the boot sector's
  std::uint64_t total_bytes() const;
  std::uint64_t free_bytes() const;

  std::vector<Entry> list(const std::string& path);
  Entry stat(const std::string& path);
  bool exists(const std::string& path);
  std::vector<WalkStep> walk(const std::string& path);

  ByteVector read_file(const std::string& path);
  void write_file(const std::string& path, ByteSpan data);  // creates or replaces
  // "rb": (false, false, false); "r+b": (true, false, false); "wb": (true, true, true);
  // "ab": (true, true, false) and write at size(); "xb": "wb" and `exclusive` (EEXIST if it exists).
  File open_file(const std::string& path, bool writable, bool create, bool truncate, bool exclusive = false);

  void mkdir(const std::string& path);
  void makedirs(const std::string& path);  // existing folders are fine
  void remove(const std::string& path);    // a file
  void rmdir(const std::string& path);     // an empty folder
  void rename(const std::string& from, const std::string& to);
  void set_attributes(const std::string& path, std::uint8_t attributes);
  void set_times(const std::string& path, std::optional<Timestamp> created, std::optional<Timestamp> modified,
                 std::optional<Timestamp> accessed);
  void set_label(const std::string& label);

  // Host folder -> volume folder (created as needed) and back. export_tree never writes outside
  // `host_dir`, whatever the names in the image. `progress` counts the files' bytes. An import
  // stopped part way (the callback answers false: Stopped) leaves the volume as it was, as any
  // import that fails does; a stopped export leaves the host files copied so far.
  CopyStats import_tree(const std::string& host_dir, const std::string& dest, const ProgressCallback& progress = {});
  CopyStats export_tree(const std::string& src, const std::string& host_dir, const ProgressCallback& progress = {});

  // As fsck.fat -n; with `repair`, fixes what fsck.fat -a fixes (CheckProblem.repaired says
  // which, the message why not) and writes nothing when nothing could be repaired.
  CheckReport check(bool repair);
  void flush();
  // Flushes, then refuses every later call (UsageError): for a volume that is being reformatted or
  // unmounted, so that nobody writes the old file system's cached state over the new one.
  void detach();

  // Internal: the implementation behind File and the free functions of cpp/src/fat.
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Volume(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// xcopy's semantics between folders of two volumes (or the same one). `pattern` is the file-name
// pattern of the source ("*.*"); `recurse` is /s, `empty_dirs` /e, `hidden` /h. `on_copy` is told
// each source file's path (relative to src_dir, '\'-separated) before it is copied; `progress`
// counts the bytes of the files copied. Stopped part way (Stopped), the target is as it was.
struct CopyOptions {
  std::string pattern = "*.*";
  bool recurse = false;
  bool empty_dirs = false;
  bool hidden = false;
};
std::uint64_t copy_tree(Volume& source, const std::string& src_dir, Volume& target, const std::string& dst_dir,
                        const CopyOptions& options, const std::function<void(const std::string&)>& on_copy = {},
                        const ProgressCallback& progress = {});

// What differs between folder `src_dir` of `source` and `dst_dir` of `target` (the same volume or
// two), file by file: what a copy that makes the target exact would have to change, as keeping a
// shadow disk's ESP equal to the primary's needs. Names are matched without regard to case, as
// Windows matches them; files are compared by size, then content (XXH3-128 of their bytes), and
// both files and folders by attributes and files by modification time. In the order of the
// folded paths; never writes.
struct TreeDifference {
  std::string path;    // '/'-separated below the compared folders, as the source spells it where both have it
  std::string change;  // "only-in-source", "only-in-target", "kind" (a file on one side, a folder on the
                       // other), "size", "content", "attributes", "modified"
  std::string source_value, target_value;  // each side's value as text, "" where a side has nothing
};
std::vector<TreeDifference> compare_trees(Volume& source, const std::string& src_dir, Volume& target,
                                          const std::string& dst_dir);
// Makes folder `dst_dir` of `target` an exact copy of `src_dir` of `source` (as robocopy /MIR):
// removes what the source does not hold, copies what is new or changed, and sets attributes and
// times (created, modified, accessed) as the source's; the target's volume serial, label and
// names' case stay. Returns the differences it acted on (compare_trees'); with `dry_run`, only
// reports them. A damaged source file is a FormatError before anything is written. Each step is
// one crash-safe write of the volume, so a sync cut short (a crash, a full volume) leaves each
// file as it was or as the source's, and a second sync finishes it.
std::vector<TreeDifference> sync_tree(Volume& source, const std::string& src_dir, Volume& target,
                                      const std::string& dst_dir, bool dry_run = false);

// Windows' wildcard match for file names ('*' and '?', case-insensitive; "*.*" matches all).
bool wildcard_match(const std::string& pattern, const std::string& name);

}  // namespace bootmirror::fat
