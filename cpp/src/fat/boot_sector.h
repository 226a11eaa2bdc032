// The FAT boot sector (BPB) and the FAT32 FSInfo sector: field tables and explicit LE codecs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bootmirror/bytes.h"
#include "bootmirror/fat.h"

namespace bootmirror::fat {

// Boot sector, Microsoft "FAT: General Overview of On-Disk Format" (fatgen103), section 3.
//   off size field
//     0    3 BS_jmpBoot       EB 3C 90 (FAT12/16) or EB 58 90 (FAT32)
//     3    8 BS_OEMName       "MSDOS5.0"
//    11    2 BPB_BytsPerSec   512, 1024, 2048 or 4096
//    13    1 BPB_SecPerClus   power of two, cluster at most 32 KiB (64 KiB tolerated)
//    14    2 BPB_RsvdSecCnt   >= 1; 1 on FAT12/16, 32 on FAT32 (Windows)
//    16    1 BPB_NumFATs      2
//    17    2 BPB_RootEntCnt   512 on FAT12/16, 0 on FAT32
//    19    2 BPB_TotSec16     0 when the count needs 32 bits
//    21    1 BPB_Media        0xF8 fixed disk
//    22    2 BPB_FATSz16      0 on FAT32
//    24    2 BPB_SecPerTrk    63 (CHS is meaningless on images)
//    26    2 BPB_NumHeads     255
//    28    4 BPB_HiddSec      sectors before the volume (partition start)
//    32    4 BPB_TotSec32
//  FAT12/16 from 36:
//    36    1 BS_DrvNum 0x80, 37 1 BS_Reserved1, 38 1 BS_BootSig 0x29, 39 4 BS_VolID,
//    43   11 BS_VolLab, 54 8 BS_FilSysType "FAT12   " / "FAT16   "
//  FAT32 from 36:
//    36    4 BPB_FATSz32, 40 2 BPB_ExtFlags, 42 2 BPB_FSVer (0), 44 4 BPB_RootClus,
//    48    2 BPB_FSInfo (1), 50 2 BPB_BkBootSec (6), 52 12 BPB_Reserved,
//    64    1 BS_DrvNum, 65 1 BS_Reserved1, 66 1 BS_BootSig, 67 4 BS_VolID, 71 11 BS_VolLab,
//    82    8 BS_FilSysType "FAT32   "
//   510    2 signature 55 AA
struct BootSector {
  std::string oem_name = "MSDOS5.0";
  std::uint32_t bytes_per_sector = 512;
  std::uint32_t sectors_per_cluster = 1;
  std::uint32_t reserved_sectors = 1;
  std::uint32_t fat_count = 2;
  std::uint32_t root_entries = 512;
  std::uint64_t total_sectors = 0;
  std::uint8_t media = 0xF8;
  std::uint32_t sectors_per_fat = 0;
  std::uint32_t hidden_sectors = 0;
  bool fat32 = false;
  std::uint16_t ext_flags = 0;
  std::uint32_t root_cluster = 0;
  std::uint32_t fsinfo_sector = 0;
  std::uint32_t backup_boot_sector = 0;
  std::uint8_t drive_number = 0x80;
  bool has_extended = true;  // BS_BootSig == 0x29: serial, label and type are present
  std::uint32_t serial = 0;
  std::string label = "NO NAME    ";
  std::string fs_type;

  // Decodes sector 0; FormatError (with offsets relative to `base`) if any field is absurd.
  static BootSector decode(ByteSpan sector, std::uint64_t base = 0);
  void encode(MutableByteSpan sector, FatType type) const;  // sector is at least 512 bytes, zeroed
};

// Derives and validates the geometry against the device size: cluster count, FAT type by
// cluster count (fatgen103 section 3.5), FAT large enough for every cluster.
Geometry geometry_of(const BootSector& boot, std::uint64_t device_size);

// The FAT sectors that map clusters (a FAT may be longer than its volume needs); the rest of each
// copy is never read or written, so a BPB claiming a huge FAT costs nothing.
std::uint32_t fat_sectors_in_use(const Geometry& geometry);

// Where FAT32's backup boot sector is, when BPB_BkBootSec names a reserved sector other than the
// boot sector and FSInfo; nullopt otherwise (no backup is written then).
std::optional<std::uint64_t> backup_boot_offset(const BootSector& boot, const Geometry& geometry);

// FSInfo sector (fatgen103 section 5):
//     0 4 FSI_LeadSig 0x41615252, 484 4 FSI_StrucSig 0x61417272, 488 4 FSI_Free_Count,
//   492 4 FSI_Nxt_Free, 508 4 FSI_TrailSig 0xAA550000; 0xFFFFFFFF means "unknown".
struct FsInfo {
  std::uint32_t free_count = 0xFFFFFFFF;
  std::uint32_t next_free = 0xFFFFFFFF;
  static bool valid(ByteSpan sector);
  static FsInfo decode(ByteSpan sector);
  void encode(MutableByteSpan sector) const;  // at least 512 bytes
};

}  // namespace bootmirror::fat
