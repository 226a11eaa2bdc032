// EFI NVRAM as OVMF keeps it in its VARS file: a firmware volume holding EDK2's variable store,
// whose variables (boot entries among them) are read and updated the way EDK2's variable driver
// does, in its crash-safe order. Also the values firmware and Windows put in those variables:
// EFI_LOAD_OPTION, device paths (binary and the UEFI text form) and Windows' OS options.
//
// Everything here speaks of bytes, GUIDs and device paths; the machine turns device paths into
// disks and partitions.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/guid.h"
#include "bootmirror/io.h"
#include "bootmirror/write_log.h"

namespace bootmirror::nvram {

// ---- Variables (UEFI 2.10, 8.2: GetVariable/SetVariable) ---------------------------------------

// Attribute bits of a variable.
inline constexpr std::uint32_t kNonVolatile = 0x01;
inline constexpr std::uint32_t kBootServiceAccess = 0x02;
inline constexpr std::uint32_t kRuntimeAccess = 0x04;
inline constexpr std::uint32_t kHardwareErrorRecord = 0x08;
inline constexpr std::uint32_t kAuthenticatedWriteAccess = 0x10;
inline constexpr std::uint32_t kTimeBasedAuthenticatedWriteAccess = 0x20;
inline constexpr std::uint32_t kAppendWrite = 0x40;
// NV|BS|RT: what boot entries, BootOrder and Timeout carry.
inline constexpr std::uint32_t kDefaultAttributes = kNonVolatile | kBootServiceAccess | kRuntimeAccess;

// EFI_GLOBAL_VARIABLE (UEFI 2.10, 3.3): the vendor GUID of Boot####, BootOrder, Timeout, ...
const Guid& global_variable_guid();

// State bytes of a variable record (EDK2 VariableFormat.h). A state is changed only by clearing
// bits (flash semantics), so the states a record passes through are ANDed: a copy in deleted
// transition holds 0x3F & 0xFE = 0x3E, a deleted one 0x3F & 0xFE & 0xFD = 0x3C.
inline constexpr std::uint8_t kHeaderValidOnly = 0x7F;
inline constexpr std::uint8_t kAdded = 0x3F;
inline constexpr std::uint8_t kInDeletedTransition = 0xFE;  // the mask
inline constexpr std::uint8_t kDeleted = 0xFD;              // the mask

enum class RecordState {
  added,                  // 0x3F: a live copy
  in_deleted_transition,  // 0x3E: an old copy being replaced; live until a new copy is added
  deleted,                // 0x3C (any state with the deleted bit cleared after added)
  header_valid_only,      // 0x7F: a new copy whose name and data were being written
  unwritten,              // 0xFF: a header written, its state not yet (sizes count as 0)
  other,                  // any other byte: never live
};
std::string_view state_name(RecordState state);

// A variable's value and header fields.
struct Variable {
  std::u16string name;  // without its NUL
  Guid vendor;
  std::uint32_t attributes = kDefaultAttributes;
  ByteVector data;
  // Authenticated stores only (zero in the 32-byte headers of the plain format).
  std::uint64_t monotonic_count = 0;
  std::array<std::byte, 16> timestamp{};  // EFI_TIME as stored
  std::uint32_t pubkey_index = 0;

  std::string name_utf8() const;
};

// One variable record of the store as found, in any state.
struct Record {
  std::uint64_t offset = 0;       // of its header, from the start of the file
  std::uint64_t size = 0;         // header to the next header (4-byte aligned)
  std::uint64_t data_offset = 0;  // of its data, from the start of the file (after NameSize bytes)
  std::uint8_t state = 0xFF;
  RecordState kind = RecordState::unwritten;
  bool live = false;  // the copy GetVariable answers with (EDK2's FindVariableEx rule)
  Variable variable;
};

// Where things are in a VARS file.
struct StoreLayout {
  std::uint64_t fv_length = 0;            // EFI_FIRMWARE_VOLUME_HEADER.FvLength
  std::uint16_t fv_header_length = 0;
  std::uint32_t fv_attributes = 0;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> block_map;  // (NumBlocks, Length)
  std::uint64_t store_offset = 0;        // VARIABLE_STORE_HEADER
  std::uint32_t store_size = 0;          // its Size: header included
  bool authenticated = true;             // gEfiAuthenticatedVariableGuid (60-byte headers)
  std::uint64_t variables_offset = 0;    // the first record
  std::uint64_t variables_end = 0;       // past the last record: where the next one goes
  std::uint64_t store_end() const { return store_offset + store_size; }
  std::uint32_t header_size() const { return authenticated ? 60 : 32; }
};

// ---- Device paths (UEFI 2.10, 10.2-10.6) -----------------------------------------------------

inline constexpr std::uint8_t kHardwarePath = 0x01;
inline constexpr std::uint8_t kAcpiPath = 0x02;
inline constexpr std::uint8_t kMessagingPath = 0x03;
inline constexpr std::uint8_t kMediaPath = 0x04;
inline constexpr std::uint8_t kBbsPath = 0x05;
inline constexpr std::uint8_t kEndPath = 0x7F;
inline constexpr std::uint8_t kEndEntire = 0xFF;
inline constexpr std::uint8_t kEndInstance = 0x01;
inline constexpr std::uint8_t kMediaHardDrive = 0x01;
inline constexpr std::uint8_t kMediaFilePath = 0x04;

// One node: type, sub-type and the bytes after its 4-byte header (Length = 4 + data.size()).
// Every node is kept as these bytes; the interpretations below read them.
struct DevicePathNode {
  std::uint8_t type = kEndPath;
  std::uint8_t subtype = kEndEntire;
  ByteVector data;

