// Opening a volume, resolving paths, and the folder operations (list, stat, mkdir, remove,
// rename, attributes, label).
#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

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

Volume::Impl::Location Volume::Impl::locate(const std::string& path, const std::vector<std::string>& parts) {
  Location loc;
  std::uint32_t key = root_key();
  // A path has at most 260 characters on Windows, so a deeper walk means a folder cycle.
  if (parts.size() > 200) throw OsError(ENAMETOOLONG, path, "open");
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Directory& dir = directory(key);
    DirNode* node = dir.find(utf8_to_utf16(parts[i]));
    if (!node) throw OsError(ENOENT, path, "open");
    loc.parent = &dir;
    loc.node = node;
    if (i + 1 < parts.size()) {
      if (!node->is_dir()) throw OsError(ENOTDIR, path, "open");
      key = dir_key(node->entry);
      if (key == root_key() && node->entry.first_cluster == 0)
        throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", node->name()));
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
    throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", loc.node->name()));
  return directory(loc.node->entry.first_cluster);
}

Directory& Volume::Impl::parent_of(const std::string& path, const std::vector<std::string>& parts) {
  if (parts.empty()) throw UsageError(fmt::format("'{}' names the root folder", path));
  std::vector<std::string> up(parts.begin(), parts.end() - 1);
  return folder(join_path(up));
}

Entry Volume::Impl::to_entry(const DirNode& n) const {
  Entry e;
  e.name = n.name();
  e.short_name = display_short_name(n.entry.name);
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

bool Volume::Impl::is_open(std::uint32_t dir, std::uint32_t slot) {
  std::erase_if(open_files, [](const std::weak_ptr<FileState>& w) { return w.expired(); });
  for (auto& w : open_files)
    if (auto s = w.lock(); s && s->dir == dir && s->slot == slot) return true;
  return false;
}

std::uint32_t Volume::Impl::mkdir_in(Directory& parent, std::u16string_view name) {
  Timestamp now = IdentitySource::now();
  std::vector<Run> run = fat->allocate(1, 0);
  std::uint32_t cluster = run[0].first;
  // The new folder's cluster holds "." and ".." before any entry points to it.
  ByteVector block(geometry.cluster_size());
  ShortEntry dot;
  dot.name.fill(' ');
  dot.name[0] = '.';
  dot.attributes = attr::directory;
  dot.stamp_created(now);
  dot.stamp_modified(now);
  dot.first_cluster = cluster;
  dot.encode(MutableByteSpan(block.data(), entry_size));
  ShortEntry dotdot = dot;
  dotdot.name[1] = '.';
  dotdot.first_cluster = parent.fixed_root() || parent.first_cluster() == root_key() ? 0 : parent.first_cluster();
  dotdot.encode(MutableByteSpan(block.data() + entry_size, entry_size));
  device->write(geometry.cluster_offset(cluster), block);
  ShortEntry e;
  e.attributes = attr::directory;
  e.stamp_created(now);
  e.stamp_modified(now);
  e.first_cluster = cluster;
  try {
    parent.add(name, e);
  } catch (...) {
    fat->free_chain(cluster);
    throw;
  }
  return cluster;
}

void Volume::Impl::flush() {
  // Data first; new chains reach the FAT before the entries that use them; freed clusters after
  // the entries that stopped using them (see FatTable::free_chain).
  flush_staging();
  if (fat->dirty() || fat->has_deferred()) fsinfo_stale = true;
  fat->flush();
  for (auto& [key, dir] : directories) dir->flush();
  if (fat->has_deferred()) {
    fat->apply_deferred();
    fat->flush();
  }
  if (fsinfo_present && fsinfo_stale && device->writable() &&
      (fsinfo.free_count != fat->free_count() || fsinfo.next_free != fat->next_free_hint())) {
    std::uint64_t at = std::uint64_t(boot.fsinfo_sector) * geometry.bytes_per_sector;
    ByteVector sector = device->read(at, geometry.bytes_per_sector);
    fsinfo.free_count = fat->free_count();
    fsinfo.next_free = fat->next_free_hint();
    fsinfo.encode(sector);
    device->write(at, sector);
  }
}

// ---- Volume ---------------------------------------------------------------------------------

Volume::Volume(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Volume::~Volume() {
  try {
    if (impl_ && !impl_->detached && impl_->device->writable()) impl_->flush();
  } catch (...) {
  }
}

std::shared_ptr<Volume> Volume::open(const DevicePtr& device) {
  if (!device) throw UsageError("no device");
  auto impl = std::make_unique<Impl>();
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
  auto volume = std::shared_ptr<Volume>(new Volume(std::move(impl)));
  volume->impl_->directory(volume->impl_->root_key());  // validates the root now
  return volume;
}

const Geometry& Volume::geometry() const { return impl_->geometry; }
const DevicePtr& Volume::device() const { return impl_->device; }
std::uint32_t Volume::serial() const { return impl_->boot.serial; }
std::uint64_t Volume::total_bytes() const { return impl_->geometry.data_bytes(); }
std::uint64_t Volume::free_bytes() const {
  auto lock = impl_->guard();
  return std::uint64_t(impl_->fat->free_count()) * impl_->geometry.cluster_size();
}

std::string Volume::label() const {
  auto lock = impl_->guard();
  Directory& root = impl_->directory(impl_->root_key());
  std::string text;
  if (auto slot = root.label_slot()) {
    ShortEntry e = root.raw(*slot);
    text = std::string(e.name.begin(), e.name.end());
  } else {
    text = impl_->boot.label;
    if (text == "NO NAME    ") text.clear();
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
  return text;
}

std::vector<Entry> Volume::list(const std::string& path) {
  auto lock = impl_->guard();
  std::vector<Entry> out;
  for (const auto& [slot, node] : impl_->folder(path).nodes()) out.push_back(impl_->to_entry(node));
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
  };
  Directory& start = impl_->folder(path);
  std::vector<Pending> stack{{join_path(split_path(path)), start.first_cluster()}};
  while (!stack.empty()) {
    Pending p = stack.back();
    stack.pop_back();
    if (!seen.insert(p.key).second)
      throw FormatError(fmt::format("FAT: folder '{}' (cluster {}) is its own ancestor or appears twice: a folder cycle",
                                    p.path, p.key),
                        p.key ? impl_->geometry.cluster_offset(p.key) : impl_->geometry.root_dir_offset());
    Directory& dir = impl_->directory(p.key);
    WalkStep step;
    step.path = p.path;
    std::vector<Pending> children;
    for (const auto& [slot, node] : dir.nodes()) {
      step.entries.push_back(impl_->to_entry(node));
      if (node.is_dir()) {
        if (node.entry.first_cluster == 0)
          throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", node.name()));
        children.push_back({p.path.empty() ? node.name() : p.path + "/" + node.name(), node.entry.first_cluster});
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
  auto parts = split_path(path);
  Directory& parent = impl_->parent_of(path, parts);
  impl_->mkdir_in(parent, utf8_to_utf16(parts.back()));
  impl_->flush();
}

void Volume::makedirs(const std::string& path) {
  auto lock = impl_->guard();
  impl_->require_writable();
  auto parts = split_path(path);
  std::uint32_t key = impl_->root_key();
  for (const std::string& part : parts) {
    Directory& dir = impl_->directory(key);
    DirNode* node = dir.find(utf8_to_utf16(part));
    if (node) {
      if (!node->is_dir()) throw OsError(EEXIST, path, "make folders");
      key = node->entry.first_cluster;
    } else {
      key = impl_->mkdir_in(dir, utf8_to_utf16(part));
    }
  }
  impl_->flush();
}

void Volume::remove(const std::string& path) {
  auto lock = impl_->guard();
  impl_->require_writable();
  auto parts = split_path(path);
  Impl::Location loc = impl_->locate(path, parts);
  if (!loc.node) throw OsError(EISDIR, path, "remove");
  if (loc.node->is_dir()) throw OsError(EISDIR, path, "remove");
  if (impl_->is_open(loc.parent->first_cluster(), loc.node->slot)) throw OsError(EBUSY, path, "remove");
  std::uint32_t first = loc.node->entry.first_cluster;
  loc.parent->remove(loc.node->slot);
  // The entry goes first: a crash then leaves lost clusters (harmless), never a file whose
  // clusters are free.
  loc.parent->flush();
  if (first) impl_->fat->free_chain(first);
  impl_->flush();
}

void Volume::rmdir(const std::string& path) {
  auto lock = impl_->guard();
  impl_->require_writable();
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
  loc.parent->flush();
  impl_->directories.erase(first);
  if (first) impl_->fat->free_chain(first);
  impl_->flush();
}

void Volume::rename(const std::string& from, const std::string& to) {
  auto lock = impl_->guard();
  impl_->require_writable();
  auto src = split_path(from), dst = split_path(to);
  Impl::Location loc = impl_->locate(from, src);
  if (!loc.node) throw UsageError("cannot rename the root folder");
  if (impl_->is_open(loc.parent->first_cluster(), loc.node->slot)) throw OsError(EBUSY, from, "rename");
  Directory& target = impl_->parent_of(to, dst);
  std::u16string new_name = utf8_to_utf16(dst.back());
  bool moving_dir = loc.node->is_dir();
  if (moving_dir) {
    // A folder cannot move into itself or below itself.
    std::uint32_t moved = loc.node->entry.first_cluster;
    for (std::size_t i = 0; i < dst.size() - 1; ++i) {
      std::vector<std::string> prefix(dst.begin(), dst.begin() + std::ptrdiff_t(i) + 1);
      Impl::Location p = impl_->locate(to, prefix);
      if (p.node && p.node->entry.first_cluster == moved) throw OsError(EINVAL, to, "move a folder into itself");
    }
  }
  DirNode* existing = target.find(new_name);
  ShortEntry entry = loc.node->entry;
  Directory* source = loc.parent;
  std::uint32_t old_slot = loc.node->slot;
  if (existing) {
    bool same = existing == loc.node;
    if (!same) throw OsError(EEXIST, to, "rename");
    // A change of case only: re-create the entry under the new spelling.
  }
  source->remove(old_slot);
  try {
    target.add(new_name, entry);
  } catch (...) {
    source->add(utf8_to_utf16(src.back()), entry);
    throw;
  }
  if (moving_dir && source != &target) {
    // ".." must name the new parent.
    Directory& md = impl_->directory(entry.first_cluster);
    if (md.dotdot_cluster) {
      for (std::uint32_t slot = 0; slot < std::min<std::uint32_t>(2, md.capacity()); ++slot) {
        ShortEntry e = md.raw(slot);
        if (std::string(e.name.begin(), e.name.end()) == "..         ") {
          e.first_cluster = target.first_cluster() == impl_->root_key() ? 0 : target.first_cluster();
          md.store_raw(slot, e);
          md.dotdot_cluster = e.first_cluster;
        }
      }
    }
  }
  impl_->flush();
}

void Volume::set_attributes(const std::string& path, std::uint8_t attributes) {
  auto lock = impl_->guard();
  impl_->require_writable();
  auto parts = split_path(path);
  Impl::Location loc = impl_->locate(path, parts);
  if (!loc.node) throw UsageError("the root folder has no attributes");
  std::uint8_t keep = loc.node->entry.attributes & (attr::directory | attr::volume_label);
  loc.node->entry.attributes = keep | (attributes & (attr::read_only | attr::hidden | attr::system | attr::archive));
  loc.parent->store(*loc.node);
  impl_->flush();
}

void Volume::set_times(const std::string& path, std::optional<Timestamp> created, std::optional<Timestamp> modified,
                       std::optional<Timestamp> accessed) {
  auto lock = impl_->guard();
  impl_->require_writable();
  auto parts = split_path(path);
  Impl::Location loc = impl_->locate(path, parts);
  if (!loc.node) throw UsageError("the root folder has no times");
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
}

void Volume::set_label(const std::string& label) {
  auto lock = impl_->guard();
  impl_->require_writable();
  std::string text = label;
  for (char& c : text) c = char(std::toupper(static_cast<unsigned char>(c)));
  if (text.size() > 11) throw UsageError(fmt::format("the label '{}' is longer than 11 characters", label));
  for (char c : text)
    if (std::string_view("*?<>|\"/\\:.+,;=[]").find(c) != std::string_view::npos || static_cast<unsigned char>(c) < 0x20)
      throw UsageError(fmt::format("the label '{}' has characters a label cannot hold", label));
  Directory& root = impl_->directory(impl_->root_key());
  ShortEntry e;
  e.name.fill(' ');
  std::copy(text.begin(), text.end(), e.name.begin());
  e.attributes = attr::volume_label;
  e.stamp_modified(IdentitySource::now());
  if (auto slot = root.label_slot()) {
    if (text.empty()) root.erase_slots(*slot, 1);
    else root.store_raw(*slot, e);
  } else if (!text.empty()) {
    root.add_raw(e);
  }
  // The boot sector (and FAT32's backup) carry the label too.
  impl_->boot.label = text.empty() ? "NO NAME    " : std::string(e.name.begin(), e.name.end());
  std::size_t first = std::max<std::size_t>(512, impl_->geometry.bytes_per_sector);
  ByteVector sector = impl_->device->read(0, first);
  std::size_t at = impl_->geometry.type == FatType::fat32 ? 71 : 43;
  store_ascii(sector, at, 11, impl_->boot.label);
  impl_->device->write(0, sector);
  if (impl_->geometry.type == FatType::fat32 && impl_->boot.backup_boot_sector)
    impl_->device->write(std::uint64_t(impl_->boot.backup_boot_sector) * impl_->geometry.bytes_per_sector, sector);
  impl_->flush();
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
  impl_->device->flush();
}

}  // namespace bootmirror::fat
