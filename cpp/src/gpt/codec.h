// On-disk codecs of the GPT structures (UEFI 2.10, 5.2.3 and 5.3). Internal to cpp/gpt.
#pragma once

#include <cstdint>
#include <vector>

#include "bootmirror/gpt.h"

namespace bootmirror::gpt::codec {

// GPT Header (UEFI 2.10, Table 5.5), little-endian:
//   offset size field
//        0    8 Signature "EFI PART"
//        8    4 Revision (0x00010000 for 1.0)
//       12    4 HeaderSize: 92 <= size <= logical block size; the CRC covers this many bytes
//       16    4 HeaderCRC32, computed with this field zeroed
//       20    4 Reserved, zero
//       24    8 MyLBA: where this header is
//       32    8 AlternateLBA: where the other header is
//       40    8 FirstUsableLBA
//       48    8 LastUsableLBA (inclusive)
//       56   16 DiskGUID (UEFI byte order)
//       72    8 PartitionEntryLBA: first block of this copy's entry array
//       80    4 NumberOfPartitionEntries
//       84    4 SizeOfPartitionEntry: 128 x 2^n
//       88    4 PartitionEntryArrayCRC32 over count x size bytes
//       92    - Reserved, zero to the end of the block
struct Header {
  std::uint32_t revision = 0x00010000;
  std::uint32_t header_size = 92;
  std::uint64_t my_lba = 0;
  std::uint64_t alternate_lba = 0;
  std::uint64_t first_usable_lba = 0;
  std::uint64_t last_usable_lba = 0;
  Guid disk_guid;
  std::uint64_t entries_lba = 0;
  std::uint32_t entry_count = 0;
  std::uint32_t entry_size = 0;
  std::uint32_t entries_crc = 0;

  std::uint64_t array_bytes() const { return std::uint64_t(entry_count) * entry_size; }
};

inline constexpr std::uint32_t kHeaderSize = 92;
inline constexpr std::uint32_t kEntrySize = 128;
inline constexpr std::uint32_t kNameUnits = 36;
// Arrays larger than this are refused as corrupt rather than allocated (the default is 16 KiB).
inline constexpr std::uint64_t kMaxArrayBytes = 64ull << 20;

// Decodes and validates the header found at `lba` of a disk of `sector_count` sectors: signature,
// size, CRC, MyLBA, LBA ranges and the array's place. FormatError with the byte offset otherwise.
Header decode_header(ByteSpan block, std::uint64_t lba, std::uint64_t sector_count, std::uint32_t sector_size);
// One logical block holding the header, its CRC computed.
ByteVector encode_header(const Header& header, std::uint32_t sector_size);

// GPT Partition Entry (UEFI 2.10, Table 5.6), little-endian:
//   offset size field
//        0   16 PartitionTypeGUID (UEFI byte order); nil = unused
//       16   16 UniquePartitionGUID
//       32    8 StartingLBA
//       40    8 EndingLBA (inclusive)
//       48    8 Attributes (bit 0 required, 1 no block IO protocol, 2 legacy BIOS bootable,
//                48-63 type-specific)
//       56   72 PartitionName: 36 UTF-16LE code units, NUL-terminated when shorter
//      128    - the rest of a larger entry (kept as read)
Partition decode_entry(ByteSpan entry);
void encode_entry(const Partition& partition, MutableByteSpan entry);

// The entries of an array, validated: used entries ordered first <= last, inside the usable range,
// not overlapping. `device_offset` is where the array starts, for messages. With Slots::used only
// the used entries are returned, in slot order (the checks are the same).
enum class Slots { all, used };
std::vector<Partition> decode_array(ByteSpan array, const Header& header, std::uint64_t device_offset, Slots which = Slots::all);
// The array of `table`, padded with zeros to whole blocks.
ByteVector encode_array(const Table& table);

// Protective MBR (UEFI 2.10, Table 5.4) in the first 512 bytes of LBA 0:
//   offset size field
//        0  440 BootCode (kept as found)
//      440    4 UniqueMBRDiskSignature (unused, zero)
//      444    2 Unknown (zero)
//      446   16 PartitionRecord[0]: BootIndicator 0, StartingCHS 00 02 00, OSType 0xEE,
//                EndingCHS FF FF FF, StartingLBA 1, SizeInLBA min(sectors - 1, 0xFFFFFFFF)
//      462   48 PartitionRecord[1..3], zero
//      510    2 Signature 0xAA55
// An 0xEE record from LBA 1 covering the disk, or a hybrid MBR (kept as it is).
bool is_protective_mbr(ByteSpan block0, std::uint64_t sector_count);
// LBA 0 rewritten as a protective MBR, keeping the boot code of `block0`.
ByteVector encode_protective_mbr(ByteSpan block0, std::uint64_t sector_count);
// Whether LBA 0 holds an MBR with at least one partition record (a disk already partitioned).
bool has_mbr_partitions(ByteSpan block0);

}  // namespace bootmirror::gpt::codec
