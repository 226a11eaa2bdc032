// Windows' Logical Disk Manager (dynamic disks): one disk group whose database (PRIVHEAD, TOCBLOCKs,
// VMDB, VBLK records, KLOG) is kept, identical, in the last megabyte of every MBR disk or in the
// "LDM metadata" partition of every GPT disk. Field tables and sources: cpp/src/ldm/*.cpp.
//
// Reading: read_group() decodes every disk it is given, takes the newest committed database (as
// Windows does), and resolves disks, volumes, components and partitions by id. Every header has
// copies (PRIVHEAD three, TOCBLOCK four, the whole database one per disk); a damaged copy is read
// around, as the kernel and libldm do, and reported (DiskDatabase::damage, verify()). read_group
// reads copies of a header only until one serves, as libldm does; verify() reads every one. Writing:
// change a Group, then commit() it; the commit is crash-safe (see cpp/src/ldm/commit.cpp), and
// every edit and commit checks all it needs before its first change (in memory or on disk).
//
// Text: names, type and state strings and drive hints are kept as the bytes on disk (so that
// re-encoding gives the same bytes); they should be UTF-8, and display_text() shows each
// ill-formed sequence as U+FFFD. Messages quote them through escape_bytes().
#pragma once

#include <algorithm>
#include <array>
#include <initializer_list>
#include <cstdint>
#include <tuple>
#include <utility>
#include <optional>
#include <string>
#include <vector>

#include "bootmirror/gpt.h"
#include "bootmirror/guid.h"
#include "bootmirror/io.h"

namespace bootmirror::ldm {

// The slots of one record's fragments, in fragment order: at most 4 (the kernel's ldm_frag_add
// refuses more, and so does our decoder). Held inline: a group's read places every record it
// decodes, and copies it into the group, and a vector each was a fifth of that read's allocations.
class SlotList {
 public:
  static constexpr std::size_t kMax = 4;
  SlotList() = default;
  SlotList(std::initializer_list<std::uint32_t> slots) {
    for (std::uint32_t s : slots) push_back(s);
  }
  // Error (a bug of the caller: records are sized to fit before they are placed) past kMax.
  void push_back(std::uint32_t slot);
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::uint32_t operator[](std::size_t i) const { return slots_[i]; }
  std::uint32_t at(std::size_t i) const;
  std::uint32_t front() const { return at(0); }
  const std::uint32_t* begin() const { return slots_.data(); }
  const std::uint32_t* end() const { return slots_.data() + size_; }
  bool operator==(const SlotList& other) const { return std::equal(begin(), end(), other.begin(), other.end()); }

