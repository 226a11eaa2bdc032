// Files whose attributes do not fit in one FILE record: the base record's $ATTRIBUTE_LIST names
// each attribute and the record it is in; a non-resident attribute with many runs is split into
// extents, each in its own record, mapping consecutive VCNs. Sources, read for facts: the
// Linux-NTFS project's "NTFS Documentation", section "$ATTRIBUTE_LIST"; ntfs-3g layout.h
// (ATTR_LIST_ENTRY) and attrlist.c; the kernel's fs/ntfs3/attrlist.c.
//   off size field (one entry; entries follow each other to the end of the value)
//     0    4 attribute type
//     4    2 entry length         8-aligned, at least 26
//     6    1 name length          UTF-16 code units
//     7    1 name offset
//     8    8 starting VCN         of this extent (0 for a resident attribute)
//    16    8 file reference       of the record that holds the attribute
//    24    2 attribute id
#include <algorithm>
#include <map>
#include <set>

#include "ntfs/volume_state.h"

namespace bootmirror::ntfs {

namespace {

// An attribute list larger than this is nobody's (Windows keeps them far smaller).
constexpr std::uint64_t kMaxListBytes = 1u << 20;

struct ListEntry {
  AttributeType type;
  std::u16string name;
  std::uint64_t starting_vcn;
  FileReference record;
  std::uint16_t id;
};

std::vector<ListEntry> decode_list(ByteSpan bytes, std::uint64_t base) {
  std::vector<ListEntry> out;
  for (std::size_t at = 0; at < bytes.size();) {
    if (bytes.size() - at < 26) throw FormatError("$ATTRIBUTE_LIST: an entry cut short", base + at);
    const std::uint16_t length = load_le<std::uint16_t>(bytes, at + 4);
    const std::uint8_t name_length = std::to_integer<std::uint8_t>(bytes[at + 6]), name_offset = std::to_integer<std::uint8_t>(bytes[at + 7]);
    if (length < 26 || length % 8 != 0 || length > bytes.size() - at || std::size_t(name_offset) + 2u * name_length > length)
      throw FormatError(fmt::format("$ATTRIBUTE_LIST: entry length {}", length), base + at + 4);
    ListEntry e{AttributeType(load_le<std::uint32_t>(bytes, at)), {}, load_le<std::uint64_t>(bytes, at + 8),
                FileReference::decode(load_le<std::uint64_t>(bytes, at + 16)), load_le<std::uint16_t>(bytes, at + 24)};
    for (unsigned i = 0; i < name_length; ++i) e.name.push_back(char16_t(load_le<std::uint16_t>(bytes, at + name_offset + 2 * i)));
    out.push_back(std::move(e));
    at += length;
  }
  return out;
}

// Extents of one non-resident attribute joined: runs in VCN order, each extent starting where the
// last one ended; sizes are the first extent's (only it carries them).
Attribute join_extents(std::vector<Attribute> extents) {
  std::sort(extents.begin(), extents.end(), [](const Attribute& a, const Attribute& b) { return a.lowest_vcn < b.lowest_vcn; });
  Attribute joined = extents.front();
  if (joined.lowest_vcn != 0) throw FormatError("$ATTRIBUTE_LIST: an attribute's first extent is missing", joined.offset);
  for (std::size_t i = 1; i < extents.size(); ++i) {
    const Attribute& next = extents[i];
    if (joined.highest_vcn == UINT64_MAX || next.lowest_vcn != joined.highest_vcn + 1)  // no wrap to VCN 0
      throw FormatError(fmt::format("$ATTRIBUTE_LIST: an extent maps from VCN {}, the one before it ended at {}", next.lowest_vcn,
                                    joined.highest_vcn),
                        next.offset);
    joined.runs.insert(joined.runs.end(), next.runs.begin(), next.runs.end());
    joined.highest_vcn = next.highest_vcn;
  }
  return joined;
}

}  // namespace

std::vector<Attribute> Volume::State::file_attributes(std::uint64_t number) const {
  std::vector<Attribute> own = attributes_of(record_at(number, std::nullopt), number);
  auto list = std::find_if(own.begin(), own.end(), [](const Attribute& a) { return a.type == AttributeType::attribute_list; });
  if (list == own.end()) return own;
  if (list->compressed || list->encrypted) throw FormatError("$ATTRIBUTE_LIST is compressed or encrypted", list->offset);
  ByteVector bytes;
  if (list->resident) {
    bytes = list->value;
  } else {
    if (list->lowest_vcn != 0 || list->data_size > kMaxListBytes)
      throw FormatError(fmt::format("$ATTRIBUTE_LIST of {} bytes", list->data_size), list->offset);
    bytes.resize(std::size_t(list->data_size));
    read_mapped(list->runs, 0, MutableByteSpan(bytes).first(std::size_t(std::min(list->initialized_size, list->data_size))),
                "$ATTRIBUTE_LIST");
  }
  const std::uint64_t list_offset = list->offset;

  // Every attribute the list names, from the record it names (each record read once).
  std::map<std::uint64_t, std::vector<Attribute>> records;
  records[number] = own;
  std::vector<Attribute> found;
  std::set<std::pair<std::uint64_t, std::uint16_t>> taken;
  for (const ListEntry& e : decode_list(bytes, list_offset)) {
    auto it = records.find(e.record.record);
    if (it == records.end()) {
      const ByteVector extension = record_at(e.record.record, std::nullopt);
      const RecordHeader header = RecordHeader::decode(extension, 0);
      if (!header.in_use || header.base.record != number)
        throw FormatError(fmt::format("$ATTRIBUTE_LIST of record {} names record {}, which belongs to record {}", number,
                                      e.record.record, header.base.record),
                          list_offset);
      it = records.emplace(e.record.record, decode_attributes(extension, header.first_attribute, header.bytes_in_use,
                                                              boot.cluster_count(), 0))
               .first;
    }
    if (!taken.insert({e.record.record, e.id}).second) continue;
    auto match = std::find_if(it->second.begin(), it->second.end(),
                              [&](const Attribute& a) { return a.type == e.type && a.id == e.id && a.name == e.name; });
    if (match == it->second.end())
      throw FormatError(fmt::format("$ATTRIBUTE_LIST of record {}: record {} has no attribute {} of type 0x{:X}", number,
                                    e.record.record, e.id, std::uint32_t(e.type)),
                        list_offset);
    found.push_back(*match);
  }
  // Non-resident extents of one attribute (same type and name) joined; everything else as is.
  std::vector<Attribute> out;
  std::map<std::pair<std::uint32_t, std::u16string>, std::vector<Attribute>> extents;
  for (Attribute& a : found) {
    if (a.resident) out.push_back(std::move(a));
    else extents[{std::uint32_t(a.type), a.name}].push_back(std::move(a));
  }
  for (auto& [key, parts] : extents) out.push_back(join_extents(std::move(parts)));
  return out;
}

}  // namespace bootmirror::ntfs
