// Folders and files of an NTFS volume: a folder's $I30 index walked in order ($INDEX_ROOT, and
// the INDX blocks of $INDEX_ALLOCATION below it), names matched through the volume's $UpCase as
// Windows matches them, and a file's unnamed $DATA read through its runs.
#include <bit>
#include <functional>
#include <set>
#include <utility>

#include "bootmirror/extents.h"
#include "bootmirror/unicode.h"
#include "ntfs/index.h"
#include "ntfs/volume_state.h"

namespace bootmirror::ntfs {

namespace {

constexpr std::uint64_t kUpcaseRecord = 10;
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

// How many files' attributes Volume::State::recent_files keeps: a folder's worth, usually.
constexpr std::size_t kRecentFiles = 1024;

// A file's attributes, gathered from its extension records when it has an $ATTRIBUTE_LIST.
Volume::State::AttributesPtr plain_attributes(const Volume::State& s, std::uint64_t number) {
  Volume::State::AttributesPtr evicted;  // freed outside the lock
  {
    std::lock_guard lock(s.recent_mutex);
    if (s.recent_files.empty()) s.recent_files.resize(kRecentFiles);
    const Volume::State::RecentFile& slot = s.recent_files[number % kRecentFiles];
    if (slot.attributes && slot.record == number) return slot.attributes;
  }
  auto attributes = std::make_shared<const std::vector<Attribute>>(s.file_attributes(number));
  std::lock_guard lock(s.recent_mutex);
  Volume::State::RecentFile& slot = s.recent_files[number % kRecentFiles];
  evicted = std::exchange(slot.attributes, attributes);
  slot.record = number;
  return attributes;
}

// An attribute's value whole, into the storage `storage(size)` answers (resident: a copy; past a
// non-resident one's initialized size: zeros). Everything that can refuse does so before
// `storage` is asked.
void read_attribute(const Volume::State& s, const Attribute& a, const char* what,
                    const std::function<MutableByteSpan(std::uint64_t)>& storage) {
  if (a.compressed) throw FormatError(fmt::format("{}: compressed data is not supported", what), a.offset);
  if (a.encrypted) throw FormatError(fmt::format("{}: encrypted data is not supported", what), a.offset);
  if (a.resident) {
    const MutableByteSpan out = storage(a.value.size());
    std::copy(a.value.begin(), a.value.end(), out.begin());
    return;
  }
  if (a.lowest_vcn != 0) throw FormatError(fmt::format("{}: its first extent is missing", what), a.offset);
  const std::uint64_t initialized_bytes = std::min(a.initialized_size, a.data_size);
  // The runs map VCNs lowest..highest, contiguous: what they hold is known before any allocation
  // (a size on disk of 4 GiB over 25 clusters asked for the 4 GiB first).
  const unsigned __int128 mapped = (static_cast<unsigned __int128>(a.highest_vcn) + 1) * s.boot.cluster_bytes;
  if (initialized_bytes > mapped)
    throw FormatError(fmt::format("{}: {} bytes, but its runs map {} clusters", what, initialized_bytes, a.highest_vcn + 1), a.offset);
  if (a.data_size > kMaxFileBytes) throw UsageError(fmt::format("{} holds {} bytes, more than read_file answers", what, a.data_size));
  const MutableByteSpan out = storage(a.data_size);
  const std::size_t initialized = std::size_t(initialized_bytes);
  s.read_mapped(a.runs, 0, out.first(initialized), what);
  std::fill(out.begin() + std::ptrdiff_t(initialized), out.end(), std::byte{0});
}

// Every keyed entry of folder `number`'s $I30 index (`attributes`: the folder's), in order; each
// INDX block is read at most once, so a block that points back at itself (or an ancestor) ends in
// a FormatError.
std::vector<IndexEntry> index_entries(const Volume::State& s, std::uint64_t number, const std::vector<Attribute>& attributes) {
  const Attribute* root_attr = find(attributes, AttributeType::index_root, kI30);
  if (!root_attr) throw UsageError(fmt::format("NTFS: record {} is not a folder", number));
  if (!root_attr->resident) throw FormatError(fmt::format("NTFS: record {}'s $INDEX_ROOT is not resident", number), root_attr->offset);
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
    const auto attributes = plain_attributes(s, kUpcaseRecord);
    const Attribute* data = find(*attributes, AttributeType::data, u"");
    if (!data) throw FormatError("NTFS: $UpCase has no data");
    // Its size first: read_attribute refuses a huge value as more than read_file answers (a
    // caller's UsageError), where this one is damage.
    if (!data->resident && data->data_size != 65536 * 2)
      throw FormatError(fmt::format("NTFS: $UpCase of {} bytes (65536 entries expected)", data->data_size), data->offset);
    // Read straight into the table: opening a volume and finding one file is mostly this.
    std::u16string table(65536, u'\0');
    read_attribute(s, *data, "$UpCase", [&](std::uint64_t size) {
      if (size != table.size() * 2) throw FormatError(fmt::format("NTFS: $UpCase of {} bytes (65536 entries expected)", size));
      return MutableByteSpan(reinterpret_cast<std::byte*>(table.data()), table.size() * 2);
    });
    if constexpr (std::endian::native != std::endian::little)
      for (char16_t& c : table) c = char16_t(load_le<std::uint16_t>(ByteSpan(reinterpret_cast<const std::byte*>(&c), 2), 0));
    s.upcase = std::move(table);
  }
  return s.upcase;
}

std::u16string upcased(const std::u16string& table, const std::u16string& name) {
  std::u16string out(name.size(), u'\0');
  for (std::size_t i = 0; i < name.size(); ++i) out[i] = table[name[i]];
  return out;
}

// Folders kept at once; past this the cache starts again (a walk visits each folder once, a path
// lookup its ancestors, so a small working set is what matters).
constexpr std::size_t kMaxCachedFolders = 4096;

// Folder `number`'s index, decoded on first use and kept (see Volume::State::folders); null when
// the record is not a folder.
std::shared_ptr<const FolderIndex> folder_index(const Volume::State& s, std::uint64_t number) {
  {
    std::lock_guard lock(s.folders_mutex);
    if (auto it = s.folders.find(number); it != s.folders.end()) return it->second;
  }
  const auto attributes = plain_attributes(s, number);
  if (!find(*attributes, AttributeType::index_root, kI30)) return nullptr;
  auto folder = std::make_shared<FolderIndex>();
  folder->entries = index_entries(s, number, *attributes);
  const std::u16string& table = upcase_table(s);
  for (std::size_t i = 0; i < folder->entries.size(); ++i)
    folder->by_upcased_name[upcased(table, folder->entries[i].key->name)].push_back(std::uint32_t(i));
  std::lock_guard lock(s.folders_mutex);
  if (s.folders.size() >= kMaxCachedFolders) s.folders.clear();
  s.folders.emplace(number, folder);
  return folder;
}

Entry entry_of(std::uint64_t number, std::u16string name, const std::vector<Attribute>& attributes) {
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

Entry entry_of(const Volume::State& s, std::uint64_t number, std::u16string name) {
  return entry_of(number, std::move(name), *plain_attributes(s, number));
}

// A file a path names: its record, the name its folder gives it, and its attributes.
struct Found {
  std::uint64_t record = kRootRecord;
  std::u16string name;
  Volume::State::AttributesPtr attributes;
  bool is_dir() const { return find(*attributes, AttributeType::index_root, kI30) != nullptr; }
};

// The record `names` lead to from folder `found`, following folders by name; nullopt when one is
// missing or not a folder. Its attributes are left to the caller.
std::optional<Found> follow(const Volume::State& s, Found found, const std::vector<std::u16string>& names) {
  for (const std::u16string& name : names) {
    const std::shared_ptr<const FolderIndex> folder = folder_index(s, found.record);
    if (!folder) return std::nullopt;
    const auto candidates = folder->by_upcased_name.find(upcased(upcase_table(s), name));
    if (candidates == folder->by_upcased_name.end()) return std::nullopt;
    // The name as given first: names that differ only in case (POSIX namespace) each open their
    // own file; then the first name that matches as Windows matches, without regard to case.
    const IndexEntry* match = &folder->entries[candidates->second.front()];
    for (std::uint32_t i : candidates->second) {
      const IndexEntry& e = folder->entries[i];
      if (e.key->name_space != Namespace::dos && e.key->name == name) {
        match = &e;
        break;
      }
    }
    found.record = match->file.record;
    found.name = match->key->name;
  }
  return found;
}

// The record a path names (the root for an empty path). Its parent part is looked up once for
// the files of a folder read one after another (Volume::State::last_parent).
std::optional<Found> resolve(const Volume::State& s, std::string_view path) {
  const std::size_t cut = path.find_last_of("/\\");
  const std::string_view leaf = cut == std::string_view::npos ? path : path.substr(cut + 1);
  std::optional<Found> found;
  if (cut == std::string_view::npos || leaf.empty() || leaf == ".") {
    found = follow(s, Found{}, components(path));  // the name of the last folder is wanted
  } else {
    const std::string_view parent = path.substr(0, cut);
    Found folder;
    bool known = false;
    {
      std::lock_guard lock(s.last_parent_mutex);
      if (s.last_parent == parent) folder.record = s.last_parent_record, known = true;
    }
    if (!known) {
      const std::optional<Found> looked_up = follow(s, Found{}, components(parent));
      if (!looked_up) return std::nullopt;
      folder.record = looked_up->record;
      std::lock_guard lock(s.last_parent_mutex);
      s.last_parent.assign(parent);
      s.last_parent_record = folder.record;
    }
    found = follow(s, folder, components(leaf));
  }
  if (found) found->attributes = plain_attributes(s, found->record);
  return found;
}

}  // namespace

std::vector<Extent> stored_ranges(const Volume::State& s, std::uint64_t record) {
  const auto attributes = plain_attributes(s, record);
  const Attribute* data = find(*attributes, AttributeType::data, u"");
  if (!data) return {};
  if (data->resident) return data->value.empty() ? std::vector<Extent>{} : std::vector<Extent>{{0, data->value.size()}};
  const std::uint64_t end = std::min(data->initialized_size, data->data_size);
  std::vector<Extent> out;
  for (const Run& r : data->runs) {
    if (!r.lcn) continue;
    // In 128 bits, as read_mapped reckons: a run's VCNs may reach past 64-bit byte offsets.
    const unsigned __int128 from = static_cast<unsigned __int128>(r.vcn) * s.boot.cluster_bytes;
    const unsigned __int128 to = from + static_cast<unsigned __int128>(r.length) * s.boot.cluster_bytes;
    if (from >= end) continue;
    append_extent(out, std::uint64_t(from), std::uint64_t(std::min<unsigned __int128>(to, end) - from));
  }
  return out;
}

std::vector<Entry> folder_entries(const Volume::State& s, std::uint64_t folder) {
  const std::shared_ptr<const FolderIndex> index = folder_index(s, folder);
  if (!index) throw UsageError(fmt::format("NTFS: record {} is not a folder", folder));
  std::vector<Entry> out;
  for (const IndexEntry& e : index->entries) {
    // A name in the DOS namespace alone is the 8.3 alias of a Win32 name listed beside it.
    if (e.key->name_space == Namespace::dos || e.file.record < kFirstUserRecord) continue;
    out.push_back(entry_of(s, e.file.record, e.key->name));
  }
  return out;
}

std::uint64_t folder_record(const Volume::State& s, std::string_view path) {
  const auto dir = resolve(s, path);
  if (!dir) throw UsageError(fmt::format("{}: no such folder", path));
  if (!dir->is_dir()) throw UsageError(fmt::format("{}: not a folder", path));
  return dir->record;
}

std::vector<Entry> Volume::list(std::string_view folder) const { return folder_entries(*state_, folder_record(*state_, folder)); }

Entry Volume::stat(std::string_view path) const {
  auto found = resolve(*state_, path);
  if (!found) throw UsageError(fmt::format("{}: no such file or folder", path));
  return entry_of(found->record, std::move(found->name), *found->attributes);
}

bool Volume::exists(std::string_view path) const { return resolve(*state_, path).has_value(); }

void Volume::read_file(std::string_view path, const std::function<MutableByteSpan(std::uint64_t)>& storage) const {
  const auto found = resolve(*state_, path);
  if (!found) throw UsageError(fmt::format("{}: no such file or folder", path));
  if (found->is_dir()) throw UsageError(fmt::format("{}: a folder, not a file", path));
  const Attribute* data = find(*found->attributes, AttributeType::data, u"");
  if (!data) {
    storage(0);
    return;
  }
  read_attribute(*state_, *data, "$DATA", storage);
}

ByteVector Volume::read_file(std::string_view path) const {
  ByteVector bytes;
  read_file(path, [&](std::uint64_t size) {
    bytes.resize(std::size_t(size));
    return MutableByteSpan(bytes);
  });
  return bytes;
}

std::size_t Volume::read_data(std::uint64_t record, std::uint64_t offset, MutableByteSpan out) const {
  const auto attributes = plain_attributes(*state_, record);
  if (find(*attributes, AttributeType::index_root, kI30)) throw UsageError(fmt::format("record {} is a folder, not a file", record));
  const Attribute* data = find(*attributes, AttributeType::data, u"");
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
