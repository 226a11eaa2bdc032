// Internal codecs of the LDM module: one function pair per on-disk structure. The field tables are
// in the .cpp files beside each codec.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "bootmirror/gpt.h"
#include "bootmirror/ldm.h"

namespace bootmirror::ldm::detail {

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

// nullopt when the sector does not start with "TOCBLOCK" (copies may be absent, as on 2008 R2).
std::optional<TocBlock> decode_tocblock(ByteSpan sector, std::uint64_t device_offset);
void encode_tocblock(const TocBlock& toc, MutableByteSpan sector);

Vmdb decode_vmdb(ByteSpan sector, std::uint64_t device_offset);
void encode_vmdb(const Vmdb& vmdb, MutableByteSpan sector);

// VBLK area: `area` starts at the VMDB; slots run from first_offset to vblk_last * vblk_size.
void decode_vblks(ByteSpan area, std::uint64_t device_offset, DiskDatabase& db);
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
// The GPT partitions of a dynamic GPT disk that are not LDM data, relative to data_start.
std::vector<std::pair<std::uint64_t, std::uint64_t>> reserved_extents(BlockDevice& device, std::uint64_t data_start);
// Writes the partition table of a newly dynamic disk (after its database): MBR slot 0 = 0x42 /
// GPT with the LDM metadata partition carved from the MSR and basic data retyped to LDM data.
void write_dynamic_partition_table(BlockDevice& device, const DiskPlan& plan);
// GPT: one "LDM data partition" entry per LDM partition of the disk (Windows shows each dynamic
// volume's extent so in the GPT, as the seed's bootcfg /list 1 does); entries left without one go.
void sync_gpt_data_partitions(BlockDevice& device, const GroupDisk& disk, const std::vector<PartitionRecord>& partitions);
// The table sync_gpt_data_partitions would write, or nullopt when the GPT already agrees.
std::optional<gpt::Table> synced_gpt(BlockDevice& device, const GroupDisk& disk, const std::vector<PartitionRecord>& partitions);

// The group as the database committed at its VMDB's sequence shows it (group.cpp).
Group assemble(const DiskDatabase& db);
std::uint32_t next_id(const Group& g);

// FILETIME (100 ns since 1601) for IdentitySource::now().
std::uint64_t filetime_now();

}  // namespace bootmirror::ldm::detail
