// Directory entries: the 32-byte short entry, the VFAT long-name entry, and FAT dates and times.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "bootmirror/bytes.h"
#include "bootmirror/identity.h"
#include "fat/names.h"

namespace bootmirror::fat {

inline constexpr std::size_t entry_size = 32;
inline constexpr std::uint8_t deleted_mark = 0xE5;
inline constexpr std::uint8_t lfn_attributes = 0x0F;

// Short directory entry (fatgen103 section 6):
//   off size field
//     0   11 DIR_Name          8.3, space padded; name[0] 0xE5 deleted, 0x00 end, 0x05 stands for 0xE5
//    11    1 DIR_Attr          read-only 01, hidden 02, system 04, volume 08, directory 10, archive 20
//    12    1 DIR_NTRes         Windows case flags: 08 base in lower case, 10 extension in lower case
//    13    1 DIR_CrtTimeTenth  0..199 hundredths of a second beyond CrtTime's two-second step
//    14    2 DIR_CrtTime       hours 15-11, minutes 10-5, seconds/2 4-0
//    16    2 DIR_CrtDate       years since 1980 15-9, month 8-5, day 4-0
//    18    2 DIR_LstAccDate
//    20    2 DIR_FstClusHI     high word of the first cluster (FAT32)
//    22    2 DIR_WrtTime
//    24    2 DIR_WrtDate
//    26    2 DIR_FstClusLO
//    28    4 DIR_FileSize      0 for directories
struct ShortEntry {
  ShortName name{};
  std::uint8_t attributes = 0;
  std::uint8_t case_flags = 0;
  std::uint8_t created_tenths = 0;
  std::uint16_t created_time = 0, created_date = 0, accessed_date = 0, modified_time = 0, modified_date = 0;
  std::uint32_t first_cluster = 0;
  std::uint32_t size = 0;

  static ShortEntry decode(ByteSpan slot);
  void encode(MutableByteSpan slot) const;
  void stamp_created(const Timestamp& t);
  void stamp_modified(const Timestamp& t);
};

// VFAT long-name entry (fatgen103 section 7):
//     0 1 LDIR_Ord     1..20, 0x40 on the last (first stored) entry
//     1 10 LDIR_Name1  characters 1-5, UTF-16LE
//    11 1 LDIR_Attr    0x0F
//    12 1 LDIR_Type    0
//    13 1 LDIR_Chksum  checksum of the short name
//    14 12 LDIR_Name2  characters 6-11
//    26 2 LDIR_FstClusLO 0
//    28 4 LDIR_Name3   characters 12-13
// A name ends with 0x0000 (unless it fills the entry exactly) and is padded with 0xFFFF.
struct LongEntry {
  std::uint8_t ordinal = 0;  // without the 0x40 flag
  bool last = false;
  std::uint8_t checksum = 0;
  std::array<char16_t, 13> chars{};

  static LongEntry decode(ByteSpan slot);
  void encode(MutableByteSpan slot) const;
};
inline constexpr std::size_t lfn_chars_per_entry = 13;

// The long-name entries for `name`, in on-disk order (highest ordinal first).
std::vector<LongEntry> long_entries_for(std::u16string_view name, std::uint8_t checksum);

// FAT local date/time <-> seconds since 1970 (bootmirror treats FAT times as UTC).
struct FatTime {
  std::uint16_t date = 0, time = 0;
  std::uint8_t tenths = 0;
};
FatTime to_fat_time(const Timestamp& t);
Timestamp from_fat_time(std::uint16_t date, std::uint16_t time, std::uint8_t tenths = 0);

}  // namespace bootmirror::fat
