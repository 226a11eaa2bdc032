// Folders and files of an NTFS volume: a folder's $I30 index walked in order ($INDEX_ROOT, and
// the INDX blocks of $INDEX_ALLOCATION below it), names matched through the volume's $UpCase as
// Windows matches them, and a file's unnamed $DATA read through its runs.
#include <functional>
#include <set>

#include "bootmirror/unicode.h"
#include "ntfs/index.h"
#include "ntfs/volume_state.h"

namespace bootmirror::ntfs {

namespace {

constexpr std::uint64_t kRootRecord = 5, kUpcaseRecord = 10;
// Records 0..15 are the volume's own files ($MFT ... $Extend and reserved ones), which Windows
// never lists in a folder.
constexpr std::uint64_t kFirstUserRecord = 16;
constexpr unsigned kMaxIndexDepth = 32;
constexpr std::uint64_t kMaxFileBytes = 4ull << 30;  // read_file answers whole files up to this

const std::u16string kI30 = u"$I30";

// A path's names as stored. Unlike FAT's split_path (fat/names.h), trailing dots and spaces stay:
// a POSIX-namespace NTFS name may end in them, and a name that listdir returns must open its file.
std::vector<std::u16string> components(std::string_view path) {
  std::vector<std::u16string> out;
  std::string part;
  auto flush = [&] {
    if (!part.empty() && part != ".") out.push_back(wtf8_to_utf16(part));
    part.clear();
  };
  for (char c : path) {
    if (c == '/' || c == '\\') flush();
    else part.push_back(c);
  }
  flush();
  return out;
}

const Attribute* find(const std::vector<Attribute>& attributes, AttributeType type, const std::u16string& name) {
  for (const Attribute& a : attributes)
    if (a.type == type && a.name == name) return &a;
  return nullptr;
}

// A file's attributes, gathered from its extension records when it has an $ATTRIBUTE_LIST.
std::vector<Attribute> plain_attributes(const Volume::State& s, std::uint64_t number) { return s.file_attributes(number); }

// The bytes of a non-resident attribute, to `size` (past its initialized size: zeros).
ByteVector read_nonresident(const Volume::State& s, const Attribute& a, const char* what) {
  if (a.lowest_vcn != 0) throw FormatError(fmt::format("{}: its first extent is missing", what), a.offset);
  if (a.data_size > kMaxFileBytes) throw UsageError(fmt::format("{} holds {} bytes, more than read_file answers", what, a.data_size));
  ByteVector out(std::size_t(a.data_size));
  const std::uint64_t initialized = std::min(a.initialized_size, a.data_size);
  s.read_mapped(a.runs, 0, MutableByteSpan(out).first(std::size_t(initialized)), what);
  return out;
}

ByteVector attribute_bytes(const Volume::State& s, const Attribute& a, const char* what) {
  if (a.compressed) throw FormatError(fmt::format("{}: compressed data is not supported", what), a.offset);
  if (a.encrypted) throw FormatError(fmt::format("{}: encrypted data is not supported", what), a.offset);
  if (a.resident) return ByteVector(a.value.begin(), a.value.end());
  return read_nonresident(s, a, what);
}

// Every keyed entry of folder `number`'s $I30 index, in order; each INDX block is read at most
// once, so a block that points back at itself (or an ancestor) ends in a FormatError.
std::vector<IndexEntry> index_entries(const Volume::State& s, std::uint64_t number) {
  const std::vector<Attribute> attributes = plain_attributes(s, number);
  const Attribute* root_attr = find(attributes, AttributeType::index_root, kI30);
  if (!root_attr || !root_attr->resident) throw UsageError(fmt::format("NTFS: record {} is not a folder", number));
  const IndexRoot root = decode_index_root(root_attr->value, root_attr->offset);
  const Attribute* allocation = find(attributes, AttributeType::index_allocation, kI30);
  // Child VCNs count clusters when a block is at least a cluster, else 512-byte units.
  const std::uint64_t vcn_unit = root.block_bytes >= s.boot.cluster_bytes ? s.boot.cluster_bytes : 512;
  std::vector<IndexEntry> out;
  std::set<std::uint64_t> visited;
  std::function<void(const IndexNode&, unsigned)> walk = [&](const IndexNode& node, unsigned depth) {
    for (const IndexEntry& e : node.entries) {
      if (e.child) {
        if (!allocation || allocation->resident)
          throw FormatError(fmt::format("NTFS: folder {} has index children but no $INDEX_ALLOCATION", number));
        if (depth >= kMaxIndexDepth || !visited.insert(*e.child).second)
          throw FormatError(fmt::format("NTFS: folder {}'s index reaches block VCN {} twice (a loop)", number, *e.child));
        if (*e.child > allocation->data_size / vcn_unit)
          throw FormatError(fmt::format("NTFS: folder {}'s index block VCN {} is past its $INDEX_ALLOCATION", number, *e.child));
        ByteVector block(root.block_bytes);
        s.read_mapped(allocation->runs, *e.child * vcn_unit, block, "$INDEX_ALLOCATION");
        walk(decode_index_block(block, *e.child, s.volume_offset_of(allocation->runs, *e.child * vcn_unit)), depth + 1);
      }
      if (e.key) out.push_back(e);
    }
  };
  walk(root.node, 0);
  return out;
}

const std::u16string& upcase_table(const Volume::State& s) {
  std::lock_guard lock(s.upcase_mutex);
  if (s.upcase.empty()) {
    const std::vector<Attribute> attributes = plain_attributes(s, kUpcaseRecord);
    const Attribute* data = find(attributes, AttributeType::data, u"");
    if (!data) throw FormatError("NTFS: $UpCase has no data");
    const ByteVector bytes = attribute_bytes(s, *data, "$UpCase");
    if (bytes.size() != 65536 * 2) throw FormatError(fmt::format("NTFS: $UpCase of {} bytes (65536 entries expected)", bytes.size()));
    std::u16string table(65536, u'\0');
    for (std::size_t i = 0; i < table.size(); ++i) table[i] = char16_t(load_le<std::uint16_t>(bytes, 2 * i));
    s.upcase = std::move(table);
  }
  return s.upcase;
}

bool same_name(const std::u16string& table, const std::u16string& a, const std::u16string& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (table[a[i]] != table[b[i]]) return false;
  return true;
}

Entry entry_of(const Volume::State& s, std::uint64_t number, std::u16string name) {
  const std::vector<Attribute> attributes = plain_attributes(s, number);
  Entry e;
  e.name = utf16_to_wtf8(name);
  e.record = number;
  e.is_dir = find(attributes, AttributeType::index_root, kI30) != nullptr;
  if (const Attribute* si = find(attributes, AttributeType::standard_information, u"")) {
    if (!si->resident) throw FormatError("NTFS: a non-resident $STANDARD_INFORMATION", si->offset);
    const StandardInformation info = StandardInformation::decode(si->value, si->offset);
    e.attributes = info.attributes;
    e.created = info.created;
    e.modified = info.modified;
    e.changed = info.changed;
    e.accessed = info.accessed;
  }
  if (!e.is_dir)
    if (const Attribute* data = find(attributes, AttributeType::data, u""))
      e.size = data->resident ? data->value.size() : data->data_size;
  return e;
}

// The record a path names (the root for an empty path), following folders by name.
std::optional<Entry> resolve(const Volume::State& s, std::string_view path) {
  std::uint64_t at = kRootRecord;
  Entry found = entry_of(s, kRootRecord, u"");
  for (const std::u16string& name : components(path)) {
    if (!found.is_dir) return std::nullopt;
    const std::u16string& table = upcase_table(s);
    const std::vector<IndexEntry> entries = index_entries(s, at);
    // The name as given first: names that differ only in case (POSIX namespace) each open their
    // own file; then the name as Windows matches it, without regard to case.
    const IndexEntry* match = nullptr;
    for (const IndexEntry& e : entries)
      if (!match && e.key->name_space != Namespace::dos && e.key->name == name) match = &e;
    for (const IndexEntry& e : entries)
      if (!match && same_name(table, e.key->name, name)) match = &e;
    std::optional<std::uint64_t> next;
    if (match) {
      next = match->file.record;
      found = entry_of(s, *next, match->key->name);
    }
    if (!next) return std::nullopt;
    at = *next;
  }
  return found;
}

}  // namespace

std::vector<Entry> Volume::list(std::string_view folder) const {
  const auto dir = resolve(*state_, folder);
  if (!dir) throw UsageError(fmt::format("{}: no such folder", folder));
  if (!dir->is_dir) throw UsageError(fmt::format("{}: not a folder", folder));
  std::vector<Entry> out;
  for (const IndexEntry& e : index_entries(*state_, dir->record)) {
    // A name in the DOS namespace alone is the 8.3 alias of a Win32 name listed beside it.
    if (e.key->name_space == Namespace::dos || e.file.record < kFirstUserRecord) continue;
    out.push_back(entry_of(*state_, e.file.record, e.key->name));
  }
  return out;
}

Entry Volume::stat(std::string_view path) const {
  auto e = resolve(*state_, path);
  if (!e) throw UsageError(fmt::format("{}: no such file or folder", path));
  return *e;
}

bool Volume::exists(std::string_view path) const { return resolve(*state_, path).has_value(); }

ByteVector Volume::read_file(std::string_view path) const {
  const Entry e = stat(path);
  if (e.is_dir) throw UsageError(fmt::format("{}: a folder, not a file", path));
  const std::vector<Attribute> attributes = plain_attributes(*state_, e.record);
  const Attribute* data = find(attributes, AttributeType::data, u"");
  if (!data) return {};
  return attribute_bytes(*state_, *data, "$DATA");
}

std::size_t Volume::read_data(std::uint64_t record, std::uint64_t offset, MutableByteSpan out) const {
  const std::vector<Attribute> attributes = plain_attributes(*state_, record);
  if (find(attributes, AttributeType::index_root, kI30)) throw UsageError(fmt::format("record {} is a folder, not a file", record));
  const Attribute* data = find(attributes, AttributeType::data, u"");
  if (!data) return 0;
  if (data->compressed) throw FormatError("$DATA: compressed data is not supported", data->offset);
  if (data->encrypted) throw FormatError("$DATA: encrypted data is not supported", data->offset);
  const std::uint64_t size = data->resident ? data->value.size() : data->data_size;
  if (offset >= size) return 0;
  const std::size_t n = std::size_t(std::min<std::uint64_t>(out.size(), size - offset));
  const MutableByteSpan part = out.first(n);
  if (data->resident) {
    std::copy_n(data->value.begin() + std::ptrdiff_t(offset), n, part.begin());
    return n;
  }
  if (data->lowest_vcn != 0) throw FormatError("$DATA: its first extent is missing", data->offset);
  // Past the initialized size a file reads as zeros (Windows wrote nothing there yet).
  const std::uint64_t initialized = std::min(data->initialized_size, data->data_size);
  const std::size_t stored = offset < initialized ? std::size_t(std::min<std::uint64_t>(n, initialized - offset)) : 0;
  state_->read_mapped(data->runs, offset, part.first(stored), "$DATA");
  std::fill(part.begin() + std::ptrdiff_t(stored), part.end(), std::byte{0});
  return n;
}

}  // namespace bootmirror::ntfs