  bool is_end_instance() const { return type == kEndPath && subtype == kEndInstance; }
  bool operator==(const DevicePathNode&) const = default;
};

// Media/Hard Drive (UEFI 2.10, 10.3.5.1): a partition by number, place and signature.
struct HardDrive {
  std::uint32_t partition_number = 0;
  std::uint64_t start_lba = 0;
  std::uint64_t size_lba = 0;
  std::array<std::byte, 16> signature{};  // as stored: a GUID (UEFI order) or a 32-bit MBR signature
  std::uint8_t partition_format = 2;       // 1 MBR, 2 GPT
  std::uint8_t signature_type = 2;         // 0 none, 1 MBR 32-bit, 2 GUID

  static HardDrive gpt(std::uint32_t number, std::uint64_t start_lba, std::uint64_t size_lba, const Guid& partition);
  static HardDrive mbr(std::uint32_t number, std::uint64_t start_lba, std::uint64_t size_lba, std::uint32_t disk_signature);
  std::optional<Guid> partition_guid() const;           // for signature type 2
  std::optional<std::uint32_t> mbr_signature() const;   // for signature type 1
  DevicePathNode node() const;
  bool operator==(const HardDrive&) const = default;
};

// The interpretations of a node: nullopt for another kind; FormatError (at `offset`) for a node of
// that kind whose bytes do not fit it.
std::optional<HardDrive> as_hard_drive(const DevicePathNode& node, std::uint64_t offset = 0);
// A File Path node's UCS-2 text without its NUL.
std::optional<std::u16string> as_file_path(const DevicePathNode& node, std::uint64_t offset = 0);
DevicePathNode file_path_node(std::u16string_view path);

// A device path: its nodes in order, without the End Entire node that closes it (End Instance
// nodes, which separate instances, are kept).
class DevicePath {
 public:
  std::vector<DevicePathNode> nodes;

  DevicePath() = default;
  explicit DevicePath(std::vector<DevicePathNode> n) : nodes(std::move(n)) {}

  // Decodes one device path from the start of `bytes`, through its End Entire node. FormatError
  // (with `offset` + the node's place) for a node shorter than its header, a Length past the
  // bytes, or no End node. `consumed` receives the bytes used, End node included.
  static DevicePath decode(ByteSpan bytes, std::uint64_t offset = 0, std::size_t* consumed = nullptr);
  ByteVector encode() const;
  std::size_t encoded_size() const;

  // UEFI 2.10, 10.6 "Device Path Text Representation": nodes joined by '/', instances by ','.
  std::string to_text() const;
  // The text form back to nodes: every node kind to_text prints, Path(type,subtype,hex) and its
  // typed variants, and a bare path as a File Path node. UsageError naming the node otherwise.
  static DevicePath parse(std::string_view text);

  // The first Hard Drive node, and the File Path nodes joined (EDK2 joins them with '\').
  std::optional<HardDrive> hard_drive() const;
  std::optional<std::u16string> file_path() const;

