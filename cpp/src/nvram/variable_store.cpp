// Variable records (field table in nvram/codec.h): walking the store as EDK2's variable driver
// does (VariableParsing.c), telling which copy of each variable is live, and encoding a new one.
#include <map>

#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "nvram/codec.h"

namespace bootmirror::nvram {

const Guid& global_variable_guid() {
  static const Guid guid = Guid::parse("8be4df61-93ca-11d2-aa0d-00e098032b8c");
  return guid;
}

std::string_view state_name(RecordState state) {
  switch (state) {
    case RecordState::added: return "added";
    case RecordState::in_deleted_transition: return "in_deleted_transition";
    case RecordState::deleted: return "deleted";
    case RecordState::header_valid_only: return "header_valid_only";
    case RecordState::unwritten: return "unwritten";
    default: return "other";
  }
}

std::string Variable::name_utf8() const { return utf16_to_wtf8(name); }

namespace codec {

namespace {

struct HeaderFields {
  std::size_t name_size, data_size, vendor;
};
constexpr HeaderFields kAuthenticated{36, 40, 44};
constexpr HeaderFields kPlain{8, 12, 16};

const HeaderFields& fields_of(bool authenticated) { return authenticated ? kAuthenticated : kPlain; }

// EDK2's NameSizeOfVariable/DataSizeOfVariable: a header with any of these still all ones is one
// whose writing had not finished, and has neither name nor data.
bool sizes_unset(std::uint8_t state, std::uint32_t attributes, std::uint32_t name_size, std::uint32_t data_size) {
  return state == 0xFF || attributes == 0xFFFFFFFF || name_size == 0xFFFFFFFF || data_size == 0xFFFFFFFF;
}

Record decode_record(ByteSpan image, const StoreLayout& layout, std::uint64_t at) {
  const std::uint64_t end = layout.store_end();
  const std::uint32_t header = layout.header_size();
  const HeaderFields& f = fields_of(layout.authenticated);
  if (end - at < header)
    throw FormatError(fmt::format("variable header at {:#x}: its {} bytes run past the store end {:#x}", at, header, end), at);
  Record r;
  r.offset = at;
  r.state = load_le<std::uint8_t>(image, at + kStateOffset);
  r.kind = classify_state(r.state);
  Variable& v = r.variable;
  v.attributes = load_le<std::uint32_t>(image, at + 4);
  if (layout.authenticated) {
    v.monotonic_count = load_le<std::uint64_t>(image, at + 8);
    auto time = subspan(image, at + 16, 16);
    std::copy(time.begin(), time.end(), v.timestamp.begin());
    v.pubkey_index = load_le<std::uint32_t>(image, at + 32);
  }
  std::uint32_t name_size = load_le<std::uint32_t>(image, at + f.name_size);
  std::uint32_t data_size = load_le<std::uint32_t>(image, at + f.data_size);
  v.vendor = Guid::from_uefi_bytes(subspan(image, at + f.vendor, 16));
  if (sizes_unset(r.state, v.attributes, name_size, data_size)) name_size = data_size = 0;
  const std::uint64_t body = at + header;
  if (std::uint64_t(name_size) + data_size > end - body)
    throw FormatError(fmt::format("variable at {:#x}: NameSize {:#x} and DataSize {:#x} run past the store end {:#x}", at,
                                  name_size, data_size, end), at + f.name_size);
  if (name_size % 2 != 0)
    throw FormatError(fmt::format("variable at {:#x}: NameSize {} is odd, not a UCS-2 name", at, name_size), at + f.name_size);
  for (std::uint32_t i = 0; i < name_size / 2; ++i) {
    const auto unit = load_le<std::uint16_t>(image, body + 2 * i);
    if (unit == 0) break;
    v.name.push_back(char16_t(unit));
  }
  r.data_offset = body + name_size;
  const auto data = subspan(image, r.data_offset, data_size);
  v.data.assign(data.begin(), data.end());
  r.size = align_header(body + name_size + data_size) - at;
  return r;
}

// EDK2's FindVariableEx: the first added copy of a name and GUID is the live one; without one, a
// copy in deleted transition is (the last, as the walk keeps overwriting it), since its
// replacement never reached the added state.
void mark_live(std::vector<Record>& records) {
  std::map<std::pair<Guid, std::u16string>, std::size_t> added, transition;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto key = std::make_pair(records[i].variable.vendor, records[i].variable.name);
    if (records[i].kind == RecordState::added) added.emplace(key, i);
    else if (records[i].kind == RecordState::in_deleted_transition) transition[key] = i;
  }
  for (const auto& [key, i] : added) records[i].live = true;
  for (const auto& [key, i] : transition)
    if (!added.count(key)) records[i].live = true;
}

}  // namespace

RecordState classify_state(std::uint8_t state) {
  switch (state) {
    case kAdded: return RecordState::added;
    case kAdded & kInDeletedTransition: return RecordState::in_deleted_transition;
    case kHeaderValidOnly: return RecordState::header_valid_only;
    case 0xFF: return RecordState::unwritten;
    default: break;
  }
  // The bit the deleted mask (0xFD) clears: 0x3C after a transition, 0x3D straight from added.
  if ((state & std::uint8_t(~kDeleted)) == 0) return RecordState::deleted;
  return RecordState::other;
}

std::vector<Record> decode_records(ByteSpan image, StoreLayout& layout) {
  std::vector<Record> records;
  const std::uint64_t end = layout.store_end();
  std::uint64_t at = layout.variables_offset;
  while (at < end && end - at >= 2 && load_le<std::uint16_t>(image, at) == kStartId) {
    records.push_back(decode_record(image, layout, at));
    at += records.back().size;
  }
  layout.variables_end = std::min(at, end);
  mark_live(records);
  return records;
}

ByteVector encode_record(const Variable& v, bool authenticated) {
  const HeaderFields& f = fields_of(authenticated);
  ByteVector out(authenticated ? 60 : 32, std::byte{0});
  store_le<std::uint16_t>(out, 0, kStartId);
  store_le<std::uint8_t>(out, kStateOffset, 0xFF);
  store_le<std::uint32_t>(out, 4, v.attributes);
  if (authenticated) {
    store_le<std::uint64_t>(out, 8, v.monotonic_count);
    std::copy(v.timestamp.begin(), v.timestamp.end(), out.begin() + 16);
    store_le<std::uint32_t>(out, 32, v.pubkey_index);
  }
  store_le<std::uint32_t>(out, f.name_size, std::uint32_t(2 * (v.name.size() + 1)));
  store_le<std::uint32_t>(out, f.data_size, std::uint32_t(v.data.size()));
  v.vendor.store_uefi_bytes(subspan(MutableByteSpan(out), f.vendor, 16));
  append_ucs2(out, v.name, true);
  out.insert(out.end(), v.data.begin(), v.data.end());
  return out;
}

std::uint64_t common_bytes(const std::vector<Record>& records) {
  std::uint64_t total = 0;
  for (const Record& r : records)
    if ((r.variable.attributes & (kNonVolatile | kHardwareErrorRecord)) != (kNonVolatile | kHardwareErrorRecord)) total += r.size;
  return total;
}

std::uint64_t common_space(const StoreLayout& layout) {
  const std::uint64_t reserved = kStoreHeaderSize + kHardwareErrorReserve;
  return layout.store_size > reserved ? layout.store_size - reserved : 0;
}

}  // namespace codec

}  // namespace bootmirror::nvram
