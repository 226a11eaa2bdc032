// Opening a volume, resolving paths, transactions, and the folder operations (list, stat, mkdir,
// remove, rename, attributes, label).
#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

std::vector<std::string> oem_code_pages() { return OemCodePage::names(); }
std::string oem_code_page(std::string_view name) { return std::string(OemCodePage::named(name).name()); }

std::vector<std::uint64_t> run_starts(const std::vector<Run>& runs, std::uint32_t cluster_size) {
  std::vector<std::uint64_t> starts;
  starts.reserve(runs.size());
  std::uint64_t at = 0;
  for (const Run& r : runs) {
    starts.push_back(at);
    at += std::uint64_t(r.count) * cluster_size;
  }
  return starts;
}

std::uint32_t Volume::Impl::max_dir_clusters() const {
  return std::max<std::uint32_t>(1, std::uint32_t(65536ull * entry_size / geometry.cluster_size()));
}

Directory& Volume::Impl::directory(std::uint32_t key) {
  auto it = directories.find(key);
  if (it != directories.end()) return *it->second;
  if (key != 0 && !fat->valid_cluster(key))
    throw FormatError(fmt::format("FAT: a folder starts at cluster {}, outside the volume", key),
                      geometry.fat_offset(0));
  auto dir = std::make_unique<Directory>(*this, key);
  Directory& ref = *dir;
  directories.emplace(key, std::move(dir));
  return ref;
}

Directory& Volume::Impl::create_directory(std::uint32_t cluster, const Directory::Fresh& fresh) {
  auto dir = std::make_unique<Directory>(*this, cluster, fresh);
  Directory& ref = *dir;
  directories[cluster] = std::move(dir);
  if (changes.active) changes.created.push_back(cluster);
  return ref;
}

Volume::Impl::Location Volume::Impl::locate(const std::string& path, const std::vector<std::string>& parts) {
  Location loc;
  std::uint32_t key = root_key();
  if (parts.size() > max_path_parts) throw OsError(ENAMETOOLONG, path, "open");
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Directory& dir = directory(key);
    DirNode* node = dir.find(wtf8_to_utf16(parts[i]));
    if (!node) throw OsError(ENOENT, path, "open");
    loc.parent = &dir;
    loc.node = node;
    if (i + 1 < parts.size()) {
      if (!node->is_dir()) throw OsError(ENOTDIR, path, "open");
      key = dir_key(node->entry);
      if (key == root_key() && node->entry.first_cluster == 0)
        throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", node->shown()));
    }
  }
  return loc;
}

Directory& Volume::Impl::folder(const std::string& path) {
  auto parts = split_path(path);
  if (parts.empty()) return directory(root_key());
  Location loc = locate(path, parts);
  if (!loc.node->is_dir()) throw OsError(ENOTDIR, path, "open");
  if (loc.node->entry.first_cluster == 0)
    throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", loc.node->shown()));
  return directory(loc.node->entry.first_cluster);
}

Directory& Volume::Impl::parent_of(const std::string& path, const std::vector<std::string>& parts) {
  if (parts.empty()) throw UsageError(fmt::format("'{}' names the root folder", wtf8_for_display(path)));
  std::vector<std::string> up(parts.begin(), parts.end() - 1);
  return folder(join_path(up));
}

Entry Volume::Impl::to_entry(const DirNode& n) const {
  Entry e;
  e.name = n.name();
  e.short_name = display_short_name(n.entry.name, 0, *codepage);
  e.raw_short_name.assign(n.entry.name.begin(), n.entry.name.end());
  e.raw_long_name = n.long_name;
  e.attributes = n.entry.attributes;
  e.size = n.entry.size;
  e.first_cluster = n.entry.first_cluster;
  e.created = from_fat_time(n.entry.created_date, n.entry.created_time, n.entry.created_tenths);
  e.modified = from_fat_time(n.entry.modified_date, n.entry.modified_time);
  e.accessed = from_fat_time(n.entry.accessed_date, 0);
  return e;
}

std::unique_lock<std::recursive_mutex> Volume::Impl::guard() {
  std::unique_lock lock(mutex);
  if (detached)
    throw UsageError(fmt::format("this FAT volume on {} was detached (reformatted or unmounted): open it again",
                                 device->name()));
  return lock;
}

void Volume::Impl::require_writable() const {
  if (!device->writable()) throw UsageError(fmt::format("{} is open read-only", device->name()));
}