  bool operator==(const DevicePath&) const = default;
};

// One node's text (UEFI 2.10, Table 10.67 and following); an unknown node as
// Path(type,subtype,hexdata).
std::string node_to_text(const DevicePathNode& node);

// ---- EFI_LOAD_OPTION (UEFI 2.10, 3.1.3) -------------------------------------------------------

inline constexpr std::uint32_t kLoadOptionActive = 0x00000001;
inline constexpr std::uint32_t kLoadOptionForceReconnect = 0x00000002;
inline constexpr std::uint32_t kLoadOptionHidden = 0x00000008;
inline constexpr std::uint32_t kLoadOptionCategoryApp = 0x00000100;
inline constexpr std::uint32_t kLoadOptionCategoryMask = 0x00001F00;  // 0: LOAD_OPTION_CATEGORY_BOOT

struct LoadOption {
  std::uint32_t attributes = kLoadOptionActive;
  std::u16string description;
  // FilePathList: the first device path names the image; further ones are the OS's own.
  std::vector<DevicePath> file_paths;
  ByteVector optional_data;

  bool active() const { return (attributes & kLoadOptionActive) != 0; }
  const DevicePath& file_path() const;  // UsageError when the list is empty
  std::string description_utf8() const;

  // FormatError (at `offset` + the field's place) for a truncated header, a description without
  // its NUL, a FilePathListLength past the data, or a device path that does not decode.
  static LoadOption decode(ByteSpan bytes, std::uint64_t offset = 0);
  ByteVector encode() const;
  bool operator==(const LoadOption&) const = default;
};

// ---- Windows' OS options in a load option's OptionalData --------------------------------------

// FILE_PATH types (Windows' ntexapi.h).
inline constexpr std::uint32_t kFilePathTypeArc = 1;
inline constexpr std::uint32_t kFilePathTypeArcSignature = 2;
inline constexpr std::uint32_t kFilePathTypeNt = 3;
inline constexpr std::uint32_t kFilePathTypeEfi = 4;

// WINDOWS_OS_OPTIONS, as Windows Server 2003's IA-64 and x64 EFI loaders find it after a boot
// entry's device path: the loader's options ("/fastdetect") and where the OS is (OsLoadPath).
struct WindowsOsOptions {
  std::uint32_t version = 1;
  std::u16string os_load_options;
  std::uint32_t os_load_path_version = 1;
  std::uint32_t os_load_path_type = kFilePathTypeEfi;
  ByteVector os_load_path_bytes;  // FILE_PATH.FilePath as stored
  // Where decode found FILE_PATH.Type (the FilePath follows it), for the offsets of os_load_path's
  // errors: not part of the structure, and not compared.
  std::uint64_t os_load_path_type_offset = 0;

  static WindowsOsOptions efi(std::u16string_view options, const DevicePath& os_load_path);
  // Whether `optional_data` starts with the "WINDOWS\0" signature.
  static bool present_in(ByteSpan optional_data);
  // FormatError (at `offset` + place) when the signature is there but the structure is not.
  static WindowsOsOptions decode(ByteSpan bytes, std::uint64_t offset = 0);
  // The options a load option's optional data holds (at `offset`): none without the signature.
  static std::optional<WindowsOsOptions> find(ByteSpan optional_data, std::uint64_t offset = 0);
  ByteVector encode() const;
  // The OS load path as a device path: FormatError unless its type is EFI and it decodes, at the
  // offsets decode read it from.
  DevicePath os_load_path() const;
  std::string os_load_options_utf8() const;
  bool operator==(const WindowsOsOptions& other) const;
};

// ---- Global variables (UEFI 2.10, 3.3) --------------------------------------------------------

// "Boot0003": four uppercase hex digits.
std::u16string boot_variable_name(std::uint16_t number);
// The number of a Boot#### name (exactly four hex digits, uppercase as the spec writes them).
std::optional<std::uint16_t> boot_number_of(std::u16string_view name);
// A UINT16 array (BootOrder) and back; FormatError (at `offset`) for an odd length.
std::vector<std::uint16_t> decode_u16_list(ByteSpan bytes, std::string_view what, std::uint64_t offset = 0);
ByteVector encode_u16_list(const std::vector<std::uint16_t>& values);

struct BootEntry {
  std::uint16_t number = 0;
  std::uint32_t attributes = kDefaultAttributes;  // of the variable
  LoadOption option;
  std::uint64_t optional_data_offset = 0;  // in the store, for the offsets of errors in it
  // Windows' OS options when the optional data holds them; a FormatError names the entry and
  // where in the store.
  std::optional<WindowsOsOptions> windows_options() const;
};

// ---- The store ---------------------------------------------------------------------------------

// The VARS file Debian's ovmf package installs (4 MiB flash layout).
inline constexpr const char* kDefaultTemplate = "/usr/share/OVMF/OVMF_VARS_4M.fd";

// Space OVMF keeps for hardware error records (PcdHwErrStorageSize 0x800 in OvmfPkg's .dsc): the
// variable driver refuses ordinary variables that would eat into it, so we do too.
inline constexpr std::uint32_t kHardwareErrorReserve = 0x800;

class Store {
 public:
  // Opens a VARS file. Read-only unless `writable`; with a log, every write and flush of the file
  // and every step of a reclaim's file replacement is recorded there (crash tests).
  static std::shared_ptr<Store> open(const std::string& path, bool writable = false,
                                     std::shared_ptr<WriteLog> log = nullptr);
  // A store on any block device (a copy in memory, a FaultyDisk). Updates go to the device; a
  // reclaim, which needs the whole file replaced, is refused (UsageError).
  static std::shared_ptr<Store> on_device(DevicePtr device);
  // Copies `template_path` (a VARS file that must decode) to a new file `path` (refused when it
  // exists) and opens it writable.
  static std::shared_ptr<Store> create(const std::string& path, const std::string& template_path = kDefaultTemplate);

