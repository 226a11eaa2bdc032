// What an open NTFS volume knows (bootmirror/ntfs.h's Volume), shared by the files that read it:
// volume.cpp opens it, directory.cpp finds and reads files.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "bootmirror/ntfs.h"
#include "ntfs/attributes.h"
#include "ntfs/boot_sector.h"
#include "ntfs/index.h"
#include "ntfs/record.h"

namespace bootmirror::ntfs {

inline constexpr std::uint64_t kVolumeRecord = 3;        // $Volume
inline constexpr std::uint64_t kRootRecord = 5;          // the root folder
inline constexpr std::uint16_t kVolumeIsDirty = 0x0001;  // ntfs-3g layout.h, VOLUME_IS_DIRTY

// A folder's $I30 entries in index order, and where each name is without regard to case (the key
// is the name through $UpCase; its entries in index order).
struct FolderIndex {
  std::vector<IndexEntry> entries;
  std::unordered_map<std::u16string, std::vector<std::uint32_t>> by_upcased_name;
};

struct Volume::State {
  DevicePtr device;
  BootSector boot;
  std::vector<Run> mft_runs;
  std::uint64_t mft_bytes = 0;
  std::string label;
  Version version;
  // $VOLUME_INFORMATION's flags (VOLUME_IS_DIRTY, ...) and where they lie in record 3.
  std::uint16_t volume_flags = 0;
  std::uint64_t volume_flags_in_record = 0;
  // $UpCase, 65536 entries, loaded by the first name lookup (under its mutex: threads share a
  // volume, and the bindings release the GIL while they read).
  mutable std::u16string upcase;
  mutable std::mutex upcase_mutex;
  // Folders decoded so far, by record number (directory.cpp). A Volume reads the device as it was
  // when opened (the $MFT's runs are kept the same way), so a folder's index is decoded once and a
  // path costs a hash lookup per folder rather than a walk of each folder's whole index.
  mutable std::unordered_map<std::uint64_t, std::shared_ptr<const FolderIndex>> folders;
  mutable std::mutex folders_mutex;
  // Files' attributes decoded lately: a listing decodes each file's records, and reading those
  // files next finds them here. Record n has slot n % size alone (a folder's files lie side by
  // side in the $MFT, so they rarely share one): a lookup or a replacement is an index, with no
  // allocation of its own (a hash map's node per file cost a tenth of a walk).
  using AttributesPtr = std::shared_ptr<const std::vector<Attribute>>;
  struct RecentFile {
    std::uint64_t record = 0;
    AttributesPtr attributes;  // null: an empty slot
  };
  mutable std::vector<RecentFile> recent_files;
  mutable std::mutex recent_mutex;
  // The folder the last path's parent part named, the part as given (separators and case
  // included): a walk reads a folder's files one after another by path, and each would
  // otherwise look up every folder above it again (directory.cpp's resolve).
  mutable std::string last_parent;  // "" names the root
  mutable std::uint64_t last_parent_record = kRootRecord;
  mutable std::mutex last_parent_mutex;

  // `out.size()` bytes at byte `offset` of an attribute mapped by `runs` (sparse runs read as
  // zeros); FormatError when the range is not mapped.
  void read_mapped(const std::vector<Run>& runs, std::uint64_t offset, MutableByteSpan out, const char* what) const {
    const std::uint64_t cluster = boot.cluster_bytes;
    std::size_t done = 0;
    while (done < out.size()) {
      const std::uint64_t at = offset + done, vcn = at / cluster;
      // The runs are in VCN order and contiguous (decode_runs and join_extents check it): the one
      // holding `vcn` is found by bisection, not a scan per piece (a file of many thousand runs,
      // read a piece a run, took time in the square of their count).
      auto next = std::upper_bound(runs.begin(), runs.end(), vcn, [](std::uint64_t v, const Run& r) { return v < r.vcn; });
      const Run* run = next == runs.begin() ? nullptr : &*std::prev(next);
      if (run && vcn - run->vcn >= run->length) run = nullptr;
      if (!run) throw FormatError(fmt::format("{}: byte {} is not mapped by its runs", what, at));
      // In 128 bits: a sparse run's VCNs may reach past what 64-bit byte offsets hold.
      const unsigned __int128 run_start = static_cast<unsigned __int128>(run->vcn) * cluster;
      const unsigned __int128 run_end = run_start + static_cast<unsigned __int128>(run->length) * cluster;
      const std::uint64_t in_run = std::uint64_t(at - run_start);
      const unsigned __int128 left = run_end - at;
      const std::size_t n = std::size_t(std::min<unsigned __int128>(left, out.size() - done));
      auto part = out.subspan(done, n);
      if (run->lcn) device->read(*run->lcn * cluster + in_run, part);
      else std::fill(part.begin(), part.end(), std::byte{0});
      done += n;
    }
  }

