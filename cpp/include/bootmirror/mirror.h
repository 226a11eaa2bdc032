// Dynamic volumes as block devices, and the engine that keeps a mirror's plexes identical.
//
// A volume is one or more plexes (LDM components), each mapping the volume's bytes onto runs of
// disks: concatenated (simple, spanned, a mirror's plex) or striped. The ldm module says which runs
// (ldm::plex_layout); this module reads, writes, copies and hashes them. A VolumeDevice is a
// BlockDevice, so FAT (and any file system later) works on a mirror unchanged:
//   - reads go to the first plex that is in sync; an I/O error fails that plex and the read is
//     retried on the next one (the volume shows "Failed Rd" from then on);
//   - writes go to every plex in sync, and to a plex being rebuilt for the part its copy cursor has
//     passed (the rest is copied when the cursor gets there). A plex whose write fails is failed;
//     the write succeeds while one plex took it.
// Writes and rebuild chunks hold one lock, so that every plex sees the same writes in the same
// order and a chunk copied by the rebuild cannot miss a write that lands inside it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bootmirror/error.h"
#include "bootmirror/io.h"
#include "bootmirror/guid.h"
#include "bootmirror/ldm.h"
#include "bootmirror/progress.h"

namespace bootmirror::mirror {

// One run of a plex: `length` bytes of the volume from `volume_offset` lie on device `device`
// (an index into the devices the layout was made for) at byte `device_offset`.
struct Run {
  std::size_t device = 0;
  std::uint64_t device_offset = 0;
  std::uint64_t volume_offset = 0;
  std::uint64_t length = 0;
  bool operator==(const Run&) const = default;
};

// How one plex holds the volume. Concatenated: runs in volume order, back to back. Striped: one run
// per column in column order, the volume dealt out in `stripe_bytes` chunks across the columns
// (chunk k on column k mod columns, at row k / columns), as LDM's type-1 component does.
struct PlexLayout {
  std::string name;  // the component's name, "Volume1-01"
  bool striped = false;
  std::uint64_t stripe_bytes = 0;
  std::vector<Run> runs;
  // The device run holding volume byte `offset`, cut to at most `length` bytes.
  Run locate(std::uint64_t offset, std::uint64_t length) const;
  bool operator==(const PlexLayout&) const = default;
};

enum class PlexState {
  in_sync,     // holds the volume's data: serves reads, takes writes
  rebuilding,  // being copied into: takes writes below its cursor, serves no reads
  failed,      // its disk is missing or returned an I/O error: neither
};
const char* plex_state_name(PlexState state);

struct PlexStatus {
  std::string name;
  PlexState state = PlexState::in_sync;
  std::uint64_t cursor = 0;  // rebuilding: bytes of the volume copied so far
  std::string problem;       // failed: why ("Disk2 is missing", "I/O error reading ...")
};

class VolumeDevice final : public BlockDevice {
 public:
  // `devices` indexed as the runs' device numbers; a null device is a missing disk (its plexes
  // start failed). UsageError when a run lies outside its device or no plex covers `size`.
  VolumeDevice(std::string name, std::uint64_t size, std::uint32_t sector_size, std::vector<DevicePtr> devices,
               std::vector<PlexLayout> plexes);

  std::uint64_t size() const override { return size_; }
  std::uint32_t sector_size() const override { return sector_size_; }
  bool writable() const override;
  std::string name() const override { return name_; }
  void flush() override;
  std::vector<Extent> allocated_extents() const override;

  // Replaces the plexes (the disk group changed: a plex added, broken or removed, a disk gone or
  // back), between two writes. A plex that is still there on the same devices keeps its state
  // (a rebuild its cursor); a new one starts in sync, or failed on a missing device, and the owner
  // marks the one being rebuilt. A volume left without plexes fails every access. Each change
  // starts a new generation: plex numbers of an older one mean nothing any more.
  // `rebuild_from[i]`, when set, makes new plex i start rebuilding from that cursor (a plex whose
  // copy is recorded), in the same step: it never serves a read in between.
  void reconfigure(std::vector<DevicePtr> devices, std::vector<PlexLayout> plexes,
                   const std::vector<std::optional<std::uint64_t>>& rebuild_from = {});
  std::uint64_t generation() const;

  std::size_t plex_count() const;
  PlexLayout layout(std::size_t plex) const;
  std::vector<DevicePtr> devices() const;
  std::vector<PlexStatus> plexes() const;
  // Whether some plex can serve reads.
  bool readable() const;

