// Internal codecs of the LDM module: one function pair per on-disk structure. The field tables are
// in the .cpp files beside each codec.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "bootmirror/gpt.h"
#include "bootmirror/ldm.h"

namespace bootmirror::ldm::detail {

// The partition table does not mark the disk dynamic (a basic disk): no LDM structure was looked at.
class NotDynamic : public FormatError {
 public:
  using FormatError::FormatError;
};

// `e` with the device's name in front, keeping its offset.
FormatError on_device(const std::string& device_name, const FormatError& e);
// The damage `e` describes: its message without the " (at byte ...)" that FormatError appends,
// and its offset (`fallback` when it has none).
Damage damage_of(const char* structure, const FormatError& e, std::uint64_t fallback);

// The fixed layout of a 1 MiB database, in sectors from config start, for 512-byte sectors (as on
// every Windows image we have) and, scaled to the same bytes, for 4096-byte sectors.
struct ConfigLayout {
  std::uint64_t config_size;   // 2048 | 256
  std::uint64_t ph2, ph3;      // 1856, 2047 | 232, 255
  std::uint64_t toc[4];        // 1, 2, 2045, 2046 | 1, 2, 253, 254
  std::uint64_t vmdb;          // 17 | 3
  std::uint64_t config_bitmap; // 1481 | 185
  std::uint64_t log_start;     // 1498 | 188
  std::uint64_t log_size;      // 224 | 28
};
ConfigLayout layout_for(std::uint32_t sector_size);

PrivHead decode_privhead(ByteSpan sector, std::uint64_t device_offset);
void encode_privhead(const PrivHead& ph, MutableByteSpan sector);

// nullopt when the sector is all zeros (copies may be absent: 2008 R2 writes only config+2 and
// end-3); FormatError when it is a damaged TOCBLOCK (bad magic, names, or a bitmap outside the
// `config_size`-sector database).
std::optional<TocBlock> decode_tocblock(ByteSpan sector, std::uint64_t device_offset, std::uint64_t config_size);
void encode_tocblock(const TocBlock& toc, MutableByteSpan sector);

// `area_bytes`: the config bitmap's length, which the VBLK slots must fit in.
Vmdb decode_vmdb(ByteSpan sector, std::uint64_t device_offset, std::uint64_t area_bytes);
void encode_vmdb(const Vmdb& vmdb, MutableByteSpan sector);

// -- copies (copies.cpp) --------------------------------------------------------------------------

// How many copies of the PRIVHEAD and the TOCBLOCK a read looks at. `all`: every copy, so that
// the damaged ones are reported (verify, and what re-encodes or rewrites a disk's database);
// `first_valid`: copies in order until one serves, as libldm reads (read_group, scan: the group
// decodes from the same copies either way, and what the others hold is verify's to report, as a
// GPT's backup is gpt::verify's). On the 19 Windows images, first_valid makes 3 reads of a disk's
// headers instead of 5 (MBR) and 5 instead of 7 (GPT), and decodes 2 PRIVHEADs and 3 TOCBLOCKs
// fewer: opening, decoding and closing the images from Python took 0.37-0.43 ms against 0.44-0.50
// (medians, after another program ran).
enum class Copies { all, first_valid };

// The PRIVHEAD chosen from its copies: the primary (LBA 6 on MBR, libldm _read_privhead_mbr; the
// LDM metadata partition's last LBA on GPT, _read_privhead_gpt) when valid, else the first valid
// copy in the config area (+1856, +2047: the kernel's OFF_PRIV2/OFF_PRIV3). Each copy read is
// checked against the device; copies that are damaged or disagree with the chosen one are in
// `damage` (with Copies::all; first_valid stops at the first valid copy).
struct FoundPrivHead {
  Scheme scheme = Scheme::mbr;
  std::uint64_t lba = 0;             // where the chosen copy is
  std::optional<PrivHead> privhead;  // nullopt: no valid copy (the reasons are in `damage`)
  std::vector<Damage> damage;
  // A GPT disk's used partitions, as read once here (read_group takes the reserved ones from them).
  std::vector<gpt::Partition> gpt_partitions;
  // The chosen copy; FormatError naming the first copy's problem when none is valid; Error once
  // read_database_into has moved it out.
  const PrivHead& usable() const;
};
// NotDynamic for a basic disk; FormatError when the GPT cannot be read.
FoundPrivHead find_privhead(BlockDevice& device, Copies copies = Copies::all);

// read_database's work, keeping what it found so far in `db` (its `damage` above all) when it
// throws, and naming in `stage` the structure it was reading ("GPT", "PRIVHEAD", "TOCBLOCK",
// "VMDB", "VBLK").
// `known`, when given, is find_privhead's answer for this device (one with a usable PRIVHEAD),
// which is then not read again: its PRIVHEAD is moved into `db` (`known->privhead` is left empty),
// before anything that may throw, so that `db.privhead` holds it whether the rest reads or not.
void read_database_into(BlockDevice& device, bool records, DiskDatabase& db, const char*& stage,
                        FoundPrivHead* known = nullptr, Copies copies = Copies::all);
// The records of a database whose headers were read (read_database without records), added to
// `db`: read_group reads every disk's headers, then the records of one.
void read_records(BlockDevice& device, DiskDatabase& db);
// The KLOG of such a database, into `db.log`. read_database reads it (what re-encodes a disk's
// database whole must carry it); read_group does not: a commit reads each disk again.
void read_log(BlockDevice& device, DiskDatabase& db);
// Byte offset on the device of the VMDB (the config bitmap of the TOCBLOCK copy used).
std::uint64_t vmdb_offset(const DiskDatabase& db);

// -- health (health.cpp) ------------------------------------------------------------------------

// Whether sectors start+size of a partition lie inside a data area of `data_size` sectors.
bool inside_data_area(const PartitionRecord& p, std::uint64_t data_size);
// Why the partitions of component `component_index` hold fewer sectors than its volume's size
// (by layout: a spanned plex sums them, a stripe uses columns x the smallest, RAID-5 one column
// less); "" when they hold enough.
std::string capacity_problem(const Group& group, std::size_t component_index);

// VBLK area: `area` starts at the VMDB; slots run from first_offset to vblk_last * vblk_size.
void decode_vblks(ByteSpan area, std::uint64_t device_offset, DiskDatabase& db);
// decode_vblks a piece at a time, for a reader that streams the area through a small buffer:
// add() the slots in order, from the VMDB's first one to its last, then finish(). Records come out
// in the same order, and damage is found in the same order, as decode_vblks.
class VblkDecoder {
 public:
  // `db.vmdb` decoded; `area_offset` is the device offset of the area (the VMDB), for messages.
  VblkDecoder(DiskDatabase& db, std::uint64_t area_offset);
  // The slot the next add() starts at, and how many are still to come.
  std::uint32_t next_slot() const { return next_; }
  std::uint32_t slots_left() const { return db_.vmdb.vblk_last - next_; }
  // The bytes of the next slots: a whole number of them, at most slots_left().
  void add(ByteSpan slots);
  // The records split over several slots, in the order of their first fragment (libldm's).
  void finish();

