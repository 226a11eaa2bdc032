// WINDOWS_OS_OPTIONS: what Windows Server 2003 (IA-64, x64) puts in a boot entry's OptionalData,
// read by its EFI loader (ia64ldr.efi) to find the OS. Layout from Windows' ntexapi.h as published
// in the Process Hacker NT headers (phnt, ntexapi.h: WINDOWS_OS_OPTIONS, FILE_PATH,
// WINDOWS_OS_OPTIONS_SIGNATURE "WINDOWS", WINDOWS_OS_OPTIONS_VERSION 1, FILE_PATH_TYPE_*), the same
// structures Server 2003's nvrboot.efi declares; all fields little-endian:
//   offset size field
//        0    8 Signature "WINDOWS\0"
//        8    4 Version: 1
//       12    4 Length: the whole structure, the FILE_PATH included
//       16    4 OsLoadPathOffset: from the start of the structure to the FILE_PATH
//       20    - OsLoadOptions: UCS-2, NUL-terminated ("/fastdetect", often empty)
//   then at OsLoadPathOffset (rounded up to 4 by Windows, which computes it with ALIGN_UP(..., ULONG)):
//        0    4 FILE_PATH.Version: 1
//        4    4 FILE_PATH.Length: 12 + the FilePath bytes
//        8    4 FILE_PATH.Type: 1 ARC, 2 ARC signature, 3 NT, 4 EFI
//       12    - FilePath: for type EFI an EFI device path, closed by its End node
// In NVRAM the OS load path is of type EFI: Windows translates the NT path it is given
// (\Device\HarddiskVolume2\WINDOWS) into a device path (HD(2,GPT,...)/\WINDOWS) when it writes the
// entry. Bytes after Length are not part of the structure and are not kept.
#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "nvram/codec.h"

namespace bootmirror::nvram {

namespace {
constexpr std::string_view kSignature{"WINDOWS\0", 8};
constexpr std::size_t kFixedPart = 20;
constexpr std::size_t kFilePathHeader = 12;
}  // namespace

WindowsOsOptions WindowsOsOptions::efi(std::u16string_view options, const DevicePath& os_load_path) {
  WindowsOsOptions o;
  o.os_load_options = codec::checked_name(options, "Windows' OS load options");
  o.os_load_path_bytes = os_load_path.encode();
  return o;
}

bool WindowsOsOptions::present_in(ByteSpan optional_data) { return matches_ascii(optional_data, 0, kSignature); }

WindowsOsOptions WindowsOsOptions::decode(ByteSpan bytes, std::uint64_t offset) {
  if (!present_in(bytes)) throw FormatError("Windows OS options: no \"WINDOWS\" signature", offset);
  if (bytes.size() < kFixedPart)
    throw FormatError(fmt::format("Windows OS options: {} bytes cannot hold the 20-byte header", bytes.size()), offset);
  WindowsOsOptions o;
  o.version = load_le<std::uint32_t>(bytes, 8);
  const auto length = load_le<std::uint32_t>(bytes, 12);
  const auto path_offset = load_le<std::uint32_t>(bytes, 16);
  if (length < kFixedPart || length > bytes.size())
    throw FormatError(fmt::format("Windows OS options: Length {} does not fit the {} bytes of optional data", length, bytes.size()),
                      offset + 12);
  const ByteSpan whole = bytes.first(length);
  std::size_t options_end = 0;
  o.os_load_options = codec::load_ucs2_z(whole, kFixedPart, offset, "Windows OS load options", &options_end);
  if (path_offset < options_end || path_offset > length || length - path_offset < kFilePathHeader)
    throw FormatError(fmt::format("Windows OS options: OsLoadPathOffset {} is not between the load options (which end at {}) "
                                  "and Length {} less a FILE_PATH header", path_offset, options_end, length),
                      offset + 16);
  o.os_load_path_version = load_le<std::uint32_t>(whole, path_offset);
  const auto path_length = load_le<std::uint32_t>(whole, path_offset + 4);
  o.os_load_path_type = load_le<std::uint32_t>(whole, path_offset + 8);
  if (path_length < kFilePathHeader || path_length > length - path_offset)
    throw FormatError(fmt::format("Windows OS load path: FILE_PATH Length {} does not fit the {} bytes left", path_length,
                                  length - path_offset), offset + path_offset + 4);
  const auto path = whole.subspan(path_offset + kFilePathHeader, path_length - kFilePathHeader);
  o.os_load_path_bytes.assign(path.begin(), path.end());
  o.os_load_path_type_offset = offset + path_offset + 8;
  return o;
}

std::optional<WindowsOsOptions> WindowsOsOptions::find(ByteSpan optional_data, std::uint64_t offset) {
  if (!present_in(optional_data)) return std::nullopt;
  return decode(optional_data, offset);
}

bool WindowsOsOptions::operator==(const WindowsOsOptions& other) const {
  return version == other.version && os_load_options == other.os_load_options &&
         os_load_path_version == other.os_load_path_version && os_load_path_type == other.os_load_path_type &&
         os_load_path_bytes == other.os_load_path_bytes;
}

ByteVector WindowsOsOptions::encode() const {
  ByteVector out(kFixedPart);
  std::copy(kSignature.begin(), kSignature.end(), reinterpret_cast<char*>(out.data()));
  store_le<std::uint32_t>(out, 8, version);
  codec::append_ucs2(out, codec::checked_name(os_load_options, "Windows' OS load options"), true);
  out.resize(codec::align_header(out.size()), std::byte{0});
  const std::size_t path_offset = out.size();
  out.resize(path_offset + kFilePathHeader);
  store_le<std::uint32_t>(out, path_offset, os_load_path_version);
  store_le<std::uint32_t>(out, path_offset + 4, std::uint32_t(kFilePathHeader + os_load_path_bytes.size()));
  store_le<std::uint32_t>(out, path_offset + 8, os_load_path_type);
  out.insert(out.end(), os_load_path_bytes.begin(), os_load_path_bytes.end());
  store_le<std::uint32_t>(out, 12, std::uint32_t(out.size()));
  store_le<std::uint32_t>(out, 16, std::uint32_t(path_offset));
  return out;
}

DevicePath WindowsOsOptions::os_load_path() const {
  if (os_load_path_type != kFilePathTypeEfi)
    throw FormatError(fmt::format("Windows OS load path is of FILE_PATH type {}, not an EFI device path (4)", os_load_path_type),
                      os_load_path_type_offset);
  return DevicePath::decode(os_load_path_bytes, os_load_path_type_offset + 4);
}

std::string WindowsOsOptions::os_load_options_utf8() const { return utf16_to_wtf8(os_load_options); }

}  // namespace bootmirror::nvram