bool Volume::Impl::is_open(std::uint32_t dir, std::uint32_t slot, bool writers_only) {
  std::erase_if(open_files, [](const std::weak_ptr<FileState>& w) { return w.expired(); });
  for (auto& w : open_files)
    if (auto s = w.lock(); s && s->dir == dir && s->slot == slot && (s->writable || !writers_only)) return true;
  return false;
}

std::uint32_t Volume::Impl::mkdir_in(Directory& parent, std::u16string_view name) {
  Timestamp now = IdentitySource::now();
  ShortEntry e;
  e.attributes = attr::directory;
  e.stamp_created(now);
  e.stamp_modified(now);
  // The name is checked and the parent grown before the cluster is taken, so that a refusal
  // changes nothing; the new folder's cluster reaches the device before anything links to it.
  check_long_name(name);
  if (parent.find(name)) throw OsError(EEXIST, utf16_to_wtf8(name), "create folder");
  std::vector<Run> run;
  try {
    run = fat->allocate(1, 0);
  } catch (const UsageError&) {
    throw OsError(ENOSPC, utf16_to_wtf8(name), "create folder: there is not enough space on the disk");
  }
  e.first_cluster = run[0].first;
  parent.add(name, e);
  std::uint32_t up = parent.fixed_root() || parent.first_cluster() == root_key() ? 0 : parent.first_cluster();
  create_directory(e.first_cluster, Directory::Fresh{up, e});
  return e.first_cluster;
}

std::uint32_t Volume::Impl::make_dirs(const std::string& path, const std::vector<std::string>& parts) {
  if (parts.size() > max_path_parts) throw OsError(ENAMETOOLONG, path, "make folders");
  std::uint32_t key = root_key();
  for (const std::string& part : parts) {
    Directory& dir = directory(key);
    std::u16string name = wtf8_to_utf16(part);
    DirNode* node = dir.find(name);
    if (node) {
      if (!node->is_dir()) throw OsError(EEXIST, path, "make folders");
      if (node->entry.first_cluster == 0)
        throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", node->shown()));
      key = node->entry.first_cluster;
    } else {
      key = mkdir_in(dir, name);
    }
  }
  return key;
}

bool Volume::Impl::dirty() const {
  if (!staging.empty() || staging.in_flight.valid() || fat->dirty()) return true;
  return std::any_of(directories.begin(), directories.end(), [](const auto& d) { return d.second->dirty(); });
}

void Volume::Impl::flush() {
  if (dirty()) {
    if (changes.active) changes.wrote_metadata = true;
    // Three stages with a device flush (a write barrier) after each of the first two, so that no
    // crash can leave an entry naming what is not on the disk yet, or clusters freed that an entry
    // still names (the write-back crash model: unflushed writes land in any order, or not at all):
    //  1. file data, new folders' clusters, and the FAT chains that hold them (linked to no entry
    //     yet, so a crash here leaks clusters at worst);
    //  2. directory entries (each sector one change: the old entry or the new one);
    //  3. clusters the entries stopped using, freed (see FatTable::free_chain), and FSInfo.
    // A barrier is paid only where a stage wrote something a later stage depends on: a rename
    // writes entries alone, a new file's data and chain need one before its entry.
    // (New folders' clusters come with a chain, so a dirty FAT covers them.)
    const bool blocks = !staging.empty() || staging.in_flight.valid() || fat->sectors_dirty();
    if (fat->dirty()) fsinfo_due = true;
    flush_staging();
    for (auto& [key, dir] : directories) dir->flush_fresh();
    fat->flush();
    const bool entries = std::any_of(directories.begin(), directories.end(), [](const auto& d) { return d.second->dirty(); });
    if (entries) {
      if (blocks) device->flush();
      for (auto& [key, dir] : directories) dir->flush();
    }
    if (fat->has_deferred()) {
      if (blocks || entries) device->flush();
      fat->apply_deferred();
      fat->flush();
    }
  }
  // FSInfo is a hint (fatgen103 section 5): rewritten when this session changed the FAT, never
  // merely because it was stale when the volume was opened.
  if (fsinfo_present && fsinfo_due &&
      (fsinfo.free_count != fat->free_count() || fsinfo.next_free != fat->next_free_hint())) {
    if (changes.active) changes.wrote_metadata = true;
    std::uint64_t at = std::uint64_t(boot.fsinfo_sector) * geometry.bytes_per_sector;
    ByteVector sector = device->read(at, geometry.bytes_per_sector);
    fsinfo.free_count = fat->free_count();
    fsinfo.next_free = fat->next_free_hint();
    fsinfo.encode(sector);
    device->write(at, sector);
  }
  fsinfo_due = false;
}

// ---- Volume ---------------------------------------------------------------------------------

