// On-disk codecs of the variable store (EDK2's VariableFormat.h, AuthenticatedVariableFormat.h and
// PiFirmwareVolume.h) and the UCS-2 helpers the NVRAM values share. Internal to cpp/nvram.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/nvram.h"

namespace bootmirror::nvram::codec {

// gEfiSystemNvDataFvGuid: the FileSystemGuid of a firmware volume that holds NV variables.
const Guid& system_nv_data_fv_guid();
// gEfiAuthenticatedVariableGuid and gEfiVariableGuid: a variable store's Signature.
const Guid& authenticated_variable_guid();
const Guid& variable_guid();

// EFI_FIRMWARE_VOLUME_HEADER (PI 1.7 vol. 3, 3.2.1; MdePkg/Include/Pi/PiFirmwareVolume.h):
//   offset size field
//        0   16 ZeroVector
//       16   16 FileSystemGuid: gEfiSystemNvDataFvGuid for a variable store
//       32    8 FvLength: the whole volume, header included
//       40    4 Signature "_FVH"
//       44    4 Attributes (EFI_FVB_ATTRIBUTES_2)
//       48    2 HeaderLength: header and block map; the variable store starts here
//       50    2 Checksum: the 16-bit words of HeaderLength bytes sum to 0
//       52    2 ExtHeaderOffset (0: none)
//       54    1 Reserved
//       55    1 Revision (2)
//       56  8*n BlockMap: {NumBlocks u32, Length u32} entries, ended by {0, 0}
inline constexpr std::uint32_t kFvSignature = 0x4856465F;  // "_FVH"
inline constexpr std::size_t kFvMinimumHeader = 72;        // one block map entry and the {0,0}

// VARIABLE_STORE_HEADER (MdeModulePkg/Include/Guid/VariableFormat.h), right after the FV header:
//   offset size field
//        0   16 Signature: gEfiAuthenticatedVariableGuid or gEfiVariableGuid
//       16    4 Size: of the store, this header included
//       20    1 Format: VARIABLE_STORE_FORMATTED 0x5A
//       21    1 State: VARIABLE_STORE_HEALTHY 0xFE
//       22    2 Reserved
//       24    4 Reserved1
inline constexpr std::size_t kStoreHeaderSize = 28;
inline constexpr std::uint8_t kStoreFormatted = 0x5A;
inline constexpr std::uint8_t kStoreHealthy = 0xFE;

// The FV header and the store header of a VARS file: FormatError with the byte offset for a bad
// signature, checksum, length or store header. Leaves variables_end for decode_records.
StoreLayout decode_layout(ByteSpan image);

// AUTHENTICATED_VARIABLE_HEADER (AuthenticatedVariableFormat.h), 60 bytes; the plain
// VARIABLE_HEADER (VariableFormat.h) is the same without MonotonicCount, TimeStamp and
// PubKeyIndex, 32 bytes:
//   auth plain size field
//      0     0    2 StartId 0x55AA
//      2     2    1 State (kAdded, ...)
//      3     3    1 Reserved
//      4     4    4 Attributes
//      8     -    8 MonotonicCount
//     16     -   16 TimeStamp (EFI_TIME)
//     32     -    4 PubKeyIndex
//     36     8    4 NameSize: bytes of the UCS-2 name with its NUL
//     40    12    4 DataSize
//     44    16   16 VendorGuid (UEFI byte order)
//     60    32    - Name, then Data (ALIGNMENT is 1 on x86: no pad between them); the next
//                   header starts at the next multiple of 4 (HEADER_ALIGNMENT)
// A header whose State, NameSize, DataSize or Attributes is all ones counts as having no name and
// no data (EDK2's NameSizeOfVariable/DataSizeOfVariable): it is a header being written.
inline constexpr std::uint16_t kStartId = 0x55AA;
inline constexpr std::uint64_t kHeaderAlignment = 4;
inline std::uint64_t align_header(std::uint64_t offset) { return (offset + kHeaderAlignment - 1) & ~(kHeaderAlignment - 1); }

// Every record from layout.variables_offset while a StartId is found, validated against the store
// end; sets layout.variables_end and marks the live copies.
std::vector<Record> decode_records(ByteSpan image, StoreLayout& layout);
// A record's bytes as EDK2 writes them: header (State 0xFF, for the caller to advance), name with
// its NUL, data; no trailing pad (the next header is aligned, the pad stays free space).
ByteVector encode_record(const Variable& variable, bool authenticated);
inline constexpr std::size_t kStateOffset = 2;
RecordState classify_state(std::uint8_t state);

// Bytes of a store's non-hardware-error records (live or not), as EDK2 counts
// CommonVariableTotalSize, and the space it allows them.
std::uint64_t common_bytes(const std::vector<Record>& records);
std::uint64_t common_space(const StoreLayout& layout);

// The store region rebuilt as EDK2's Reclaim does: the store header, every added record (raw, as
// found) but `skip`, then every copy in deleted transition that no added copy shadows (promoted to
// added), then `extra` (a new record) added; 0xFF to the store end. Returns the new image, or
// nullopt when the records do not fit.
std::optional<ByteVector> reclaimed_image(ByteSpan image, const StoreLayout& layout, const std::vector<Record>& records,
                                          const std::vector<std::uint64_t>& skip, ByteSpan extra);

// A VARS file as a device; with a log, behind a FaultyDisk that records its writes and flushes.
DevicePtr open_store_file(const std::string& path, bool writable, const std::shared_ptr<WriteLog>& log);

// UCS-2 text in NVRAM values. A NUL-terminated string starting at `at`: FormatError (at `base` +
// place, naming `what`) when no NUL comes before the end of `bytes` or an odd byte is left.
// `end` receives the offset just past the NUL.
std::u16string load_ucs2_z(ByteSpan bytes, std::size_t at, std::uint64_t base, std::string_view what, std::size_t* end);
void append_ucs2(ByteVector& out, std::u16string_view text, bool with_nul);
// UTF-16 for a name or description given in UTF-8, UsageError for an embedded NUL.
std::u16string checked_name(std::u16string_view text, std::string_view what);

}  // namespace bootmirror::nvram::codec
