// Directory indexes and the values they hold (see index.h for the field tables and sources).
#include "ntfs/index.h"

#include <fmt/format.h>

namespace bootmirror::ntfs {

namespace {

constexpr std::uint32_t kFileNameType = 0x30;

// The entries of the node whose index header starts at `header` in `bytes`.
IndexNode decode_node(ByteSpan bytes, std::size_t header, std::uint64_t base) {
  const std::uint32_t first = load_le<std::uint32_t>(bytes, header), in_use = load_le<std::uint32_t>(bytes, header + 4);
  if (in_use > bytes.size() - header || first < 16 || first > in_use)
    throw FormatError(fmt::format("index header: entries at {}, {} bytes in use, in {} bytes", first, in_use, bytes.size() - header),
                      base + header);
  IndexNode node;
  std::size_t at = header + first;
  const std::size_t end = header + in_use;
  for (;;) {
    if (at + 16 > end) throw FormatError("index: entries run past the bytes in use without a last entry", base + at);
    const std::uint16_t length = load_le<std::uint16_t>(bytes, at + 8), key_length = load_le<std::uint16_t>(bytes, at + 10);
    const std::uint16_t flags = load_le<std::uint16_t>(bytes, at + 12);
    const bool has_child = flags & 0x01, last = flags & 0x02;
    if (length < 16 || length % 8 != 0 || length > end - at)
      throw FormatError(fmt::format("index entry: length {}", length), base + at + 8);
    if (std::size_t(16) + key_length + (has_child ? 8 : 0) > length)
      throw FormatError(fmt::format("index entry: a {}-byte key in a {}-byte entry", key_length, length), base + at + 10);
    IndexEntry entry;
    entry.file = FileReference::decode(load_le<std::uint64_t>(bytes, at));
    if (!last) {
      if (key_length == 0) throw FormatError("index entry: no key", base + at + 10);
      entry.key = FileName::decode(bytes.subspan(at + 16, key_length), base + at + 16);
    }
    if (has_child) entry.child = load_le<std::uint64_t>(bytes, at + length - 8);
    node.entries.push_back(std::move(entry));
    if (last) break;
    at += length;
  }
  return node;
}

}  // namespace

FileName FileName::decode(ByteSpan value, std::uint64_t base) {
  if (value.size() < 66) throw FormatError(fmt::format("$FILE_NAME of {} bytes", value.size()), base);
  FileName f;
  f.parent = FileReference::decode(load_le<std::uint64_t>(value, 0));
  f.created = load_le<std::uint64_t>(value, 8);
  f.modified = load_le<std::uint64_t>(value, 16);
  f.changed = load_le<std::uint64_t>(value, 24);
  f.accessed = load_le<std::uint64_t>(value, 32);
  f.allocated_size = load_le<std::uint64_t>(value, 40);
  f.size = load_le<std::uint64_t>(value, 48);
  f.attributes = load_le<std::uint32_t>(value, 56);
  const std::uint8_t length = std::to_integer<std::uint8_t>(value[64]), ns = std::to_integer<std::uint8_t>(value[65]);
  if (ns > 3) throw FormatError(fmt::format("$FILE_NAME: namespace {}", ns), base + 65);
  f.name_space = Namespace(ns);
  if (length == 0 || 66u + 2u * length > value.size())
    throw FormatError(fmt::format("$FILE_NAME: a name of {} characters in {} bytes", length, value.size()), base + 64);
  for (unsigned i = 0; i < length; ++i) f.name.push_back(char16_t(load_le<std::uint16_t>(value, 66 + 2 * i)));
  return f;
}

StandardInformation StandardInformation::decode(ByteSpan value, std::uint64_t base) {
  if (value.size() < 36) throw FormatError(fmt::format("$STANDARD_INFORMATION of {} bytes", value.size()), base);
  StandardInformation s;
  s.created = load_le<std::uint64_t>(value, 0);
  s.modified = load_le<std::uint64_t>(value, 8);
  s.changed = load_le<std::uint64_t>(value, 16);
  s.accessed = load_le<std::uint64_t>(value, 24);
  s.attributes = load_le<std::uint32_t>(value, 32);
  return s;
}

IndexRoot decode_index_root(ByteSpan value, std::uint64_t base) {
  if (value.size() < 32) throw FormatError(fmt::format("$INDEX_ROOT of {} bytes", value.size()), base);
  IndexRoot root;
  root.indexed_type = load_le<std::uint32_t>(value, 0);
  if (root.indexed_type != kFileNameType)
    throw FormatError(fmt::format("$INDEX_ROOT indexes attribute 0x{:X}, not file names", root.indexed_type), base);
  root.block_bytes = load_le<std::uint32_t>(value, 8);
  if (root.block_bytes < 512 || root.block_bytes > 65536 || (root.block_bytes & (root.block_bytes - 1)))
    throw FormatError(fmt::format("$INDEX_ROOT: index blocks of {} bytes", root.block_bytes), base + 8);
  root.node = decode_node(value, 16, base);
  return root;
}

IndexNode decode_index_block(MutableByteSpan block, std::uint64_t vcn, std::uint64_t base) {
  apply_fixups(block, "INDX", base);
  const std::uint64_t stored = load_le<std::uint64_t>(block, 16);
  if (stored != vcn) throw FormatError(fmt::format("INDX block at VCN {} says it is VCN {}", vcn, stored), base + 16);
  return decode_node(block, 24, base);
}

}  // namespace bootmirror::ntfs