Volume::Volume(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Volume::~Volume() {
  try {
    if (impl_ && !impl_->detached && impl_->device->writable() && impl_->dirty()) impl_->flush();
  } catch (...) {
  }
}

std::shared_ptr<Volume> Volume::open(const DevicePtr& device, std::string_view codepage) {
  if (!device) throw UsageError("no device");
  auto impl = std::make_unique<Impl>();
  impl->codepage = &OemCodePage::named(codepage);
  impl->device = device;
  std::size_t first = std::max<std::size_t>(512, device->sector_size());
  if (device->size() < first) throw FormatError(fmt::format("{} is too small to hold a FAT volume", device->name()), 0);
  ByteVector sector = device->read(0, first);
  impl->boot = BootSector::decode(sector, 0);
  impl->geometry = geometry_of(impl->boot, device->size());
  impl->fat = std::make_unique<FatTable>(*device, impl->geometry);
  if (impl->geometry.type == FatType::fat32 && impl->boot.fsinfo_sector > 0 &&
      impl->boot.fsinfo_sector < impl->boot.reserved_sectors) {
    ByteVector info = device->read(std::uint64_t(impl->boot.fsinfo_sector) * impl->geometry.bytes_per_sector,
                                   impl->geometry.bytes_per_sector);
    if (FsInfo::valid(info)) {
      impl->fsinfo_present = true;
      impl->fsinfo = FsInfo::decode(info);
    }
  }
  impl->directory(impl->root_key());  // validates the root now, before a Volume exists to flush
  return std::shared_ptr<Volume>(new Volume(std::move(impl)));
}

const Geometry& Volume::geometry() const { return impl_->geometry; }
const DevicePtr& Volume::device() const { return impl_->device; }
std::uint32_t Volume::serial() const { return impl_->boot.serial; }
std::string Volume::codepage() const { return std::string(impl_->codepage->name()); }
std::uint64_t Volume::total_bytes() const { return impl_->geometry.data_bytes(); }
std::uint64_t Volume::free_bytes() const {
  auto lock = impl_->guard();
  return std::uint64_t(impl_->fat->free_count()) * impl_->geometry.cluster_size();
}

std::string Volume::label() const {
  auto lock = impl_->guard();
  Directory& root = impl_->directory(impl_->root_key());
  std::string raw;
  if (auto slot = root.label_slot()) {
    ShortEntry e = root.raw(*slot);
    raw.assign(e.name.begin(), e.name.end());
  } else {
    raw = impl_->boot.label;
    if (raw == "NO NAME    ") raw.clear();
  }
  return decode_label(raw, *impl_->codepage);
}

std::vector<Entry> Volume::list(const std::string& path) {
  auto lock = impl_->guard();
  std::vector<Entry> out;
  const auto& nodes = impl_->folder(path).nodes();
  out.reserve(nodes.size());
  for (const auto& [slot, node] : nodes) out.push_back(impl_->to_entry(node));
  return out;
}

Entry Volume::stat(const std::string& path) {
  auto lock = impl_->guard();
  auto parts = split_path(path);
  if (parts.empty()) {
    Entry root;
    root.attributes = attr::directory;
    root.first_cluster = impl_->root_key();
    return root;
  }
  return impl_->to_entry(*impl_->locate(path, parts).node);
}

bool Volume::exists(const std::string& path) {
  auto lock = impl_->guard();
  try {
    auto parts = split_path(path);
    if (!parts.empty()) impl_->locate(path, parts);
    return true;
  } catch (const OsError&) {
    return false;
  }
}

std::vector<WalkStep> Volume::walk(const std::string& path) {
  auto lock = impl_->guard();
  std::vector<WalkStep> steps;
  std::unordered_set<std::uint32_t> seen;
  struct Pending {
    std::string path;
    std::uint32_t key;
    std::size_t depth;  // parts of `path`
  };
  Directory& start = impl_->folder(path);
  const auto parts = split_path(path);
  std::vector<Pending> stack{{join_path(parts), start.first_cluster(), parts.size()}};
  while (!stack.empty()) {
    Pending p = stack.back();
    stack.pop_back();
    // Every step holds its whole path: a tree on disk thousands of levels deep made gigabytes of
    // them. Past the deepest path the engine opens, the walk stops, as a path there would.
    if (p.depth > Impl::max_path_parts) throw OsError(ENAMETOOLONG, wtf8_for_display(p.path), "walk");
    if (!seen.insert(p.key).second)
      throw FormatError(fmt::format("FAT: folder '{}' (cluster {}) is its own ancestor or appears twice: a folder cycle",
                                    wtf8_for_display(p.path), p.key),
                        p.key ? impl_->geometry.cluster_offset(p.key) : impl_->geometry.root_dir_offset());
    Directory& dir = impl_->directory(p.key);
    WalkStep step;
    step.path = p.path;
    std::vector<Pending> children;
    for (const auto& [slot, node] : dir.nodes()) {
      step.entries.push_back(impl_->to_entry(node));
      if (node.is_dir()) {
        if (node.entry.first_cluster == 0)
          throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", node.shown()));
        children.push_back({p.path.empty() ? node.name() : p.path + "/" + node.name(), node.entry.first_cluster, p.depth + 1});
      }
    }
    steps.push_back(std::move(step));
    for (auto it = children.rbegin(); it != children.rend(); ++it) stack.push_back(*it);
  }
  return steps;
}

void Volume::mkdir(const std::string& path) {
  auto lock = impl_->guard();
  impl_->require_writable();
  Transaction change(*impl_);
  auto parts = split_path(path);
  Directory& parent = impl_->parent_of(path, parts);
  impl_->mkdir_in(parent, wtf8_to_utf16(parts.back()));
  impl_->flush();
  change.commit();
}

void Volume::makedirs(const std::string& path) {
  auto lock = impl_->guard();
  impl_->require_writable();
  Transaction change(*impl_);
  impl_->make_dirs(path, split_path(path));
  impl_->flush();
  change.commit();
}

void Volume::remove(const std::string& path) {
  auto lock = impl_->guard();
  impl_->require_writable();
  Transaction change(*impl_);
  auto parts = split_path(path);
  if (parts.empty()) throw OsError(EISDIR, path, "remove");
  Impl::Location loc = impl_->locate(path, parts);
  if (loc.node->is_dir()) throw OsError(EISDIR, path, "remove");
  if (impl_->is_open(loc.parent->first_cluster(), loc.node->slot)) throw OsError(EBUSY, path, "remove");
  std::uint32_t first = loc.node->entry.first_cluster;
  loc.parent->remove(loc.node->slot);
  // The frees are deferred until the entry is on the disk: a crash then leaves lost clusters
  // (harmless), never a file whose clusters are free.
  if (first) impl_->fat->free_chain(first);
  impl_->flush();
  change.commit();
}

void Volume::rmdir(const std::string& path) {
  auto lock = impl_->guard();
  impl_->require_writable();
  Transaction change(*impl_);
  auto parts = split_path(path);
  if (parts.empty()) throw OsError(EBUSY, path, "remove the root folder");
  Impl::Location loc = impl_->locate(path, parts);
  if (!loc.node->is_dir()) throw OsError(ENOTDIR, path, "remove folder");
  std::uint32_t first = loc.node->entry.first_cluster;
  if (first) {
    Directory& dir = impl_->directory(first);
    if (!dir.nodes().empty()) throw OsError(ENOTEMPTY, path, "remove folder");
  }
  loc.parent->remove(loc.node->slot);
  if (first) impl_->fat->free_chain(first);
  impl_->flush();
  impl_->directories.erase(first);
  change.commit();
}

void Volume::rename(const std::string& from, const std::string& to) {
  auto lock = impl_->guard();
  impl_->require_writable();
  Transaction change(*impl_);
  auto src = split_path(from), dst = split_path(to);
  if (src.empty()) throw UsageError("cannot rename the root folder");
  Impl::Location loc = impl_->locate(from, src);
  if (impl_->is_open(loc.parent->first_cluster(), loc.node->slot)) throw OsError(EBUSY, from, "rename");
  Directory& target = impl_->parent_of(to, dst);
  std::u16string new_name = wtf8_to_utf16(dst.back());
  check_long_name(new_name);
  bool moving_dir = loc.node->is_dir();
  if (moving_dir) {
    // A folder cannot move into itself or below itself.
    std::uint32_t moved = loc.node->entry.first_cluster;
    for (std::size_t i = 0; i + 1 < dst.size(); ++i) {
      std::vector<std::string> prefix(dst.begin(), dst.begin() + std::ptrdiff_t(i) + 1);
      Impl::Location p = impl_->locate(to, prefix);
      if (p.node && p.node->entry.first_cluster == moved) throw OsError(EINVAL, to, "move a folder into itself");
    }
  }
  DirNode* existing = target.find(new_name);
  if (existing && existing != loc.node) throw OsError(EEXIST, to, "rename");
  // (The same entry under another spelling is a change of case: it is made again below.)
  ShortEntry entry = loc.node->entry;
  Directory* source = loc.parent;
  const std::uint32_t old_slot = loc.node->slot;
  const bool case_change = existing == loc.node;
  if (case_change) {
    source->remove(old_slot);
    target.add(new_name, entry);
  } else {
    // The new entry reaches the disk before the old one goes, a write barrier between: a crash
    // in between leaves the file under both names sharing its clusters, which check(repair=True)
    // settles by keeping the first, and never under neither.
    target.add(new_name, entry);
    impl_->flush();
    impl_->device->flush();
    source->remove(old_slot);
  }
  if (moving_dir && source != &target) {
    // ".." must name the new parent.
    Directory& md = impl_->directory(entry.first_cluster);
    if (md.dotdot_cluster && md.capacity() > 1) {
      ShortEntry e = md.raw(1);
      e.first_cluster = target.first_cluster() == impl_->root_key() ? 0 : target.first_cluster();
      md.store_raw(1, e);
      md.dotdot_cluster = e.first_cluster;
    }
  }
  impl_->flush();
  change.commit();
}

void Volume::set_attributes(const std::string& path, std::uint8_t attributes) {
  auto lock = impl_->guard();
  impl_->require_writable();
  Transaction change(*impl_);
  auto parts = split_path(path);
  if (parts.empty()) throw UsageError("the root folder has no attributes");
  Impl::Location loc = impl_->locate(path, parts);
  std::uint8_t keep = loc.node->entry.attributes & (attr::directory | attr::volume_label);
  loc.node->entry.attributes = keep | (attributes & (attr::read_only | attr::hidden | attr::system | attr::archive));
  loc.parent->store(*loc.node);
  impl_->flush();
  change.commit();
}

void Volume::set_times(const std::string& path, std::optional<Timestamp> created, std::optional<Timestamp> modified,
                       std::optional<Timestamp> accessed) {
  auto lock = impl_->guard();
  impl_->require_writable();
  Transaction change(*impl_);
  auto parts = split_path(path);
  if (parts.empty()) throw UsageError("the root folder has no times");
  Impl::Location loc = impl_->locate(path, parts);
  ShortEntry& e = loc.node->entry;
  if (created) {
    FatTime f = to_fat_time(*created);
    e.created_date = f.date, e.created_time = f.time, e.created_tenths = f.tenths;
  }
  if (modified) {
    FatTime f = to_fat_time(*modified);
    e.modified_date = f.date, e.modified_time = f.time;
  }
  if (accessed) e.accessed_date = to_fat_time(*accessed).date;
  loc.parent->store(*loc.node);
  impl_->flush();
  change.commit();
}

void Volume::set_label(const std::string& label) {
  auto lock = impl_->guard();
  impl_->require_writable();
  Transaction change(*impl_);
  ShortName name = encode_label(label, *impl_->codepage);
  const bool none = is_no_label(name);
  Directory& root = impl_->directory(impl_->root_key());
  ShortEntry e;
  e.name = name;
  e.attributes = attr::volume_label;
  e.stamp_modified(IdentitySource::now());
  if (auto slot = root.label_slot()) {
    if (none) root.erase_slots(*slot, 1);
    else root.store_raw(*slot, e);
  } else if (!none) {
    if (!root.has_room(1)) throw OsError(ENOSPC, "\\", "the root directory is full: no room for a label");
    root.add_raw(e);
  }
  // The boot sector (and FAT32's backup) carry the label too, when it has the extended fields.
  // The root's label entry is what readers take first: it goes first, a write barrier after it,
  // so a crash between leaves the new label, the boot sector's copy to be brought in line (as
  // fsck.fat and check(repair=True) do).
  if (impl_->boot.has_extended) {
    impl_->flush();
    impl_->device->flush();
    std::string field = none ? "NO NAME    " : std::string(name.begin(), name.end());
    std::size_t first = std::max<std::size_t>(512, impl_->geometry.bytes_per_sector);
    ByteVector sector = impl_->device->read(0, first);
    std::size_t at = impl_->geometry.type == FatType::fat32 ? 71 : 43;
    store_ascii(sector, at, 11, field);
    impl_->changes.wrote_metadata = true;
    impl_->device->write(0, sector);
    if (auto backup = backup_boot_offset(impl_->boot, impl_->geometry)) impl_->device->write(*backup, sector);
    impl_->boot.label = field;
  }
  impl_->flush();
  change.commit();
}

void Volume::detach() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->detached) return;
  if (impl_->device->writable()) impl_->flush();
  impl_->detached = true;
  impl_->directories.clear();
  impl_->open_files.clear();
}

void Volume::flush() {
  auto lock = impl_->guard();
  impl_->flush();
  if (impl_->device->writable()) impl_->device->flush();
}

}  // namespace bootmirror::fat