 private:
  std::array<std::uint32_t, kMax> slots_{};
  std::uint8_t size_ = 0;
};

// Where a record sits in the VBLK area: its fragment group number and one slot per fragment.
// Kept so that re-encoding a decoded database gives the same bytes.
struct Placement {
  std::uint32_t record_id = 0;
  SlotList slots;
};

// Header fields every record shares (VBLK record header at 0x10 of its first slot).
struct RecordHeader {
  std::uint16_t status = 0;
  std::uint8_t flags = 0;
  std::uint8_t revision = 3;
  std::uint64_t commit_id = 0;  // the transaction that last wrote the record
  Placement placement;
  ByteVector trailing;  // bytes the record's size covers past the known fields (kept verbatim)
};

struct DiskGroupRecord : RecordHeader {
  std::uint32_t id = 0;
  std::string name;
  std::string guid;  // 36 ASCII characters
  std::optional<std::pair<std::uint64_t, std::uint64_t>> ids;  // flag 0x08: two var ints
};

struct DiskRecord : RecordHeader {
  std::uint32_t id = 0;
  std::string name;  // "Disk1"
  Guid guid;
  std::string alt_name;  // 2003: the disk's PnP id; 2008: empty
};

struct VolumeRecord : RecordHeader {
  std::uint32_t id = 0;
  std::string name;            // "Volume1"
  std::string type_name;       // "gen" or "raid5"
  std::string unknown_string;  // usually empty
  std::string state;           // "ACTIVE" (14 bytes on disk)
  std::uint8_t int_type = 3;   // 3 gen, 4 raid5
  std::uint8_t unknown1 = 1;
  std::uint8_t number = 0;     // the volume number Windows shows
  std::uint8_t volume_flags = 0x11;
  std::uint32_t component_count = 1;
  std::uint64_t id2 = 0;       // a second 8-byte number (commit id of the volume's creation)
  std::uint64_t size = 0;      // sectors
  std::uint8_t partition_type = 0x07;
  Guid guid;
  std::optional<std::string> id1_string, id2_string;
  std::optional<std::uint64_t> size2;
  std::optional<std::string> drive_hint;  // "H:"
};

struct ComponentRecord : RecordHeader {
  std::uint32_t id = 0;
  std::string name;  // "Volume1-01"
  std::string state;  // "ACTIVE"
  std::uint8_t type = 2;  // 1 striped, 2 spanned/simple ("basic"), 3 raid
  std::uint32_t partition_count = 0;
  std::uint32_t volume_id = 0;
  std::optional<std::pair<std::uint64_t, std::uint32_t>> stripe;  // flag 0x10: chunk size, columns
};

struct PartitionRecord : RecordHeader {
  std::uint32_t id = 0;
  std::string name;  // "Disk1-01"
  std::uint64_t start = 0;          // sectors from the disk's logical_disk_start
  std::uint64_t volume_offset = 0;  // sectors into the volume (spanned)
  std::uint64_t size = 0;           // sectors
  std::uint32_t component_id = 0;
  std::uint32_t disk_id = 0;
  std::optional<std::uint32_t> index;  // flag 0x08: column index (striped, raid5)
};

// A VBLK record of a kind we do not model (type 0 tombstones of an interrupted commit, ...).
struct RawRecord : RecordHeader {
  std::uint8_t type = 0;
  std::uint32_t id = 0;
  ByteVector body;
};

// The per-disk header at LBA 6 (MBR) or the metadata partition's last LBA (GPT), and two copies.
struct PrivHead {
  std::uint32_t sequence = 0;
  std::uint16_t version_major = 2, version_minor = 11;
  std::uint64_t timestamp = 0;  // FILETIME
  std::uint64_t unknown_number = 5;  // 2003 R2: 5, 2008 R2: 1
  std::uint64_t ph3_offset = 2047, ph2_offset = 1856;  // sectors from config start
  std::string disk_guid, host_guid, group_guid, group_name;
  std::uint16_t unknown1 = 2;
  std::uint64_t logical_disk_start = 0, logical_disk_size = 0;
  std::uint64_t config_start = 0, config_size = 0;  // the database, absolute sectors
  std::uint64_t toc_count = 1, toc_size = 2046;
  std::uint32_t config_count = 1, log_count = 1;
  std::uint64_t config_bitmap_size = 1481, log_bitmap_size = 224;
  std::uint32_t disk_signature = 0;
  std::array<std::byte, 32> disk_set_guids{};
};

struct TocBitmap {
  std::string name;  // "config" or "log"
  std::uint16_t flags1 = 0;
  std::uint64_t start = 0, size = 0;  // sectors from config start
  std::uint64_t flags2 = 0;
};

struct TocBlock {
  std::uint32_t sequence1 = 0, sequence2 = 0;
  TocBitmap bitmaps[2];
};

struct Vmdb {
  std::uint32_t vblk_last = 0, vblk_size = 128, first_offset = 512;
  std::uint16_t status = 1, version_major = 4, version_minor = 10;
  std::string group_name, group_guid;
  std::uint64_t committed_seq = 0, pending_seq = 0;
  std::uint32_t committed[4]{}, pending[4]{};  // volumes, components, partitions, disks
  std::uint64_t last_access = 0;
};

enum class Scheme { mbr, gpt };

// A damaged copy of a header, or a damaged part of a database, that a reader went around (or could
// not): which structure, its byte offset on the disk, and what is wrong there.
struct Damage {
  std::string structure;  // "PRIVHEAD", "TOCBLOCK", "VMDB", "VBLK", "partition", "volume", ...
  std::uint64_t offset = 0;
  std::string problem;    // ASCII: on-disk bytes are escaped
  std::string describe() const;  // "TOCBLOCK at byte 0x31ffa00: ..."
};

// One disk's whole database as decoded, with where it lives.
struct DiskDatabase {
  Scheme scheme = Scheme::mbr;
  std::uint32_t sector_size = 512;
  std::uint64_t privhead_lba = 6;
  PrivHead privhead;
  std::vector<std::optional<TocBlock>> tocs;  // the copies at config+1, +2, end-3, end-2
  Vmdb vmdb;
  std::optional<DiskGroupRecord> group;
  std::vector<DiskRecord> disks;
  std::vector<VolumeRecord> volumes;
  std::vector<ComponentRecord> components;
  std::vector<PartitionRecord> partitions;
  std::vector<RawRecord> raw;  // unmodelled records, kept to re-encode
  ByteVector log;              // the KLOG area, verbatim (read_database reads it; a Group's base
                               // lacks it: no commit writes it back, each reads its disk again)
  std::vector<Damage> damage;  // copies of the PRIVHEAD and TOCBLOCK that were read around
};

// Decodes the database of one disk from the first valid copy of each header (PRIVHEAD: LBA 6 or
// the GPT metadata partition's last LBA, then config+1856 and config+2047; TOCBLOCK: config+2,
// +1, end-3, end-2); copies that are damaged or disagree are listed in `damage`. FormatError (with
// the byte offset) when no copy is usable or the VMDB or records are inconsistent. With `records`
// false, only the PRIVHEAD, TOCBLOCKs and VMDB are read (enough to compare sequences).
DiskDatabase read_database(BlockDevice& device, bool records = true);
// Whether the partition table marks `device` dynamic (MBR slot 0 of type 0x42, or a GPT LDM
// metadata partition) and a copy of its PRIVHEAD is valid. Never throws FormatError.
bool is_dynamic(BlockDevice& device);
// The config area (config_size sectors) exactly as `db` describes it; the PRIVHEAD copies inside
// it carry `db.privhead`.
ByteVector encode_config(const DiskDatabase& db);

// The group as a reader sees it.
enum class Layout { simple, spanned, striped, mirrored, raid5 };
const char* layout_name(Layout layout);

struct GroupDisk {
  DiskRecord record;
  int device = -1;  // index into the devices given to read_group; -1: missing
  std::uint64_t data_start = 0, data_size = 0, config_start = 0, config_size = 0;
  std::uint64_t committed_seq = 0;  // of this disk's own copy of the database
  Scheme scheme = Scheme::mbr;
  std::uint32_t sector_size = 512;
  std::uint32_t disk_signature = 0;  // PRIVHEAD 0x163 of this disk
  bool needs_init = false;  // added by add_disk, its database not written yet
  bool rewrite = false;     // the next commit writes its whole database (repair: a damaged copy)
  // GPT partitions that are not LDM data (ESP, MSR, LDM metadata): (start, size) in sectors from
  // data_start. No volume may go there.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> reserved;
};

struct GroupVolume {
  VolumeRecord record;
  Layout layout = Layout::simple;
  std::vector<std::size_t> components;  // indexes into Group::components
  std::vector<std::size_t> partitions;  // in libldm's order: by component, then index
};

struct Group {
  DiskGroupRecord record;
  std::uint64_t committed_seq = 0;
  std::vector<GroupDisk> disks;
  std::vector<GroupVolume> volumes;
  std::vector<ComponentRecord> components;
  std::vector<PartitionRecord> partitions;
  std::vector<RawRecord> raw;
  DiskDatabase base;  // the database the group was read from (template for PRIVHEADs, TOCs, KLOG)

