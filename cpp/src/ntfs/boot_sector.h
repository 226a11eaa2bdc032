// The NTFS boot sector (its BPB and extended BPB): field table and an explicit LE decoder.
// Sources, read for facts: the Linux-NTFS project's "NTFS Documentation" (Richard Russon, Yuval
// Fledel), section "$Boot"; ntfs-3g include/ntfs-3g/layout.h (NTFS_BOOT_SECTOR, BIOS_PARAMETER_BLOCK);
// the kernel's fs/ntfs3/super.c (struct NTFS_BOOT, ntfs_init_from_boot).
//   off size field
//     0    3 jump                 EB 52 90
//     3    8 OEM id               "NTFS    "
//    11    2 bytes per sector     256..4096, a power of two
//    13    1 sectors per cluster  1..128; 0xF4..0xFF mean 2^(256-v) (clusters above 64 KiB)
//    14    2 reserved sectors     0
//    16    3 (FAT fields)         0
//    19    2 (FAT total sectors)  0
//    21    1 media descriptor     0xF8
//    22    2 (FAT size)           0
//    24    2 sectors per track
//    26    2 heads
//    28    4 hidden sectors       the partition's first sector
//    32    4 (FAT total sectors)  0
//    36    4 (drive number, ...)  0x00800080 as Windows writes it
//    40    8 total sectors        the volume less one sector (the backup boot sector at its end)
//    48    8 $MFT cluster
//    56    8 $MFTMirr cluster
//    64    1 clusters per MFT record: v > 0 clusters; v < 0 (signed) 2^-v bytes (0xF6: 1024)
//    68    1 clusters per index record, the same encoding
//    72    8 volume serial number
//    80    4 checksum             0 (not checked by Windows)
//   510    2 signature            55 AA
#pragma once

#include <cstdint>

#include "bootmirror/bytes.h"

namespace bootmirror::ntfs {

struct BootSector {
  std::uint32_t bytes_per_sector = 512;
  std::uint32_t cluster_bytes = 4096;
  std::uint32_t hidden_sectors = 0;
  std::uint64_t total_sectors = 0;
  std::uint64_t mft_cluster = 0;
  std::uint64_t mft_mirror_cluster = 0;
  std::uint32_t mft_record_bytes = 1024;
  std::uint32_t index_record_bytes = 4096;
  std::uint64_t serial = 0;

  // The volume's clusters, as the boot sector counts them.
  std::uint64_t cluster_count() const { return total_sectors * bytes_per_sector / cluster_bytes; }

  // Decodes the first sector of a volume of `volume_bytes`; FormatError naming the field (offsets
  // relative to `base`) when it is not NTFS's or describes something the volume cannot hold.
  static BootSector decode(ByteSpan sector, std::uint64_t volume_bytes, std::uint64_t base = 0);
};

// Whether a sector looks like an NTFS boot sector (its OEM id), before any check.
bool looks_like_ntfs(ByteSpan sector);

}  // namespace bootmirror::ntfs