  // The rebuild's side (mirror::rebuild): plex `plex` starts rebuilding from `cursor` bytes (a
  // plex already rebuilding keeps its own cursor when that is further), then its cursor advances
  // as chunks land, and it joins the in-sync plexes when done. The steps below name the
  // generation the rebuild started in and throw Reconfigured when the plexes changed since, and
  // OsError (EIO, with the plex's problem) when a write's error failed the plex meanwhile.
  void start_rebuild(std::size_t plex, std::uint64_t cursor);
  void fail(std::size_t plex, std::string problem);
  void mark_in_sync(std::size_t plex, std::uint64_t generation);
  // Throws as the steps above do unless `plex` is still being rebuilt in `generation`.
  void check_rebuilding(std::uint64_t generation, std::size_t plex) const;
  // Copies volume bytes [offset, offset+length) from an in-sync plex into `plex` (rebuilding) and
  // advances its cursor to the end of the range, under the write lock. `buffer` is scratch of at
  // least `length` bytes.
  void copy_chunk(std::uint64_t generation, std::size_t plex, std::uint64_t offset, std::uint64_t length,
                  MutableByteSpan buffer);
  // Advances the cursor of `plex` over a range that was a hole on both sides when the rebuild
  // looked (nothing to copy), unless a write has landed in it since; false then, and the range
  // must be copied.
  bool skip_hole(std::uint64_t generation, std::size_t plex, std::uint64_t offset, std::uint64_t length);

  // Whether plexes `a` and `b`, which both take the writes to [offset, offset+length), hold the
  // same bytes there. Read first as the volume's reads are, without the write lock, so that
  // compares may run on several threads; bytes that differ are read again under it, where no write
  // can land between the two reads. Buffers of at least `length` bytes.
  bool same_bytes(std::uint64_t generation, std::size_t a, std::size_t b, std::uint64_t offset, std::uint64_t length,
                  MutableByteSpan buffer_a, MutableByteSpan buffer_b);
  // The first in-sync plex other than `except`, or plex_count() when there is none.
  std::size_t source_plex(std::size_t except) const;
  // Reads volume bytes from one plex only (verify, and checks that compare plexes).
  void read_plex(std::size_t plex, std::uint64_t offset, MutableByteSpan out);
  // The volume ranges that hold data on plex `plex` (holes of sparse images left out).
  std::vector<Extent> plex_extents(std::size_t plex) const;

  // Called before a write is issued that some plexes will miss (failed ones, and rebuilding ones
  // for the part above their cursor), with their names: the owner records the write's range
  // durably in their write-intent bitmaps (WriteIntent). When it throws, nothing is written.
  using MissedWrite = std::function<void(const std::vector<std::string>& plexes, std::uint64_t offset, std::uint64_t length)>;
  void on_missed_write(MissedWrite callback);

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override;
  void do_write(std::uint64_t offset, ByteSpan data) override;

 private:
  struct Plex {
    PlexState state = PlexState::in_sync;
    std::uint64_t cursor = 0;
    std::string problem;
    std::vector<Extent> written_ahead;  // rebuilding: writes above the cursor (skip_hole)
  };
  // The devices and plex layouts, replaced whole by reconfigure(): each access works on the
  // configuration it started with.
  struct Config {
    std::vector<DevicePtr> devices;
    std::vector<PlexLayout> layouts;
  };
  using ConfigPtr = std::shared_ptr<const Config>;
  ConfigPtr config() const;
  void check_generation(std::uint64_t generation) const;  // state_mutex_ held
  void check_rebuilding_locked(std::uint64_t generation, std::size_t plex) const;  // state_mutex_ held
  static ConfigPtr checked(std::vector<DevicePtr> devices, std::vector<PlexLayout> plexes, const std::string& name,
                           std::uint64_t size, std::uint32_t sector_size);
  static std::vector<Plex> initial_states(const Config& config);
  void read_plex(const Config& config, std::size_t plex, std::uint64_t offset, MutableByteSpan out);
  void write_plex(const Config& config, std::size_t plex, std::uint64_t offset, ByteSpan data);
  void set_state(std::size_t plex, PlexState state, std::string problem = {});
  void set_state_locked(std::size_t plex, PlexState state, std::string problem = {});  // state_mutex_ held
  PlexStatus status_locked(std::size_t plex) const;
  std::size_t source_plex_locked(std::size_t except) const;

  std::string name_;
  std::uint64_t size_;
  std::uint32_t sector_size_;
  ConfigPtr config_;
  std::uint64_t generation_ = 0;
  std::vector<Plex> plexes_;
  mutable std::mutex state_mutex_;  // config_ and plexes_
  std::mutex write_mutex_;          // one write, rebuild chunk or reconfiguration at a time
  MissedWrite on_missed_write_;
};

// One plex of a volume on its own, read-only: what that plex's disks hold for the volume's bytes,
// whatever its state (mdadm's view of one member). For checks that look at each plex alone: an
// outside tool on a copy of it, a file tree compared plex by plex. The plex is followed by name
// across reconfigurations; reads fail (UsageError) once it is gone or its disk is missing.
class PlexView final : public BlockDevice {
 public:
  PlexView(std::shared_ptr<VolumeDevice> volume, std::string plex);
  std::uint64_t size() const override { return volume_->size(); }
  std::uint32_t sector_size() const override { return volume_->sector_size(); }
  bool writable() const override { return false; }
  std::string name() const override;
  void flush() override {}
  std::vector<Extent> allocated_extents() const override;

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override;
  void do_write(std::uint64_t offset, ByteSpan data) override;

 private:
  // The plex's index in the volume's current configuration; UsageError when it has none.
  std::size_t index() const;

