// A minimal GPT reader and writer for what LDM needs: find the "LDM metadata" partition and, when
// converting a disk, rewrite the partition entries. Isolated here until the GPT engine (cpp/gpt,
// issue 4) lands on main; then this file should be replaced by it.
// Source: UEFI 2.10 section 5.3 (GPT header and partition entry array, little-endian, CRC32).
// libldm gpt.c (gpt_open_secsize) reads only the primary header at LBA 1 and checks its CRC and
// the entry array's CRC; so do we when reading. Writing updates both copies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bootmirror/guid.h"
#include "bootmirror/io.h"

namespace bootmirror::ldm::detail {

inline const Guid kLdmMetadataType = Guid::parse("5808c8aa-7e8f-42e0-85d2-e1e90434cfb3");
inline const Guid kLdmDataType = Guid::parse("af9b60a0-1431-4f62-bc68-3311714a69ad");
inline const Guid kMsrType = Guid::parse("e3c9e316-0b5c-4db8-817d-f92df00215ae");
inline const Guid kBasicDataType = Guid::parse("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7");
inline const Guid kEspType = Guid::parse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");

struct GptEntry {
  Guid type, unique;
  std::uint64_t first_lba = 0, last_lba = 0, attributes = 0;
  std::u16string name;
  bool used() const { return !type.is_nil(); }
};

struct GptTable {
  Guid disk_guid;
  std::uint64_t first_usable = 0, last_usable = 0, backup_lba = 0, entries_lba = 2;
  std::uint32_t entry_count = 128, entry_size = 128;
  std::vector<GptEntry> entries;  // all entry_count slots, unused ones with a nil type
};

// Reads the primary header (LBA 1) and its entry array, CRC-checked. FormatError otherwise.
GptTable read_gpt(BlockDevice& device);
// Writes the entry arrays and headers: backup array and header first, then primary (one copy at a
// time, so a crash leaves one valid copy).
void write_gpt(BlockDevice& device, const GptTable& table);

std::u16string utf16(std::string_view ascii);

}  // namespace bootmirror::ldm::detail
