// NTFS: a volume on any BlockDevice (a partition, a dynamic volume, one plex of a mirror), read by
// our own reader and made and filled by the tools Linux trusts for it (format, install_tree).
// Volume::open reads the boot sector and the $MFT's own record, from which every other record is
// found (a fragmented $MFT included); $Volume gives the label and the version. Every structure is
// decoded field by field and checked against its record and the volume (field tables and sources
// in cpp/src/ntfs/): damage is a FormatError naming what and where, never a crash, a hang or a
// wrong answer, and reading never writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/host_files.h"
#include "bootmirror/io.h"
#include "bootmirror/progress.h"

namespace bootmirror::ntfs {

// A file or folder as a directory lists it. Times are its $STANDARD_INFORMATION's as stored:
// FILETIME, 100 ns units since 1601-01-01 (up to year 30828, past what int64 nanoseconds since
// 1970 hold); the size is its unnamed $DATA's.
struct Entry {
  std::string name;  // WTF-8: a lone UTF-16 surrogate in a name is kept (bootmirror/unicode.h)
  std::uint64_t record = 0;
  bool is_dir = false;
  std::uint64_t size = 0;
  std::uint32_t attributes = 0;  // FILE_ATTRIBUTE_* (0x01 read-only, 0x02 hidden, 0x04 system, ...)
  std::uint64_t created = 0, modified = 0, changed = 0, accessed = 0;
};

struct Version {
  unsigned major = 0, minor = 0;  // 3.1 for Windows XP and later
  bool operator==(const Version&) const = default;
};

class Volume {
 public:
  static std::shared_ptr<Volume> open(DevicePtr device);
  ~Volume();

  std::uint32_t bytes_per_sector() const;
  std::uint32_t cluster_bytes() const;
  std::uint64_t cluster_count() const;
  std::uint32_t mft_record_bytes() const;
  std::uint64_t serial() const;
  std::uint32_t hidden_sectors() const;
  // The records the $MFT's $DATA maps (in use or not).
  std::uint64_t mft_record_count() const;
  std::string label() const;  // $Volume's $VOLUME_NAME, UTF-8 (a lone surrogate shows as U+FFFD)
  Version version() const;    // $Volume's $VOLUME_INFORMATION
  // $VOLUME_INFORMATION's VOLUME_IS_DIRTY: Windows runs chkdsk on a dirty volume at boot, and
  // ntfs-3g will not mount one for writing. install_tree leaves it set if a crash cuts it short.
  bool dirty() const;
  // Where $Volume's record (3) lies on the device, in the $MFT and in $MFTMirr, as byte ranges,
  // and the byte of each copy that holds VOLUME_IS_DIRTY (inside a stride, clear of the update
  // sequence, so that it may be changed alone): what install_tree marks first and writes last.
  struct VolumeRecordPlace {
    std::vector<Extent> ranges;
    std::vector<std::uint64_t> dirty_flag_bytes;
  };
  VolumeRecordPlace volume_record_place() const;

  // Paths are '\\' or '/' separated from the root, matched without regard to case as Windows
  // matches them (the volume's $UpCase table). UsageError when a path names nothing.
  std::vector<Entry> list(std::string_view folder) const;  // its entries in index (name) order
  Entry stat(std::string_view path) const;
  bool exists(std::string_view path) const;
  // A file's unnamed $DATA (resident or not, sparse runs as zeros; its extents gathered through
  // an $ATTRIBUTE_LIST). Compressed or encrypted data is a FormatError saying so.
  ByteVector read_file(std::string_view path) const;
  // The same into the storage `storage(size)` answers, once the file's size is known: a caller's
  // own buffer (a Python bytes object), so that the bytes are read once, into where they stay.
  void read_file(std::string_view path, const std::function<MutableByteSpan(std::uint64_t size)>& storage) const;

  // Up to `out.size()` bytes of file record `record`'s unnamed $DATA from byte `offset`; returns
  // how many (fewer at its end, 0 past it). For reading a file a piece at a time (Python's
  // open(path, "rb")); UsageError for a folder.
  std::size_t read_data(std::uint64_t record, std::uint64_t offset, MutableByteSpan out) const;

  // The clusters $Bitmap marks in use, as byte ranges of the volume in order (adjacent clusters
  // merged), and how many clusters it leaves free. FormatError when $Bitmap is shorter than the
  // volume's clusters need.
  std::vector<Extent> allocated_ranges() const;
  std::uint64_t free_clusters() const;

  // Folder `src` and everything below it copied into host folder `host_dir` (made as needed):
  // folders, and files with their data and their modification and access times. Names are kept
  // (case and trailing dots included) but made fit for the host (bootmirror/host_files.h's
  // host_component), and nothing is ever written outside `host_dir`. A folder that contains
  // itself (a damaged index) is a FormatError. `progress` counts the files' bytes (their sizes,
  // holes included); stopped part way (Stopped), the host files copied so far stay.
  CopyStats export_tree(std::string_view src, const std::string& host_dir, const ProgressCallback& progress = {}) const;

  // FILE record `number`, its update sequence checked and undone. FormatError when the record
  // lies outside the $MFT, was torn, or is not a FILE record.
  ByteVector read_record(std::uint64_t number) const;

  struct State;

 private:
  explicit Volume(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Fills the NTFS volume on `device` from a host folder with Debian's wimlib-imagex (wimtools):
// the folder is captured into a WIM, and the WIM applied in NTFS-3G mode (no mount, no root) to a
// temporary sparse copy of the volume's clusters in use; what changed is then copied back into
// `device`. What is on the volume stays; a name at the folder's top that the volume already has
// is refused (UsageError) before anything is written, since wimlib would stop part way at it.
// Under the write-back crash model a crash leaves the volume as it was, as it is after, or marked
// dirty (Volume::dirty): what is new lands first in clusters the old volume leaves free, then
// $Volume is marked dirty in the $MFT and its mirror, then the rest, and the clean $Volume last.
void install_tree(const DevicePtr& device, const std::string& host_folder);

// Formatting is done by Debian's mkntfs (ntfs-3g), run as a program on a temporary sparse file the
// size of the volume (it is GPL: never linked); what it wrote is then copied into `device`, so the
// same path formats a partition, a dynamic volume or a mirror (every plex gets it).
struct FormatOptions {
  std::string label;              // up to 32 characters, UTF-8
  std::uint32_t cluster_size = 0;  // 0: Windows Server 2003's default for the volume's size
  bool quick = true;               // false: every sector of the device is read first, as Windows'
                                   // full format verifies the surface (Server 2003 writes no zeros)
};
struct FormatResult {
  std::uint32_t cluster_bytes = 0;
  std::uint64_t cluster_count = 0, free_clusters = 0;
  std::uint64_t serial = 0;
};
// Windows Server 2003's default NTFS cluster size (KB 140365): 4 KB up to 16 TB, doubling with
// each doubling of the volume past that, up to 64 KB; never below the sector size.
std::uint32_t default_cluster_size(std::uint64_t volume_bytes, std::uint32_t sector_size);
// The serial comes from IdentitySource; under a fixed clock (SOURCE_DATE_EPOCH,
// bootmirror.deterministic) mkntfs runs with its fixed time (-T), so the volume is reproducible.
// `progress` counts the bytes a full format's surface check reads, then those copied from
// mkntfs's file. Stopped during the surface check, nothing was written; later, the volume holds no
// file system (its boot sectors are wiped first).
FormatResult format(const DevicePtr& device, const FormatOptions& options, const ProgressCallback& progress = {});

}  // namespace bootmirror::ntfs