  std::shared_ptr<VolumeDevice> volume_;
  std::string plex_;
};

// Volume `volume_index` of an LDM group over the devices the group was read from (indexed as
// GroupDisk::device; a plex on a missing disk is failed). nullptr when no plex has a layout the
// records can describe (bootmirror::ldm::plex_extents).
std::shared_ptr<VolumeDevice> open_ldm_volume(const ldm::Group& group, const std::vector<DevicePtr>& devices,
                                              std::size_t volume_index);

// Thrown by a rebuild step when the volume's plexes changed under it (a plex broken or added, a
// disk gone): the rebuild stops, and its owner starts again from the new configuration.
class Reconfigured : public UsageError {
 public:
  using UsageError::UsageError;
};

// -- rebuild: copying a plex ---------------------------------------------------------------------

// Progress in bytes of the volume. Returning false stops a rebuild at a checkpoint (it can be
// resumed from there) and a verify between regions.
using bootmirror::Progress;
using bootmirror::ProgressCallback;

struct RebuildOptions {
  std::uint64_t chunk_bytes = 4u << 20;
  // Called with the cursor every `checkpoint_bytes` of progress and at the end, after the target's
  // devices were flushed: what it records durably is where a restart resumes.
  std::function<void(std::uint64_t cursor)> checkpoint;
  std::uint64_t checkpoint_bytes = 64u << 20;
  // Called before the first chunk and after each one.
  ProgressCallback progress;
  // Only these volume ranges need copying (a write-intent bitmap's dirty regions); the rest is
  // in sync already and is skipped like a hole. The check afterwards compares these ranges too.
  std::optional<std::vector<Extent>> only;
};

// Copies `volume` into `plex` from `cursor` to the end, chunk by chunk (holes stay holes), then
// verifies the copy against an in-sync plex and marks the plex in sync. Returns false when stopped
// by the progress callback (the plex stays rebuilding at its last checkpoint). Throws when no plex
// can serve as the source, fails the plex on an I/O error of its own, and throws Reconfigured when
// the volume's plexes changed while it ran.
bool rebuild(VolumeDevice& volume, std::size_t plex, std::uint64_t cursor, const RebuildOptions& options = {});

// -- verify: comparing plexes --------------------------------------------------------------------

struct Mismatch {
  std::uint64_t offset = 0, length = 0;  // volume bytes where the plexes differ
};
struct VerifyReport {
  std::uint64_t region_bytes = 0;
  std::vector<std::string> plexes;                        // the plexes compared
  std::vector<std::vector<std::array<std::uint64_t, 2>>> hashes;  // XXH3-128 per plex, per region
  std::vector<Mismatch> mismatches;                       // regions whose hashes differ
  bool identical() const { return mismatches.empty(); }
};
// Hashes every in-sync plex region by region (XXH3-128; the plexes in parallel, one thread each)
// and reports the regions where they disagree, merged into runs of the volume.
VerifyReport verify(VolumeDevice& volume, std::uint64_t region_bytes = 1u << 20, const ProgressCallback& progress = {});

}  // namespace bootmirror::mirror

namespace bootmirror::mirror {

// -- write-intent bitmap: what a plex missed ------------------------------------------------------
//
// Linux md's write-intent bitmap, for a mirror's plex that is behind (its disk missing or failed,
// or being rebuilt): the volume is cut into regions, and before a write that the plex misses is
// issued, the bits of the regions it touches are set, durably. When the plex comes back, only the
// set regions are copied. The owner keeps it in a file of its own (encode_write_intent), never in
// space Windows or ldmtool read. A file that cannot be decoded, or that describes another volume,
// means "copy everything": never a silent partial copy.
//
// The file, little-endian:
//   0   8  magic "BMWINTNT"
//   8   4  version (1)
//  12   4  CRC32 (IEEE) of the whole file with this field zero
//  16  16  volume GUID, RFC 4122 byte order
//  32  16  GUID of the disk whose plex is behind
//  48   8  volume size in bytes
//  56   8  region size in bytes (a power of two, at least 64 KiB)
//  64   8  region count: the volume size divided by the region size, rounded up
//  72  ..  the bits, region k in bit k % 8 of byte 72 + k / 8; bits past the count are zero
struct WriteIntent {
  Guid volume, disk;
  std::uint64_t volume_bytes = 0, region_bytes = 0;
  std::vector<std::uint8_t> bits;

  // Regions of at least 64 KiB, at most 32,768 of them (4 KiB of bits), as md sizes its chunks.
  static std::uint64_t region_bytes_for(std::uint64_t volume_bytes);
  static WriteIntent empty(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes);
  std::uint64_t region_count() const;
  // Sets the bits of the regions [offset, offset+length) touches; true when one was clear.
  bool mark(std::uint64_t offset, std::uint64_t length);
  bool clean() const;
  // The set regions as runs of volume bytes, cut at the volume's end.
  std::vector<Extent> dirty() const;
};

inline constexpr std::size_t kWriteIntentHeaderBytes = 72;
ByteVector encode_write_intent(const WriteIntent& intent);
// FormatError, naming the field and its offset, for anything but a file encode_write_intent made.
WriteIntent decode_write_intent(ByteSpan file);

}  // namespace bootmirror::mirror
