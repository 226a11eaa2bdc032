// Multi-sector records (MFT "FILE" records and index "INDX" blocks): the update sequence that
// protects them, and the FILE record header. Sources, read for facts: the Linux-NTFS project's
// "NTFS Documentation", sections "Update Sequence" and "FILE Record"; ntfs-3g layout.h
// (NTFS_RECORD, MFT_RECORD); the kernel's fs/ntfs3/fsntfs.c (ntfs_fix_post_read).
//
// Update sequence (every multi-sector record):
//   off size field
//     0    4 magic                "FILE" (MFT record) or "INDX" (index block)
//     4    2 update sequence offset, in the record; even, inside the first stride
//     6    2 update sequence count: 1 + the record's 512-byte strides
// The array holds the update sequence number (USN), then for each 512-byte stride the two bytes
// that belong at its end; on disk each stride ends with the USN instead. A stride whose last two
// bytes are not the USN was torn (written in part): the record cannot be trusted.
//
// FILE record header (NTFS 3.1, Windows XP and later):
//     8    8 $LogFile sequence number
//    16    2 sequence number      bumped each time the record is reused
//    18    2 hard link count
//    20    2 first attribute offset, 8-aligned, past the update sequence
//    22    2 flags                0x0001 in use, 0x0002 directory
//    24    4 bytes in use         8-aligned, at most the record's size
//    28    4 bytes allocated      the record's size
//    32    8 base record          0 unless this is an extension record (file reference)
//    40    2 next attribute id
//    44    4 this record's number (NTFS 3.1)
#pragma once

#include <cstdint>
#include <string>

#include "bootmirror/bytes.h"

namespace bootmirror::ntfs {

// The stride the update sequence protects: 512 bytes whatever the sector size (NTFS_BLOCK_SIZE).
inline constexpr std::size_t kFixupStride = 512;

// Checks the update sequence of `record` (its whole allocated size) and puts each stride's last
// two bytes back. FormatError (offsets from `base`, the record's position on the volume) when the
// magic is not `magic`, the array does not fit, or a stride was torn.
void apply_fixups(MutableByteSpan record, const char (&magic)[5], std::uint64_t base);

// A file reference: the MFT record number (48 bits) and the sequence number it must carry.
struct FileReference {
  std::uint64_t record = 0;
  std::uint16_t sequence = 0;
  static FileReference decode(std::uint64_t value) {
    return FileReference{value & 0xFFFFFFFFFFFFull, std::uint16_t(value >> 48)};
  }
  bool operator==(const FileReference&) const = default;
};

struct RecordHeader {
  std::uint16_t sequence = 0;
  std::uint16_t link_count = 0;
  std::uint16_t first_attribute = 0;
  bool in_use = false;
  bool directory = false;
  std::uint32_t bytes_in_use = 0;
  FileReference base;  // record 0 for a base record
  // Decodes a FILE record whose fixups were applied; FormatError when its offsets do not fit.
  static RecordHeader decode(ByteSpan record, std::uint64_t base);
};

}  // namespace bootmirror::ntfs