  // Where byte `offset` of an attribute mapped by `runs` lies on the volume (0 if unmapped or
  // sparse), for messages.
  std::uint64_t volume_offset_of(const std::vector<Run>& runs, std::uint64_t offset) const {
    const std::uint64_t vcn = offset / boot.cluster_bytes;
    for (const Run& r : runs)
      if (r.lcn && vcn >= r.vcn && vcn - r.vcn < r.length) return (*r.lcn + (vcn - r.vcn)) * boot.cluster_bytes + offset % boot.cluster_bytes;
    return 0;
  }

  // A FILE record read from `offset` on the volume (record 0, before the $MFT's runs are known),
  // or through the $MFT's runs.
  ByteVector record_at(std::uint64_t number, std::optional<std::uint64_t> volume_offset) const {
    ByteVector bytes(boot.mft_record_bytes);
    std::uint64_t where = 0;
    if (volume_offset) {
      where = *volume_offset;
      if (where > device->size() || device->size() - where < bytes.size())
        throw FormatError(fmt::format("NTFS: record {} at byte {} runs past the volume's end", number, where), where);
      device->read(where, bytes);
    } else {
      if (number >= mft_bytes / boot.mft_record_bytes)
        throw FormatError(fmt::format("NTFS: record {} is past the $MFT's {} records", number, mft_bytes / boot.mft_record_bytes));
      read_through_window(number, bytes);
      where = volume_offset_of(mft_runs, number * boot.mft_record_bytes);
    }
    apply_fixups(bytes, "FILE", where);
    RecordHeader::decode(bytes, where);  // its offsets checked before anyone reads by them
    return bytes;
  }

  // The $MFT is read a window of records at a time and the last window kept: a folder's files
  // mostly lie side by side in it, so listing a folder costs a read per window, not per file.
  static constexpr std::uint64_t kMftWindowBytes = 16 * 1024;
  mutable ByteVector mft_window;
  mutable std::uint64_t mft_window_start = 0;  // byte of the $MFT where mft_window begins
  mutable std::mutex mft_window_mutex;

  void read_through_window(std::uint64_t number, MutableByteSpan out) const {
    const std::uint64_t at = number * boot.mft_record_bytes;
    std::lock_guard lock(mft_window_mutex);
    if (mft_window.empty() || at < mft_window_start || at + out.size() > mft_window_start + mft_window.size()) {
      const std::uint64_t window = std::max<std::uint64_t>(kMftWindowBytes, boot.mft_record_bytes);
      const std::uint64_t start = at / window * window;
      ByteVector bytes(std::size_t(std::min(window, mft_bytes - start)));
      try {
        read_mapped(mft_runs, start, bytes, "$MFT");
      } catch (const FormatError&) {
        // Part of the window is not mapped: the record alone, which says so if it is the one.
        mft_window.clear();
        read_mapped(mft_runs, at, out, "$MFT");
        return;
      }
      mft_window = std::move(bytes);
      mft_window_start = start;
    }
    std::copy_n(mft_window.begin() + std::ptrdiff_t(at - mft_window_start), out.size(), out.begin());
  }

  // The attributes of file `number`: its base record's and, when it has an $ATTRIBUTE_LIST, the
  // ones that list puts in extension records; an attribute split over several records comes back
  // as one, its runs joined in VCN order (attribute_list.cpp).
  std::vector<Attribute> file_attributes(std::uint64_t number) const;

  std::vector<Attribute> attributes_of(const ByteVector& record, std::uint64_t number) const {
    const RecordHeader header = RecordHeader::decode(record, 0);
    if (!header.in_use) throw FormatError(fmt::format("NTFS: record {} is not in use", number));
    return decode_attributes(record, header.first_attribute, header.bytes_in_use, boot.cluster_count(), 0);
  }
};

// Folder `folder`'s entries as Volume::list gives them (directory.cpp), and the record of the
// folder a path names (UsageError when it names none).
std::vector<Entry> folder_entries(const Volume::State& s, std::uint64_t folder);
std::uint64_t folder_record(const Volume::State& s, std::string_view path);
// The byte ranges of file `record`'s unnamed $DATA that hold stored bytes, in order: its runs that
// are not sparse, below its initialized size (the rest reads as zeros).
std::vector<Extent> stored_ranges(const Volume::State& s, std::uint64_t record);

}  // namespace bootmirror::ntfs