  const StoreLayout& layout() const { return layout_; }
  const std::string& path() const { return path_; }  // empty for a store on a device
  bool writable() const { return writable_; }

  // Every record in store order, and the live variables in store order.
  std::vector<Record> records() const;
  std::vector<Variable> variables() const;
  std::optional<Variable> get(std::u16string_view name, const Guid& vendor) const;

  // Adds or replaces a variable in EDK2's order (old copy in deleted transition, new header,
  // header valid, name and data, added, old copy deleted), flushing between steps, or through a
  // reclaim when the free space at the end of the store cannot hold it. Nothing is written when
  // the value is already there, or when it does not fit even after a reclaim (UsageError).
  void set(std::u16string_view name, const Guid& vendor, ByteSpan data, std::uint32_t attributes = kDefaultAttributes);
  // Marks the live copy deleted (and a copy in deleted transition first). False when absent.
  bool remove(std::u16string_view name, const Guid& vendor);
  // Rewrites the store with its live variables only (EDK2's Reclaim), by replacing the file.
  void reclaim();

  // Bytes free at the end of the store for new records, and bytes a reclaim would give back.
  std::uint64_t free_bytes() const;
  std::uint64_t reclaimable_bytes() const;
  // The bytes a record of this variable takes in this store (header, name, data, alignment): for
  // a caller that sets several and must know first that all of them fit.
  std::uint64_t record_bytes(std::u16string_view name, std::size_t data_size) const;

  // Global variables.
  std::vector<BootEntry> boot_entries() const;  // Boot#### under the global GUID, by number
  std::vector<std::uint16_t> boot_numbers() const;  // their numbers, none decoded (one may not decode)
  std::optional<BootEntry> boot_entry(std::uint16_t number) const;
  void set_boot_entry(std::uint16_t number, const LoadOption& option, std::uint32_t attributes = kDefaultAttributes);
  bool remove_boot_entry(std::uint16_t number);  // and drops it from BootOrder (first); false when absent
  std::uint16_t free_boot_number() const;  // the lowest number without a Boot#### (UsageError if none)
  std::vector<std::uint16_t> boot_order() const;
  void set_boot_order(const std::vector<std::uint16_t>& order);
  std::optional<std::uint16_t> boot_next() const;
  void set_boot_next(std::optional<std::uint16_t> number);  // nullopt deletes it
  std::optional<std::uint16_t> boot_current() const;
  std::optional<std::uint16_t> timeout() const;
  void set_timeout(std::optional<std::uint16_t> seconds);  // nullopt deletes it

  // The whole file as this object holds it (for tests and tools).
  ByteVector image() const;

 private:
  Store() = default;
  void load_image(ByteVector image);
  void check_writable(const char* action) const;
  void write_at(std::uint64_t offset, ByteSpan bytes);
  void write_state(std::uint64_t record_offset, std::uint8_t state);
  void replace_image(ByteVector image);
  std::optional<Record> global_record(std::u16string_view name) const;
  std::optional<std::uint16_t> u16_variable(std::u16string_view name) const;
  void set_u16_variable(std::u16string_view name, std::optional<std::uint16_t> value);
  bool remove_locked(std::u16string_view name, const Guid& vendor);
  std::optional<Variable> get_locked(std::u16string_view name, const Guid& vendor) const;
  std::uint64_t free_locked() const;

  mutable std::mutex mutex_;
  DevicePtr device_;
  std::string path_;
  bool writable_ = false;
  std::shared_ptr<WriteLog> log_;
  ByteVector image_;  // the device's bytes, kept in step with every write
  StoreLayout layout_;
  std::vector<Record> records_;
};

}  // namespace bootmirror::nvram
