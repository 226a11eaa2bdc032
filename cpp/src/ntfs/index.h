// Directory indexes ($I30): $INDEX_ROOT, the INDX blocks of $INDEX_ALLOCATION, their entries, and
// the $FILE_NAME and $STANDARD_INFORMATION values. Sources, read for facts: the Linux-NTFS
// project's "NTFS Documentation", sections "$INDEX_ROOT", "$INDEX_ALLOCATION", "Index Entry",
// "$FILE_NAME", "$STANDARD_INFORMATION"; ntfs-3g layout.h (INDEX_ROOT, INDEX_HEADER,
// INDEX_BLOCK, INDEX_ENTRY, FILE_NAME_ATTR, STANDARD_INFORMATION); the kernel's fs/ntfs3/ntfs.h.
//
// $INDEX_ROOT value:
//   off size field
//     0    4 indexed attribute type  0x30 ($FILE_NAME) for a folder's $I30
//     4    4 collation rule          1: file names
//     8    4 index block size        bytes (4096 as Windows makes them)
//    12    1 clusters per index block (or 512-byte units when a block is smaller than a cluster)
//    16   16 index header, then its entries
// INDX block (multi-sector record, update sequence as in record.h):
//     0    4 "INDX", 4 2 update sequence offset, 6 2 its count
//     8    8 $LogFile sequence number
//    16    8 this block's VCN
//    24   16 index header, then its entries
// Index header (offsets from the header's own start):
//     0    4 first entry offset
//     4    4 bytes in use (header included)
//     8    4 bytes allocated
//    12    1 flags                   0x01: entries have children (a large index)
// Index entry:
//     0    8 file reference           of the file the entry names
//     8    2 entry length             8-aligned
//    10    2 key length               the $FILE_NAME value's length
//    12    2 flags                    0x01 has a child block (its VCN in the entry's last 8 bytes),
//                                     0x02 last entry of its node (it has no key)
//    16    - key
// $FILE_NAME value:
//     0    8 parent folder reference
//     8    8 created, 16 8 modified, 24 8 MFT record changed, 32 8 accessed (FILETIME)
//    40    8 allocated size, 48 8 real size (as of the last update of this name)
//    56    4 file attributes (0x10000000: a folder)
//    64    1 name length (UTF-16 code units), 65 1 namespace (0 POSIX, 1 Win32, 2 DOS, 3 both)
//    66    - name
// $STANDARD_INFORMATION value:
//     0    8 created, 8 8 modified, 16 8 MFT record changed, 24 8 accessed; 32 4 file attributes
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bootmirror/bytes.h"
#include "ntfs/record.h"

namespace bootmirror::ntfs {

enum class Namespace : std::uint8_t { posix = 0, win32 = 1, dos = 2, win32_and_dos = 3 };

struct FileName {
  FileReference parent;
  std::uint64_t created = 0, modified = 0, changed = 0, accessed = 0;  // FILETIME
  std::uint64_t allocated_size = 0, size = 0;
  std::uint32_t attributes = 0;
  Namespace name_space = Namespace::posix;
  std::u16string name;
  static FileName decode(ByteSpan value, std::uint64_t base);
};

struct StandardInformation {
  std::uint64_t created = 0, modified = 0, changed = 0, accessed = 0;
  std::uint32_t attributes = 0;
  static StandardInformation decode(ByteSpan value, std::uint64_t base);
};

struct IndexEntry {
  FileReference file;
  std::optional<FileName> key;           // none for a node's last entry
  std::optional<std::uint64_t> child;    // the VCN of the block below it
};

struct IndexNode {
  std::vector<IndexEntry> entries;  // in collation order, the last one keyless
};

struct IndexRoot {
  std::uint32_t indexed_type = 0;
  std::uint32_t block_bytes = 0;
  IndexNode node;
};

// $INDEX_ROOT's value (a $FILE_NAME index: FormatError for any other).
IndexRoot decode_index_root(ByteSpan value, std::uint64_t base);
// An INDX block of `block` bytes, as read (update sequence still in place): fixups undone, its VCN
// checked against `vcn`, its entries decoded.
IndexNode decode_index_block(MutableByteSpan block, std::uint64_t vcn, std::uint64_t base);

}  // namespace bootmirror::ntfs
