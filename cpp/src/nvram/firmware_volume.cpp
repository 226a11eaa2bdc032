// The firmware volume header of a VARS file and the variable store header inside it (field tables
// in nvram/codec.h). OVMF checks the same things before it trusts the flash (its
// ValidateFvHeader): a volume that fails here would be reformatted by the firmware, losing every
// variable, so we refuse it rather than guess.
#include <fmt/format.h>

#include "nvram/codec.h"

namespace bootmirror::nvram::codec {

const Guid& system_nv_data_fv_guid() {
  static const Guid guid = Guid::parse("fff12b8d-7696-4c8b-a985-2747075b4f50");
  return guid;
}

const Guid& authenticated_variable_guid() {
  static const Guid guid = Guid::parse("aaf32c78-947b-439a-a180-2e144ec37792");
  return guid;
}

const Guid& variable_guid() {
  static const Guid guid = Guid::parse("ddcf3616-3275-4164-98b6-fe85707ffe7d");
  return guid;
}

namespace {

std::uint16_t sum16(ByteSpan bytes) {
  std::uint16_t sum = 0;
  for (std::size_t at = 0; at + 1 < bytes.size(); at += 2) sum = std::uint16_t(sum + load_le<std::uint16_t>(bytes, at));
  return sum;
}

void decode_block_map(ByteSpan image, StoreLayout& layout) {
  std::uint64_t covered = 0;
  for (std::size_t at = 56;; at += 8) {
    if (at + 8 > layout.fv_header_length)
      throw FormatError("firmware volume: block map has no {0, 0} end within the header", at);
    const auto blocks = load_le<std::uint32_t>(image, at);
    const auto length = load_le<std::uint32_t>(image, at + 4);
    if (blocks == 0 && length == 0) break;
    if (blocks == 0 || length == 0)
      throw FormatError(fmt::format("firmware volume: block map entry of {} blocks of {} bytes", blocks, length), at);
    covered += std::uint64_t(blocks) * length;
    layout.block_map.emplace_back(blocks, length);
  }
  if (layout.block_map.empty()) throw FormatError("firmware volume: empty block map", 56);
  if (covered != layout.fv_length)
    throw FormatError(fmt::format("firmware volume: block map covers {} bytes, FvLength is {}", covered, layout.fv_length), 56);
}

void decode_store_header(ByteSpan image, StoreLayout& layout) {
  const std::uint64_t at = layout.store_offset;
  if (at + kStoreHeaderSize > layout.fv_length)
    throw FormatError("variable store header: runs past the firmware volume", at);
  const Guid signature = Guid::from_uefi_bytes(subspan(image, at, 16));
  if (signature == authenticated_variable_guid()) layout.authenticated = true;
  else if (signature == variable_guid()) layout.authenticated = false;
  else throw FormatError(fmt::format("variable store header: signature {} is neither the authenticated nor the plain variable GUID",
                                     signature.to_string()), at);
  layout.store_size = load_le<std::uint32_t>(image, at + 16);
  const auto format = load_le<std::uint8_t>(image, at + 20);
  const auto state = load_le<std::uint8_t>(image, at + 21);
  if (format != kStoreFormatted)
    throw FormatError(fmt::format("variable store header: Format {:#04x}, expected {:#04x}", format, kStoreFormatted), at + 20);
  if (state != kStoreHealthy)
    throw FormatError(fmt::format("variable store header: State {:#04x}, expected {:#04x} (healthy)", state, kStoreHealthy), at + 21);
  if (layout.store_size < kStoreHeaderSize || layout.store_size > layout.fv_length - at)
    throw FormatError(fmt::format("variable store header: Size {:#x} does not fit the firmware volume of {:#x} bytes from {:#x}",
                                  layout.store_size, layout.fv_length, at), at + 16);
  layout.variables_offset = align_header(at + kStoreHeaderSize);
  layout.variables_end = layout.variables_offset;
}

}  // namespace

StoreLayout decode_layout(ByteSpan image) {
  if (image.size() < kFvMinimumHeader)
    throw FormatError(fmt::format("firmware volume: {} bytes cannot hold a firmware volume header", image.size()), 0);
  if (load_le<std::uint32_t>(image, 40) != kFvSignature)
    throw FormatError("firmware volume: no \"_FVH\" signature", 40);
  StoreLayout layout;
  const Guid file_system = Guid::from_uefi_bytes(subspan(image, 16, 16));
  if (file_system != system_nv_data_fv_guid())
    throw FormatError(fmt::format("firmware volume: FileSystemGuid {} is not gEfiSystemNvDataFvGuid (not a variable store)",
                                  file_system.to_string()), 16);
  layout.fv_length = load_le<std::uint64_t>(image, 32);
  if (layout.fv_length > image.size() || layout.fv_length < kFvMinimumHeader)
    throw FormatError(fmt::format("firmware volume: FvLength {:#x} does not fit the {:#x} bytes there are", layout.fv_length,
                                  image.size()), 32);
  layout.fv_attributes = load_le<std::uint32_t>(image, 44);
  layout.fv_header_length = load_le<std::uint16_t>(image, 48);
  if (layout.fv_header_length < kFvMinimumHeader || layout.fv_header_length % 2 != 0 ||
      layout.fv_header_length > layout.fv_length)
    throw FormatError(fmt::format("firmware volume: HeaderLength {:#x} is not a plausible header", layout.fv_header_length), 48);
  if (const std::uint16_t sum = sum16(image.first(layout.fv_header_length)); sum != 0)
    throw FormatError(fmt::format("firmware volume: header checksum does not add up (the 16-bit sum is {:#06x}, not 0)", sum), 50);
  decode_block_map(image, layout);
  layout.store_offset = layout.fv_header_length;
  decode_store_header(image, layout);
  return layout;
}

}  // namespace bootmirror::nvram::codec
