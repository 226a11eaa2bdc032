// Device paths in binary (UEFI 2.10, 10.2): a list of nodes, each
//   offset size field
//        0    1 Type (1 hardware, 2 ACPI, 3 messaging, 4 media, 5 BBS, 0x7F end)
//        1    1 Sub-Type
//        2    2 Length: of the node, these 4 bytes included
//        4    - the node's data
// ended by End Entire (7F FF 04 00); End Instance (7F 01) separates instances. Nodes of every
// kind are kept as their bytes; the two a boot entry needs are read here:
//
// Media/Hard Drive (10.3.5.1), Length 42:
//        4    4 PartitionNumber (1-based; 0 means the whole disk)
//        8    8 PartitionStart (LBA)
//       16    8 PartitionSize (LBAs)
//       24   16 PartitionSignature: a GUID (UEFI byte order) or a 32-bit MBR signature and zeros
//       40    1 PartitionFormat (MBRType): 1 MBR, 2 GPT
//       41    1 SignatureType: 0 none, 1 MBR, 2 GUID
// Media/File Path (10.3.5.4): PathName, UCS-2 with its NUL; Length = 4 + its bytes.
#include <fmt/format.h>

#include "nvram/codec.h"

namespace bootmirror::nvram {

namespace {
constexpr std::size_t kHardDriveData = 38;
}

HardDrive HardDrive::gpt(std::uint32_t number, std::uint64_t start_lba, std::uint64_t size_lba, const Guid& partition) {
  HardDrive hd{number, start_lba, size_lba, {}, 2, 2};
  partition.store_uefi_bytes(hd.signature);
  return hd;
}

HardDrive HardDrive::mbr(std::uint32_t number, std::uint64_t start_lba, std::uint64_t size_lba, std::uint32_t disk_signature) {
  HardDrive hd{number, start_lba, size_lba, {}, 1, 1};
  store_le<std::uint32_t>(hd.signature, 0, disk_signature);
  return hd;
}

std::optional<Guid> HardDrive::partition_guid() const {
  if (signature_type != 2) return std::nullopt;
  return Guid::from_uefi_bytes(signature);
}

std::optional<std::uint32_t> HardDrive::mbr_signature() const {
  if (signature_type != 1) return std::nullopt;
  return load_le<std::uint32_t>(signature, 0);
}

DevicePathNode HardDrive::node() const {
  DevicePathNode n{kMediaPath, kMediaHardDrive, ByteVector(kHardDriveData)};
  store_le<std::uint32_t>(n.data, 0, partition_number);
  store_le<std::uint64_t>(n.data, 4, start_lba);
  store_le<std::uint64_t>(n.data, 12, size_lba);
  std::copy(signature.begin(), signature.end(), n.data.begin() + 20);
  store_le<std::uint8_t>(n.data, 36, partition_format);
  store_le<std::uint8_t>(n.data, 37, signature_type);
  return n;
}

std::optional<HardDrive> as_hard_drive(const DevicePathNode& node, std::uint64_t offset) {
  if (node.type != kMediaPath || node.subtype != kMediaHardDrive) return std::nullopt;
  if (node.data.size() != kHardDriveData)
    throw FormatError(fmt::format("Hard Drive device path node: Length {} instead of {}", node.data.size() + 4, kHardDriveData + 4),
                      offset + 2);
  HardDrive hd;
  hd.partition_number = load_le<std::uint32_t>(node.data, 0);
  hd.start_lba = load_le<std::uint64_t>(node.data, 4);
  hd.size_lba = load_le<std::uint64_t>(node.data, 12);
  std::copy_n(node.data.begin() + 20, 16, hd.signature.begin());
  hd.partition_format = load_le<std::uint8_t>(node.data, 36);
  hd.signature_type = load_le<std::uint8_t>(node.data, 37);
  return hd;
}

std::optional<std::u16string> as_file_path(const DevicePathNode& node, std::uint64_t offset) {
  if (node.type != kMediaPath || node.subtype != kMediaFilePath) return std::nullopt;
  if (node.data.size() % 2 != 0)
    throw FormatError(fmt::format("File Path device path node: {} bytes of UCS-2 is an odd count", node.data.size()), offset + 2);
  std::u16string text;
  for (std::size_t at = 0; at < node.data.size(); at += 2) {
    const auto unit = load_le<std::uint16_t>(node.data, at);
    if (unit == 0) break;
    text.push_back(char16_t(unit));
  }
  return text;
}

DevicePathNode file_path_node(std::u16string_view path) {
  DevicePathNode node{kMediaPath, kMediaFilePath, {}};
  codec::append_ucs2(node.data, codec::checked_name(path, "a file path"), true);
  return node;
}

DevicePath DevicePath::decode(ByteSpan bytes, std::uint64_t offset, std::size_t* consumed) {
  DevicePath path;
  for (std::size_t at = 0;;) {
    if (bytes.size() - at < 4)
      throw FormatError(fmt::format("device path: no End node within its {} bytes", bytes.size()), offset + at);
    const auto type = load_le<std::uint8_t>(bytes, at);
    const auto subtype = load_le<std::uint8_t>(bytes, at + 1);
    const auto length = load_le<std::uint16_t>(bytes, at + 2);
    if (length < 4)
      throw FormatError(fmt::format("device path node {:#04x}/{:#04x}: Length {} is shorter than its header", type, subtype, length),
                        offset + at + 2);
    if (length > bytes.size() - at)
      throw FormatError(fmt::format("device path node {:#04x}/{:#04x}: Length {} runs past the path's {} bytes", type, subtype,
                                    length, bytes.size()), offset + at + 2);
    if (type == kEndPath && subtype == kEndEntire) {
      if (consumed) *consumed = at + length;
      return path;
    }
    const auto data = bytes.subspan(at + 4, length - 4u);
    path.nodes.push_back({type, subtype, ByteVector(data.begin(), data.end())});
    // The interpretations must hold for the kinds we read, so a path that decodes prints.
    as_hard_drive(path.nodes.back(), offset + at);
    as_file_path(path.nodes.back(), offset + at);
    at += length;
  }
}

std::size_t DevicePath::encoded_size() const {
  std::size_t size = 4;
  for (const auto& node : nodes) size += 4 + node.data.size();
  return size;
}

ByteVector DevicePath::encode() const {
  ByteVector out;
  out.reserve(encoded_size());
  auto header = [&](std::uint8_t type, std::uint8_t subtype, std::size_t length) {
    if (length > 0xFFFF) throw UsageError(fmt::format("a device path node of {} bytes does not fit its 16-bit Length", length));
    out.push_back(std::byte{type});
    out.push_back(std::byte{subtype});
    out.push_back(std::byte(length & 0xFF));
    out.push_back(std::byte(length >> 8));
  };
  for (const auto& node : nodes) {
    if (node.type == kEndPath && node.subtype == kEndEntire)
      throw UsageError("an End Entire node inside a device path would end it early");
    header(node.type, node.subtype, 4 + node.data.size());
    out.insert(out.end(), node.data.begin(), node.data.end());
  }
  header(kEndPath, kEndEntire, 4);
  return out;
}

std::optional<HardDrive> DevicePath::hard_drive() const {
  for (const auto& node : nodes)
    if (auto hd = as_hard_drive(node)) return hd;
  return std::nullopt;
}

// Consecutive File Path nodes name one path (UEFI 2.10, 10.3.5.4 allows splitting it); they are
// joined with one backslash between them.
std::optional<std::u16string> DevicePath::file_path() const {
  std::optional<std::u16string> joined;
  for (const auto& node : nodes) {
    auto part = as_file_path(node);
    if (!part) continue;
    if (!joined) {
      joined = *part;
    } else {
      if (!joined->empty() && joined->back() != u'\\' && (part->empty() || part->front() != u'\\')) joined->push_back(u'\\');
      *joined += *part;
    }
  }
  return joined;
}

}  // namespace bootmirror::nvram