 private:
  struct Pending {
    std::uint16_t count = 0;                                          // at most SlotList::kMax
    std::array<std::optional<std::uint32_t>, SlotList::kMax> slots;  // by entry number
    std::size_t data_at = 0;  // in fragment_data_: count pieces of data, by entry number
    std::uint64_t offset = 0;
  };
  DiskDatabase& db_;
  std::uint64_t area_offset_;
  std::uint32_t next_;
  std::map<std::uint32_t, Pending> fragments_;
  std::vector<std::uint32_t> seen_;  // record ids in order of first fragment
  ByteVector fragment_data_;         // every pending record's data, one after another
};
void encode_vblks(const DiskDatabase& db, MutableByteSpan area);

// One record's bytes from the VBLK record header on (status, flags, type, size, body).
ByteVector encode_record(const DiskGroupRecord& r);
ByteVector encode_record(const DiskRecord& r);
ByteVector encode_record(const VolumeRecord& r);
ByteVector encode_record(const ComponentRecord& r);
ByteVector encode_record(const PartitionRecord& r);
ByteVector encode_record(const RawRecord& r);
// Decodes one record assembled from its slots (`record` starts at the record header).
void decode_record(ByteSpan record, std::uint64_t device_offset, const Placement& placement, DiskDatabase& db);
// Slots a record of `bytes` needs (112 data bytes per 128-byte slot after the 16-byte header).
std::uint32_t slots_needed(std::size_t record_bytes, std::uint32_t vblk_size);
// Writes one record's fragments into their slots of `area` (which starts at the VMDB).
void place_record(ByteSpan record, const Placement& placement, const Vmdb& vmdb, MutableByteSpan area);
void stamp_empty_slot(std::uint32_t slot, const Vmdb& vmdb, MutableByteSpan area);

// The KLOG area as Windows 2003 leaves it after creating a group (see klog.cpp).
ByteVector new_klog(std::uint32_t sector_size, std::uint64_t log_sectors, std::uint64_t committed_seq);

// How a disk becomes dynamic (disk_init.cpp): read-only planning, then the partition-table writes.
struct DiskPlan {
  Scheme scheme = Scheme::mbr;
  std::uint32_t sector_size = 512;
  std::uint64_t data_start = 0, data_size = 0, config_start = 0, config_size = 0;
  std::uint64_t privhead_lba = 6;
  struct Basic {
    std::uint64_t lba, sectors;
    std::uint8_t mbr_type;
  };
  std::vector<Basic> basic;  // partitions that become simple volumes
  std::vector<std::pair<std::uint64_t, std::uint64_t>> reserved;
};
DiskPlan plan_disk(BlockDevice& device);
// UsageError when device `device_index` is a disk of the group already.
void refuse_member(const Group& g, int device_index);
// `disk` becomes device `device_index` laid out as `plan`, its database to be written whole by the
// next commit.
void place(GroupDisk& disk, const DiskPlan& plan, int device_index);
// The GPT partitions of a dynamic GPT disk that are not LDM data, relative to data_start.
std::vector<std::pair<std::uint64_t, std::uint64_t>> reserved_extents(const std::vector<gpt::Partition>& partitions,
                                                                      std::uint64_t data_start);
// The partition table of a newly dynamic disk, computed (reads only): the MBR sector with slot 0 =
// 0x42, or the GPT with the LDM metadata partition carved from the MSR and basic data retyped to
// LDM data. Its writer writes it after the database.
ByteVector dynamic_mbr(BlockDevice& device, const DiskPlan& plan);
gpt::Table dynamic_gpt(BlockDevice& device, const DiskPlan& plan);
// GPT: one "LDM data partition" entry per LDM partition of the disk (Windows shows each dynamic
// volume's extent so in the GPT, as the seed's bootcfg /list 1 does); entries left without one go.
// Changes `table`; false when it was right already. UsageError when no entry is free.
bool sync_gpt_data_partitions(gpt::Table& table, const GroupDisk& disk, const std::vector<PartitionRecord>& partitions);
// A new entry in the first free slot: `kind`, a new GUID, sectors first..last, Windows' `name` for
// it. UsageError naming `name` when no slot is free.
void add_gpt_entry(gpt::Table& table, gpt::Kind kind, std::uint64_t first, std::uint64_t last, const char* name);

// The group as the database committed at its VMDB's sequence shows it (group.cpp).
Group assemble(DiskDatabase db);
std::uint32_t next_id(const Group& g);

// FILETIME (100 ns since 1601) for IdentitySource::now().
std::uint64_t filetime_now();

}  // namespace bootmirror::ldm::detail
