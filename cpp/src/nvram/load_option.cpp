// EFI_LOAD_OPTION (UEFI 2.10, 3.1.3), the value of Boot####, Driver#### and SysPrep####:
//   offset size field
//        0    4 Attributes (LOAD_OPTION_ACTIVE 0x1, FORCE_RECONNECT 0x2, HIDDEN 0x8, CATEGORY 0x1F00)
//        4    2 FilePathListLength: bytes of FilePathList
//        6    - Description: UCS-2, NUL-terminated
//        -    - FilePathList: device paths, each closed by its End Entire node
//        -    - OptionalData: the rest of the variable (Windows keeps its OS options here)
#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "nvram/codec.h"

namespace bootmirror::nvram {

const DevicePath& LoadOption::file_path() const {
  if (file_paths.empty()) throw UsageError("the load option has no device path");
  return file_paths.front();
}

std::string LoadOption::description_utf8() const { return utf16_to_wtf8(description); }

LoadOption LoadOption::decode(ByteSpan bytes, std::uint64_t offset) {
  if (bytes.size() < 6)
    throw FormatError(fmt::format("load option: {} bytes cannot hold its 6-byte header", bytes.size()), offset);
  LoadOption option;
  option.attributes = load_le<std::uint32_t>(bytes, 0);
  const auto list_length = load_le<std::uint16_t>(bytes, 4);
  std::size_t at = 0;
  option.description = codec::load_ucs2_z(bytes, 6, offset, "load option description", &at);
  if (list_length > bytes.size() - at)
    throw FormatError(fmt::format("load option: FilePathListLength {} runs past the {} bytes after its description", list_length,
                                  bytes.size() - at), offset + 4);
  const std::size_t list_end = at + list_length;
  while (at < list_end) {
    std::size_t used = 0;
    option.file_paths.push_back(DevicePath::decode(bytes.subspan(at, list_end - at), offset + at, &used));
    at += used;
  }
  option.optional_data.assign(bytes.begin() + std::ptrdiff_t(list_end), bytes.end());
  return option;
}

ByteVector LoadOption::encode() const {
  ByteVector list;
  for (const DevicePath& path : file_paths) {
    const ByteVector bytes = path.encode();
    list.insert(list.end(), bytes.begin(), bytes.end());
  }
  if (list.size() > 0xFFFF)
    throw UsageError(fmt::format("the load option's device paths take {} bytes, more than FilePathListLength can count", list.size()));
  ByteVector out(6);
  store_le<std::uint32_t>(out, 0, attributes);
  store_le<std::uint16_t>(out, 4, std::uint16_t(list.size()));
  codec::append_ucs2(out, codec::checked_name(description, "a load option description"), true);
  out.insert(out.end(), list.begin(), list.end());
  out.insert(out.end(), optional_data.begin(), optional_data.end());
  return out;
}

}  // namespace bootmirror::nvram
