// Attribute records and run lists (see attributes.h for the field tables and sources).
#include "ntfs/attributes.h"

#include <fmt/format.h>

namespace bootmirror::ntfs {

namespace {

// A little-endian integer of `width` bytes (1..8) at `at`, sign-extended when `is_signed`.
std::int64_t packed(ByteSpan bytes, std::size_t at, unsigned width, bool is_signed) {
  std::uint64_t v = 0;
  for (unsigned i = 0; i < width; ++i) v |= std::uint64_t(std::to_integer<std::uint8_t>(bytes[at + i])) << (8 * i);
  if (is_signed && width < 8 && (v >> (8 * width - 1)) & 1) v |= ~std::uint64_t(0) << (8 * width);
  return std::int64_t(v);
}

}  // namespace

std::vector<Run> decode_runs(ByteSpan pairs, std::uint64_t lowest_vcn, std::uint64_t highest_vcn,
                             std::uint64_t cluster_count, std::uint64_t base) {
  std::vector<Run> runs;
  std::uint64_t vcn = lowest_vcn;
  std::int64_t lcn = 0;
  std::size_t at = 0;
  for (;;) {
    if (at >= pairs.size()) throw FormatError("run list: no end marker before the attribute's end", base + at);
    const std::uint8_t header = std::to_integer<std::uint8_t>(pairs[at]);
    if (header == 0) break;
    const unsigned length_bytes = header & 0x0F, start_bytes = header >> 4;
    if (length_bytes == 0 || length_bytes > 8 || start_bytes > 8)
      throw FormatError(fmt::format("run list: header byte 0x{:02X}", header), base + at);
    if (pairs.size() - at - 1 < std::size_t(length_bytes) + start_bytes)
      throw FormatError("run list: a run runs past the attribute's end", base + at);
    const std::int64_t length = packed(pairs, at + 1, length_bytes, false);
    if (length <= 0) throw FormatError(fmt::format("run list: a run of {} clusters", length), base + at + 1);
    Run run{vcn, std::uint64_t(length), std::nullopt};
    if (start_bytes) {
      const std::int64_t delta = packed(pairs, at + 1 + length_bytes, start_bytes, true);
      // Each start is relative to the last; the sum must stay on the volume (checked before it is
      // formed, so that no run can wrap around to a valid-looking cluster).
      // A step back is taken as its magnitude, which INT64_MIN has too (-INT64_MIN overflows, and
      // once let 2^63 + L through, read back as cluster L: another file's data, no error).
      const std::uint64_t back = delta < 0 ? std::uint64_t(-(delta + 1)) + 1 : 0;
      if ((delta < 0 && std::uint64_t(lcn) < back) || (delta > 0 && std::uint64_t(delta) > cluster_count - std::uint64_t(lcn)))
        throw FormatError(fmt::format("run list: a run starts outside the volume's {} clusters", cluster_count),
                          base + at + 1 + length_bytes);
      lcn += delta;
      if (std::uint64_t(length) > cluster_count - std::uint64_t(lcn))
        throw FormatError(fmt::format("run list: clusters {}+{} lie past the volume's {}", lcn, length, cluster_count),
                          base + at + 1);
      run.lcn = std::uint64_t(lcn);
    }
    if (std::uint64_t(length) > highest_vcn + 1 - vcn)
      throw FormatError(fmt::format("run list: runs map past the attribute's last cluster {}", highest_vcn), base + at + 1);
    vcn += std::uint64_t(length);
    runs.push_back(run);
    at += 1 + length_bytes + start_bytes;
  }
  if (vcn != highest_vcn + 1 && !(runs.empty() && highest_vcn + 1 == lowest_vcn))
    throw FormatError(fmt::format("run list: maps clusters {} to {}, the attribute says {} to {}", lowest_vcn, vcn - 1,
                                  lowest_vcn, highest_vcn),
                      base);
  return runs;
}

std::vector<Attribute> decode_attributes(ByteSpan record, std::uint32_t first_attribute, std::uint32_t bytes_in_use,
                                         std::uint64_t cluster_count, std::uint64_t base) {
  std::vector<Attribute> out;
  out.reserve(8);  // a file's usual attributes, in one allocation (a listing decodes every record)
  std::size_t at = first_attribute;
  const std::size_t end = std::min<std::size_t>(bytes_in_use, record.size());
  for (;;) {
    if (at + 4 > end) throw FormatError("FILE record: attributes run past the bytes in use without an end marker", base + at);
    const std::uint32_t type = load_le<std::uint32_t>(record, at);
    if (type == std::uint32_t(AttributeType::end)) break;
    if (at + 16 > end) throw FormatError("attribute: header past the bytes in use", base + at);
    const std::uint32_t length = load_le<std::uint32_t>(record, at + 4);
    if (length < 24 || length % 8 != 0 || length > end - at)
      throw FormatError(fmt::format("attribute 0x{:X}: length {}", type, length), base + at + 4);
    const ByteSpan a = record.subspan(at, length);
    Attribute attr;
    attr.type = AttributeType(type);
    attr.offset = base + at;
    const std::uint8_t non_resident = std::to_integer<std::uint8_t>(a[8]), name_length = std::to_integer<std::uint8_t>(a[9]);
    const std::uint16_t name_offset = load_le<std::uint16_t>(a, 10), flags = load_le<std::uint16_t>(a, 12);
    if (non_resident > 1) throw FormatError(fmt::format("attribute 0x{:X}: non-resident flag {}", type, non_resident), base + at + 8);
    attr.resident = non_resident == 0;
    attr.id = load_le<std::uint16_t>(a, 14);
    attr.compressed = flags & 0x0001;
    attr.encrypted = flags & 0x4000;
    attr.sparse = flags & 0x8000;
    if (name_length) {
      if (std::size_t(name_offset) + 2u * name_length > length)
        throw FormatError(fmt::format("attribute 0x{:X}: name past its end", type), base + at + 10);
      for (unsigned i = 0; i < name_length; ++i) attr.name.push_back(char16_t(load_le<std::uint16_t>(a, name_offset + 2 * i)));
    }
    if (attr.resident) {
      const std::uint32_t value_length = load_le<std::uint32_t>(a, 16);
      const std::uint16_t value_offset = load_le<std::uint16_t>(a, 20);
      if (value_offset > length || value_length > length - value_offset)
        throw FormatError(fmt::format("attribute 0x{:X}: resident value {}+{} past its {} bytes", type, value_offset,
                                      value_length, length),
                          base + at + 16);
      const ByteSpan value = a.subspan(value_offset, value_length);
      attr.value.assign(value.begin(), value.end());
    } else {
      if (length < 64) throw FormatError(fmt::format("attribute 0x{:X}: non-resident header of {} bytes", type, length), base + at + 4);
      attr.lowest_vcn = load_le<std::uint64_t>(a, 16);
      attr.highest_vcn = load_le<std::uint64_t>(a, 24);
      const std::uint16_t pairs = load_le<std::uint16_t>(a, 32);
      attr.allocated_size = load_le<std::uint64_t>(a, 40);
      attr.data_size = load_le<std::uint64_t>(a, 48);
      attr.initialized_size = load_le<std::uint64_t>(a, 56);
      // An empty attribute maps no clusters: highest VCN is lowest - 1 (ntfs-3g writes -1 for 0).
      // VCNs may pass the volume's size (a sparse file larger than its volume); LCNs may not.
      const bool empty = attr.highest_vcn + 1 == attr.lowest_vcn;
      if (!empty && attr.highest_vcn < attr.lowest_vcn)
        throw FormatError(fmt::format("attribute 0x{:X}: clusters {} to {}", type, attr.lowest_vcn, attr.highest_vcn),
                          base + at + 16);
      if (pairs < 64 || pairs >= length) throw FormatError(fmt::format("attribute 0x{:X}: mapping pairs at {}", type, pairs), base + at + 32);
      if (attr.lowest_vcn == 0 && (attr.data_size > attr.allocated_size || attr.initialized_size > attr.data_size))
        throw FormatError(fmt::format("attribute 0x{:X}: sizes (allocated {}, data {}, initialized {})", type,
                                      attr.allocated_size, attr.data_size, attr.initialized_size),
                          base + at + 40);
      attr.runs = decode_runs(a.subspan(pairs), attr.lowest_vcn, attr.highest_vcn, cluster_count, base + at + pairs);
    }
    out.push_back(std::move(attr));
    at += length;
  }
  return out;
}

}  // namespace bootmirror::ntfs
