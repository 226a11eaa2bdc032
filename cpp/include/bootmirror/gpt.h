// The GUID Partition Table (UEFI 2.10, section 5.3): protective MBR, primary header at LBA 1 with its
// entry array, backup header at the last LBA with its own array. Reading honours any entry count and
// entry size a valid header declares; writing keeps the geometry it read. Writes go one copy at a
// time, so a crash at any write leaves at least one valid header+array pair.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/guid.h"
#include "bootmirror/io.h"

namespace bootmirror::gpt {

// The partition types bootmirror knows by name; every other type passes through untouched.
enum class Kind { unused, efi_system, microsoft_reserved, ldm_metadata, ldm_data, basic_data, other };

Kind kind_of(const Guid& type);
Guid type_of(Kind kind);                // UsageError for unused and other
std::string_view kind_name(Kind kind);  // "EFI System", "Microsoft Reserved", ..., "Unknown"
std::string_view kind_key(Kind kind);   // "efi", "msr", "ldm_metadata", "ldm_data", "basic", "other", "unused"

// One slot of the entry array. A slot whose type is the nil GUID is unused.
struct Partition {
  Guid type;
  Guid unique;
  std::uint64_t first_lba = 0;
  std::uint64_t last_lba = 0;  // inclusive
  std::uint64_t attributes = 0;
  std::u16string name;  // UTF-16 code units up to the first NUL (36 at most)
  ByteVector tail;      // bytes of an entry beyond the 128 UEFI defines, kept as read

  bool used() const { return !type.is_nil(); }
  Kind kind() const { return kind_of(type); }
  std::uint64_t sector_span() const { return last_lba - first_lba + 1; }
  std::string name_utf8() const;
  void set_name(std::string_view utf8);  // UsageError past 36 UTF-16 code units
};

// The whole table as one model: what both copies describe.
struct Table {
  std::uint32_t sector_size = 512;
  std::uint64_t sector_count = 0;  // of the disk the table was read from or made for
  Guid disk_guid;
  std::uint32_t revision = 0x00010000;
  std::uint64_t first_usable_lba = 0;
  std::uint64_t last_usable_lba = 0;
  std::uint64_t backup_header_lba = 0;  // the last LBA, unless the disk grew
  std::uint64_t primary_entries_lba = 2;
  std::uint64_t backup_entries_lba = 0;
  std::uint32_t entry_size = 128;
  std::vector<Partition> entries;  // one per slot: entries.size() is the header's entry count

  // A new empty table as Windows and sgdisk make it: 128 entries of 128 bytes, the arrays right
  // after the primary header and right before the backup header. Its disk GUID comes from the
  // IdentitySource.
  static Table create(std::uint64_t sector_count, std::uint32_t sector_size);

  std::uint64_t entry_array_sectors() const;
  // The used slots' partitions, sorted by first LBA (the order Windows numbers them in).
  std::vector<Partition> in_offset_order() const;
  // Rewrite the slots as Windows does: used entries first, in offset order, then unused ones.
  void compact();
  // Checks every used entry lies in the usable range and none overlaps another.
  // Throws UsageError naming the slot (tables about to be written).
  void check() const;
};

// The state of one copy (header + array) as found on the disk.
struct CopyState {
  bool header_found = false;  // "EFI PART" where the header belongs
  bool header_valid = false;  // signature, sizes, CRC and LBAs all good
  bool array_valid = false;   // entry-array CRC matches and its entries are consistent
  std::uint64_t header_lba = 0;
  std::string problem;        // empty when both are valid
  bool valid() const { return header_valid && array_valid; }
};

struct Health {
  bool is_gpt = false;          // a GPT header signature on either copy, or a protective MBR
  bool protective_mbr = false;  // an 0xEE record covering the disk, as UEFI asks
  CopyState primary;
  CopyState backup;
  bool backup_at_end = true;  // false when the disk grew (or shrank) after the table was written
  bool copies_agree = true;   // both valid and describing the same partitions
  std::vector<std::string> problems;
  bool clean() const { return is_gpt && problems.empty(); }
};

// Looks at both copies and the protective MBR; never writes. Does not throw for damage (the report
// says what is wrong), only for I/O errors.
Health verify(BlockDevice& disk);

// Whether the disk carries a GPT signature on either copy (or a protective MBR).
bool looks_like_gpt(BlockDevice& disk);

// The table from the primary copy when it is valid, else from the backup. FormatError naming what
// is wrong with each copy when neither is usable, or when the disk holds no GPT at all.
Table read(BlockDevice& disk);

// The used entries `read` returns, in slot order, and the LBA of the array they came from. While
// the primary copy is valid the backup is not read at all, as libldm reads a GPT: a reader that
// needs only the partitions (LDM finding its metadata partition on every disk of a group) skips
// reading, comparing and decoding a second copy, and the unused slots are checked but not kept.
// FormatError as `read` when neither copy is usable; an unreadable backup fails `read` (OsError)
// but not this while the primary is valid.
struct EntryArray {
  std::vector<Partition> used;
  std::uint64_t lba = 0;
};
EntryArray read_entries(BlockDevice& disk);

// Writes `table` (after Table::check): backup array, backup header, primary array, primary header,
// then the protective MBR if it differs, with a flush between the copies.
void write(BlockDevice& disk, const Table& table);

struct RepairReport {
  std::vector<std::string> actions;  // what was rewritten, in order; empty when nothing was wrong
};

// Rewrites a damaged copy from the good one (the damaged copy first, the good copy untouched), moves
// the backup to the end of a grown disk when `fix_grown`, and restores the protective MBR.
// FormatError (and nothing written) when neither copy is usable.
RepairReport repair(BlockDevice& disk, bool fix_grown = true);

}  // namespace bootmirror::gpt
