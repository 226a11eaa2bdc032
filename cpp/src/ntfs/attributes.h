// Attribute records inside a FILE record, and the run lists ("mapping pairs") of non-resident
// attributes. Sources, read for facts: the Linux-NTFS project's "NTFS Documentation", sections
// "Attribute - Standard Header" and "Data Runs"; ntfs-3g layout.h (ATTR_RECORD, ATTR_TYPES,
// ATTR_FLAGS) and runlist.c; the kernel's fs/ntfs3/ntfs.h (struct ATTRIB) and run.c (run_unpack).
//
// Every attribute:
//   off size field
//     0    4 type                 0x10 $STANDARD_INFORMATION ... 0x100 $LOGGED_UTILITY_STREAM;
//                                 0xFFFFFFFF ends the list
//     4    4 length               of this attribute record, 8-aligned, inside the record
//     8    1 non-resident         0 or 1
//     9    1 name length          UTF-16 code units
//    10    2 name offset
//    12    2 flags                0x0001 compressed, 0x4000 encrypted, 0x8000 sparse
//    14    2 attribute id
// Resident:
//    16    4 value length
//    20    2 value offset
//    22    1 indexed flag
// Non-resident:
//    16    8 lowest VCN           first cluster of the attribute this record maps
//    24    8 highest VCN
//    32    2 mapping pairs offset
//    34    1 compression unit     log2 clusters; 0 when not compressed
//    40    8 allocated size       bytes, whole clusters (only in the record with lowest VCN 0)
//    48    8 data size
//    56    8 initialized size
//    64    8 compressed size      only when compressed or sparse
//
// Mapping pairs: a header byte, low nibble L = bytes of the run's length (unsigned), high nibble
// F = bytes of its start (signed, relative to the previous run's start); F = 0 is a sparse run (no
// clusters). A header byte of 0 ends the list.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bootmirror/bytes.h"

namespace bootmirror::ntfs {

enum class AttributeType : std::uint32_t {
  standard_information = 0x10,
  attribute_list = 0x20,
  file_name = 0x30,
  object_id = 0x40,
  security_descriptor = 0x50,
  volume_name = 0x60,
  volume_information = 0x70,
  data = 0x80,
  index_root = 0x90,
  index_allocation = 0xA0,
  bitmap = 0xB0,
  reparse_point = 0xC0,
  end = 0xFFFFFFFF,
};

struct Run {
  std::uint64_t vcn = 0;                // first cluster of the attribute the run maps
  std::uint64_t length = 0;             // clusters
  std::optional<std::uint64_t> lcn;     // first cluster on the volume; none for a sparse run
  bool operator==(const Run&) const = default;
};

struct Attribute {
  AttributeType type = AttributeType::end;
  std::u16string name;  // as stored; an unnamed attribute has none
  std::uint16_t id = 0;
  bool compressed = false, encrypted = false, sparse = false;
  bool resident = true;
  ByteVector value;  // resident: the value (a copy: it outlives the record's buffer)
  // Non-resident:
  std::uint64_t lowest_vcn = 0, highest_vcn = 0;
  std::uint64_t allocated_size = 0, data_size = 0, initialized_size = 0;
  std::vector<Run> runs;
  std::uint64_t offset = 0;  // of this attribute record on the volume, for messages
};

// The attributes of a FILE record (fixups applied, header checked), in record order. Every
// length and offset is checked against the record and every run against the volume's
// `cluster_count` clusters; FormatError with the offset (from `base`) of the field at fault.
std::vector<Attribute> decode_attributes(ByteSpan record, std::uint32_t first_attribute, std::uint32_t bytes_in_use,
                                         std::uint64_t cluster_count, std::uint64_t base);

// The mapping pairs at `pairs` (to the end of the span) for the clusters from `lowest_vcn` to
// `highest_vcn`: runs in VCN order, each on the volume's `cluster_count` clusters.
std::vector<Run> decode_runs(ByteSpan pairs, std::uint64_t lowest_vcn, std::uint64_t highest_vcn,
                             std::uint64_t cluster_count, std::uint64_t base);

}  // namespace bootmirror::ntfs