  const std::string& name() const { return record.name; }
  std::string guid() const { return record.guid; }
  const GroupDisk* find_disk(std::uint32_t id) const;
  const GroupDisk* find_disk(const std::string& name) const;
  const GroupVolume* find_volume(const std::string& name) const;
};

// Reads every device, keeps the disks that hold LDM databases of one group, and assembles it
// from the newest committed database. Disks whose record has no device are missing.
Group read_group(const std::vector<DevicePtr>& devices);
// What a machine sees on its disks: the disk group it owns (Windows Server 2003 has one), the
// basic disks, and "Foreign" disks of other groups, left untouched. Devices may be null (missing).
// The machine's group is `preferred_guid` when given and present, else the one with most disks.
struct Scan {
  std::optional<Group> group;           // GroupDisk::device indexes refer to `devices`
  std::vector<std::size_t> basic;       // devices without an LDM database
  std::vector<std::size_t> foreign;     // devices of another disk group
  std::vector<std::pair<std::size_t, std::string>> unreadable;  // LDM disks without a usable PRIVHEAD
  std::vector<std::optional<std::uint64_t>> unreadable_offsets;  // where, beside each `unreadable`
};
Scan scan(const std::vector<DevicePtr>& devices, const std::string& preferred_guid = "");

// Rebuilds the per-volume view (layouts, links) from the records after edits; validates ids.
void resolve(Group& group);

// -- health: what the records and the disks found say about each plex and volume ----------------

// Why a plex (Group::components[component_index]) cannot serve its volume's data, or "" when it
// can: each of its partitions lies on a present disk, inside that disk's data area (the PRIVHEAD's
// logical disk), and together they hold the volume's size.
std::string plex_problem(const Group& group, std::size_t component_index);
// diskpart's status of a volume from its plexes: "Healthy" when every plex can serve, "Failed Rd"
// when some can, "Failed" when none can; of a RAID-5 volume from its columns: "Failed Rd" with one
// column's partition lost (its parity still holds the data), "Failed" with more.
const char* volume_status(const Group& group, std::size_t volume_index);
// Bytes on its disk's device of a partition (Group::partitions[partition_index]): (offset, length);
// nullopt when the disk is missing or the partition lies outside its data area.
std::optional<std::pair<std::uint64_t, std::uint64_t>> partition_location(const Group& group, std::size_t partition_index);
// Where a plex's bytes lie, for the mirror engine: its partitions as runs in bytes, in volume order
// (a concatenated plex: simple, spanned, a mirror's plex) or in column order (striped, with the
// stripe size). A run on a missing disk has device -1. nullopt when the records cannot describe a
// readable layout: a partition outside its disk's data area or not in the group, partitions that
// hold less than the volume, a concatenation with gaps, or RAID-5 (not supported).
struct PlexRun {
  int device = -1;
  std::uint64_t device_offset = 0, volume_offset = 0, length = 0;
};
struct PlexExtents {
  std::string name;
  bool striped = false;
  std::uint64_t stripe_bytes = 0;
  std::vector<PlexRun> runs;
};
std::optional<PlexExtents> plex_extents(const Group& group, std::size_t component_index);
// The group's sector size (its first present disk's; 512 without one), a volume's (that of the
// present disks it lies on), and a volume's size in bytes.
std::uint32_t sector_size(const Group& group);
std::uint32_t sector_size(const Group& group, std::size_t volume_index);
std::uint64_t size_bytes(const Group& group, std::size_t volume_index);

// -- verify: one disk's copies, never writing ----------------------------------------------------

struct Health {
  bool is_dynamic = false;  // the partition table marks the disk dynamic
  bool readable = false;    // its database can be read (from some copy of each header)
  std::vector<Damage> damage;  // every damaged copy or part found, with its offset
  bool clean() const { return is_dynamic && readable && damage.empty(); }
  std::vector<std::string> problems() const;
};
// Looks at every copy of the PRIVHEAD and TOCBLOCK, the VMDB, the VBLK records, and this disk's
// partitions against its data area. Never writes; does not throw for damage (only for I/O errors).
Health verify(BlockDevice& device);

// Text from disk (a name, state, hint, or a PRIVHEAD field) for display: ill-formed UTF-8 as U+FFFD.
std::string display_text(const std::string& bytes);

// -- writing ------------------------------------------------------------------------------------

// A new, empty group (name as Windows makes it: "<host>-Dg0").
Group new_group(const std::string& name);

// Makes `device` a dynamic disk of `group` with an empty area for volumes: an MBR disk gets a 0x42
// partition and the database in its last MiB; a GPT disk (converted) gets the LDM metadata
// partition carved from the start of its MSR and its basic data partitions retyped to LDM data,
// each becoming a simple volume. Adds the disk record; returns its index in group.disks. Writes
// nothing until commit().
std::size_t add_disk(Group& group, const DevicePtr& device, int device_index);
// UsageError (diskpart's reason) when add_disk would refuse `device`; reads only.
void check_convertible(BlockDevice& device);

// Volumes over extents of present disks: (disk index, start sector relative to the disk's data
// start, size in sectors). One extent: simple; several on different disks in order: spanned;
// `striped`: one per disk; `mirrored`: one per plex.
std::size_t add_volume(Group& group, const std::string& name, Layout layout,
                       const std::vector<std::tuple<std::size_t, std::uint64_t, std::uint64_t>>& extents,
                       std::uint64_t chunk_sectors = 128, std::optional<std::string> drive_hint = {});
// Adds a plex on `disk_index` at `start` to a simple or mirrored volume (diskpart "add disk=N"):
// the volume becomes (or stays) a mirror; the new plex must be resynchronised by the caller.
void add_mirror(Group& group, std::size_t volume_index, std::size_t disk_index, std::uint64_t start);
// The drive letter a volume's hint names, uppercase ('C' for "C:" or "c:"); nullopt without a hint
// or when the hint's first byte is no letter A-Z (a damaged record: it names no drive).
std::optional<char> drive_letter(const VolumeRecord& volume);
// Sets or clears a volume's drive-letter hint ("C:"), the letter Windows mounts it on.
void set_drive_hint(Group& group, std::size_t volume_index, std::optional<std::string> hint);
// Removes a missing disk from the group; UsageError while it holds a volume's only copy, or while
// it is present.
void remove_disk(Group& group, std::size_t disk_index);
// Removes a volume with its components and partitions.
void remove_volume(Group& group, std::size_t volume_index);
// Removes the plex of a mirrored volume that lives on `disk_index` ("break disk=M0 nokeep").
void break_mirror(Group& group, std::size_t volume_index, std::size_t disk_index);

// -- leaving the group: convert basic keepdata ---------------------------------------------------

// What a present GPT disk keeps when it leaves the group (diskpart's convert basic, with our
// keepdata): each simple volume wholly on it, and its plex of each mirror, as one extent.
struct KeptExtent {
  std::size_t volume = 0;       // index into group.volumes before the disk leaves
  bool mirror_plex = false;     // the volume stays in the group on its other plexes
  std::uint64_t first_lba = 0;  // on the disk
  std::uint64_t sectors = 0;
};
// What `disk_index` would keep. UsageError for an MBR disk, a missing one, a spanned, striped or
// RAID-5 volume with an extent on it, a simple volume or plex made of more than one extent there,
// and a mirror whose other plexes are all on missing disks (its only readable plex would leave).
std::vector<KeptExtent> kept_extents(const Group& group, std::size_t disk_index);
// The disk (present or, once basic, missing) leaves the group: its plexes leave their mirrors,
// every other volume with an extent on it leaves the group (check kept_extents first: those are
// simple volumes whose data stays where it is), and its record goes. Nothing is written until
// commit(), which no longer writes this disk.
void leave_group(Group& group, std::size_t disk_index);
// The disk's GPT once basic again: every LDM data entry holding a kept extent becomes a basic data
// partition at that extent (an entry that is exactly the extent keeps its GUID, so boot entries
// naming it still find it), other LDM data entries go, and the LDM metadata partition's sectors go
// back to the MSR right after it (where convert dynamic carved them from), in offset order. Reads
// only.
gpt::Table basic_gpt(BlockDevice& device, const std::vector<KeptExtent>& kept);

// Free space of a disk's data area: (start, size) runs in sectors relative to its data start.
std::vector<std::pair<std::uint64_t, std::uint64_t>> free_extents(const Group& group, std::size_t disk_index);

// Writes the group to every present disk (`devices` indexed as GroupDisk::device). New disks get a
// whole database; disks already holding one get a crash-safe commit under committed_seq + 1.
void commit(Group& group, const std::vector<DevicePtr>& devices);
// The present disks (indexes into group.disks) that do not hold the group as it was read: an older
// committed database (a commit stopped between disks), or GPT "LDM data" entries that do not match
// their LDM extents (a commit stopped between the database and the partition table). Committing
// the group again brings them up to date; Windows does so when it starts.
// Records an interrupted commit left beyond the committed configuration count as stale too:
// libldm refuses a disk that holds them.
std::vector<std::size_t> stale_disks(const Group& group, const std::vector<DevicePtr>& devices);
// -- repair: a damaged or stale database rewritten from the group's -------------------------------

// A present disk whose database needs rewriting, and why (ASCII sentences, one per finding).
struct DiskRepair {
  std::size_t disk = 0;  // index into group.disks
  std::vector<std::string> reasons;
};
// The present disks whose own database is damaged (a copy of a PRIVHEAD or TOCBLOCK, the VMDB or
// a VBLK: what verify() finds) or behind the group (an older committed sequence, records an
// interrupted commit left, GPT "LDM data" entries that do not match: stale_disks). Reads only.
std::vector<DiskRepair> repairs_needed(const Group& group, const std::vector<DevicePtr>& devices);
// Rewrites the whole database of each disk in `repairs` (every PRIVHEAD and TOCBLOCK copy, the
// VMDB, the records, an empty KLOG) from `group`, as read from the newest consistent copy, in one
// commit: the other present disks take the commit's new sequence incrementally. A power cut
// leaves each disk with its old database or the new one, and the group readable from the disks
// it had been readable from.
void repair(Group& group, const std::vector<DevicePtr>& devices, const std::vector<DiskRepair>& repairs);

// Finishes a conversion that stopped after the group's database reached the other disks but before
// `device` (still basic) got its own: group disk `disk_index`, missing so far, becomes that device
// again, to be initialised by the next commit with the extents the group already gives it.
void resume_disk(Group& group, std::size_t disk_index, const DevicePtr& device, int device_index);

}  // namespace bootmirror::ldm
