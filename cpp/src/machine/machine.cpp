#include "bootmirror/machine.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "bootmirror/fat.h"
#include "bootmirror/unicode.h"
#include "bootmirror/write_log.h"
#include "machine/folder_lock.h"
#include "machine/rebuild_worker.h"
#include "machine/write_intents.h"

namespace bootmirror {

namespace {

namespace fs = std::filesystem;

// Whether two image paths name one file (without throwing for paths the system cannot resolve).
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ea, eb;
  const fs::path ca = fs::weakly_canonical(a, ea), cb = fs::weakly_canonical(b, eb);
  return !ea && !eb ? ca == cb : a == b;
}

constexpr const char* kFile = "machine.json";
constexpr std::int64_t kFormatVersion = 1;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw OsError(errno ? errno : ENOENT, path, "cannot open the machine file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  // A folder opens as a stream and reads as nothing: say what it is, not "unexpected end of text".
  std::error_code error;
  if (in.bad() || (buffer.str().empty() && fs::is_directory(path, error))) throw OsError(EISDIR, path, "cannot read the machine file");
  return buffer.str();
}

// Whether `path` exists; OsError when the system cannot even look it up (too long, a loop of
// links, a file where a folder should be): std::filesystem's throwing overloads would escape as
// something other than a bootmirror error.
bool path_exists(const std::string& path, std::string_view action) {
  std::error_code lookup;
  const bool present = fs::exists(path, lookup);
  if (lookup && lookup != std::errc::no_such_file_or_directory)
    throw OsError(lookup.value(), path, std::string(action));
  return present;
}

// The recorded name of an image: relative to the folder when it lies inside, absolute otherwise.
std::string recorded_name(const std::string& folder, const std::string& path) {
  const fs::path absolute = fs::absolute(path).lexically_normal();
  const fs::path base = fs::absolute(folder).lexically_normal();
  const fs::path relative = absolute.lexically_relative(base);
  if (!relative.empty() && *relative.begin() != "..") return relative.generic_string();
  return absolute.string();
}
}  // namespace

Machine::Machine() : rebuild_worker_(std::make_unique<RebuildWorker>(*this)) {}
Machine::~Machine() = default;

std::shared_ptr<Machine> Machine::create(const std::string& folder) {
  std::error_code made;
  fs::create_directories(folder, made);
  if (made) throw OsError(made.value(), folder, "cannot create the machine's folder");
  auto refuse_existing = [&] {
    if (path_exists((fs::path(folder) / kFile).string(), "look for a machine in the folder"))
      throw UsageError(fmt::format("{} already holds a machine; open it with Machine.open", folder));
  };
  refuse_existing();
  auto machine = std::make_shared<Machine>();
  machine->folder_ = folder;
  machine->folder_lock_ = std::make_shared<FolderLock>(folder);
  machine->prepare_write();
  refuse_existing();  // made by another process just before we took the lock
  machine->save();
  return machine;
}

DevicePtr Machine::open_image(const std::string& path, std::uint32_t sector_size) {
  auto image = ImageFile::open(path, false, sector_size);
  image->reopen_for_writing_when_written([lock = folder_lock_] { lock->prepare_write(); });
  if (!log_) return image;
  auto recorded = std::make_shared<FaultyDisk>(image);
  recorded->record_to(log_);
  return recorded;
}

std::shared_ptr<Machine> Machine::open(const std::string& folder, std::shared_ptr<WriteLog> log) {
  const std::string path = (fs::path(folder) / kFile).string();
  if (!path_exists(path, "look for a machine in the folder"))
    throw OsError(ENOENT, path, "no machine in this folder (create one with Machine.create)");
  const std::string text = read_text(path);
  const Json doc = Json::parse(text);
  if (!doc.is_object() || doc["bootmirror_machine"].integer("bootmirror_machine") != kFormatVersion)
    throw FormatError(fmt::format("{}: unsupported machine format version", path));
  auto machine = std::make_shared<Machine>();
  machine->folder_ = folder;
  machine->folder_lock_ = std::make_shared<FolderLock>(folder);
  machine->folder_lock_->remember(text);
  machine->log_ = std::move(log);
  for (const Json& entry : doc["disks"].array("disks")) {
    AttachedDisk disk;
    disk.number = int(entry["number"].integer("disk number", 0, INT32_MAX));
    if (machine->disks_.count(disk.number))
      throw FormatError(fmt::format("{}: disk {} is recorded twice", path, disk.number));
    disk.sector_size = std::uint32_t(entry["sector_size"].integer("sector size", 512, 4096));
    if (disk.sector_size != 512 && disk.sector_size != 4096)
      throw FormatError(fmt::format("{}: disk {} has sector size {}, not 512 or 4096", path, disk.number, disk.sector_size));
    disk.failed = entry.object().count("failed") && entry["failed"].boolean("disk failed");
    // No image: a gone disk (add_gone_disk), failed for good.
    if (!(entry["image"].is_null() && disk.failed)) {
      disk.image = entry["image"].string("disk image");
      // A path holds no NUL: the system would open the name cut there, another file.
      if (disk.image.empty() || disk.image.find('\0') != std::string::npos)
        throw FormatError(fmt::format("{}: disk {}'s image name {} is not a path", path, disk.number, escape_bytes(disk.image)));
      const fs::path image(disk.image);
      disk.path = (image.is_absolute() ? image : fs::path(folder) / image).string();
      // A recorded path the system cannot even look up is an error of machine.json, not a missing disk.
      const bool present = path_exists(disk.path, fmt::format("look up the image of disk {} recorded in {}", disk.number, path));
      if (present && !disk.failed) disk.device = machine->open_image(disk.path, disk.sector_size);
    }
    machine->disks_[disk.number] = std::move(disk);
  }
  if (doc["sections"].is_object())
    for (const auto& [name, value] : doc["sections"].object()) machine->sections_[name] = value;
  return machine;
}

void Machine::prepare_write() {
  if (closed_) throw UsageError("the machine is closed");
  if (folder_lock_) folder_lock_->prepare_write();
}

void Machine::close() {
  // Before the lock: the copy may be waiting for it to write a checkpoint.
  rebuild_worker_->stop();
  auto hold_machine = hold();
  for (auto& [number, disk] : disks_)
    if (auto image = std::dynamic_pointer_cast<ImageFile>(disk.device)) image->close();
  nvram_store_.reset();
  if (folder_lock_) folder_lock_->close();
  closed_ = true;
}

AttachedDisk Machine::describe(DevicePtr device) const {
  if (!device) throw UsageError("attach needs a disk");
  AttachedDisk disk;
  disk.device = device;
  disk.sector_size = device->sector_size();
  if (auto image = std::dynamic_pointer_cast<ImageFile>(device)) {
    disk.path = image->path();
    if (folder_) disk.image = recorded_name(*folder_, image->path());
  } else if (folder_) {
    throw UsageError(fmt::format("a machine kept in a folder records image files only, not {}", device->name()));
  }
  return disk;
}

std::map<int, AttachedDisk>::iterator Machine::find_same(const AttachedDisk& disk) {
  for (auto it = disks_.begin(); it != disks_.end(); ++it) {
    const AttachedDisk& attached = it->second;
    if (attached.device == disk.device || attached.failed_device == disk.device ||
        (!disk.path.empty() && !attached.path.empty() && same_file(attached.path, disk.path)))
      return it;
  }
  return disks_.end();
}

int Machine::lowest_free_number() const {
  int number = 0;
  while (disks_.count(number)) ++number;
  return number;
}

int Machine::attach(DevicePtr device) {
  auto hold_machine = hold();
  AttachedDisk disk = describe(device);
  if (auto same = find_same(disk); same != disks_.end()) {
    AttachedDisk& attached = same->second;
    if (!attached.missing()) throw UsageError(fmt::format("{} is already attached as disk {}", device->name(), same->first));
    // A missing disk returns (its image found again, a failed disk reconnected). An image is
    // opened as the machine opens its images (read-only until written, in its write log).
    attached.device = attached.path.empty() ? device : open_image(attached.path, attached.sector_size);
    attached.failed = false;
    attached.failed_device = nullptr;
    save();
    return same->first;
  }
  disk.number = lowest_free_number();
  const int number = disk.number;
  disks_[number] = std::move(disk);
  save();
  return number;
}

void Machine::reconnect(int number) {
  auto hold_machine = hold();
  auto it = disks_.find(number);
  if (it == disks_.end()) throw UsageError(fmt::format("there is no disk {}", number));
  AttachedDisk& disk = it->second;
  if (!disk.missing()) return;
  if (disk.failed_device) disk.device = disk.failed_device;
  else if (!disk.path.empty()) disk.device = open_image(disk.path, disk.sector_size);
  else throw UsageError(fmt::format("disk M{} is missing, and the machine knows no image of it to connect", missing_index(number).value_or(0)));
  disk.failed = false;
  disk.failed_device = nullptr;
  save();
}

int Machine::replace_disk(int number, DevicePtr device, const std::function<void(int)>& renumber) {
  auto hold_machine = hold();
  AttachedDisk disk = describe(device);
  auto old = disks_.find(number);
  if (old == disks_.end()) throw UsageError(fmt::format("there is no disk {}", number));
  if (auto same = find_same(disk); same != disks_.end()) {
    if (same->second.missing())
      throw UsageError(fmt::format("{} is the image of the missing disk M{}: attach it to bring that disk back",
                                   device->name(), missing_index(same->first).value_or(0)));
    throw UsageError(fmt::format("{} is already attached as disk {}", device->name(), same->first));
  }
  // The old disk is pulled out: dead from now on (its image, if any, stays where it is), and
  // numbered as a missing disk; the new one is the disk Windows finds in its slot.
  AttachedDisk pulled = std::move(old->second);
  if (!pulled.missing()) {
    pulled.failed = true;
    pulled.failed_device = pulled.path.empty() ? pulled.device : nullptr;
    pulled.device = nullptr;
  }
  disks_.erase(old);
  disk.number = number;
  disks_[number] = std::move(disk);
  const int moved_to = lowest_free_number();
  pulled.number = moved_to;
  disks_[moved_to] = std::move(pulled);
  if (focus_.disk == number) focus_ = Focus{};
  renumber(moved_to);
  save();
  return moved_to;
}

int Machine::add_gone_disk(std::uint32_t sector_size, const std::function<void(int)>& record) {
  auto hold_machine = hold();
  AttachedDisk gone;
  gone.number = lowest_free_number();
  gone.sector_size = sector_size;
  gone.failed = true;
  disks_[gone.number] = gone;
  record(gone.number);
  save();
  return gone.number;
}

std::optional<int> Machine::missing_index(int number) const {
  int index = 0;
  for (const auto& [n, disk] : disks_) {
    if (!disk.missing()) continue;
    if (n == number) return index;
    ++index;
  }
  return std::nullopt;
}

std::optional<int> Machine::missing_disk(int index) const {
  for (const auto& [n, disk] : disks_)
    if (disk.missing() && index-- == 0) return n;
  return std::nullopt;
}

int Machine::create_disk(std::uint64_t size, std::uint32_t sector_size, const std::string& name) {
  auto hold_machine = hold();
  if (!folder_) throw UsageError("create_disk needs a machine kept in a folder (Machine.create)");
  prepare_write();
  const std::string file = name.empty() ? fmt::format("disk{}.img", lowest_free_number()) : name;
  return attach(ImageFile::create((fs::path(*folder_) / file).string(), size, sector_size));
}

std::shared_ptr<WriteIntents> Machine::write_intents() {
  auto hold_machine = hold();
  if (!write_intents_) write_intents_ = std::make_shared<WriteIntents>(folder_, folder_lock_, log_);
  return write_intents_;
}

void Machine::fail_disk(int number) {
  auto hold_machine = hold();
  auto it = disks_.find(number);
  if (it == disks_.end()) throw UsageError(fmt::format("there is no disk {}", number));
  if (it->second.missing()) throw UsageError(fmt::format("disk {} is already missing", number));
  it->second.failed = true;
  it->second.failed_device = it->second.path.empty() ? it->second.device : nullptr;
  it->second.device = nullptr;
  save();
}

void Machine::detach(int number) {
  auto hold_machine = hold();
  if (!disks_.erase(number)) throw UsageError(fmt::format("there is no disk {}", number));
  if (focus_.disk == number) focus_ = Focus{};
  save();
}

std::shared_ptr<Machine> Machine::scratch_copy() const {
  auto hold_machine = hold();
  auto copy = std::make_shared<Machine>();
  copy->rebuild_worker_->set_speed_limit(0);
  for (const auto& [number, disk] : disks_) {
    AttachedDisk& mine = copy->disks_[number];
    mine = disk;
    mine.path.clear();  // nothing may reopen the image itself for writing
    if (disk.device) mine.device = std::make_shared<OverlayDisk>(disk.device);
    if (disk.failed_device) mine.failed_device = std::make_shared<OverlayDisk>(disk.failed_device);
  }
  copy->sections_ = sections_;
  return copy;
}

const AttachedDisk& Machine::disk(int number) const {
  auto it = disks_.find(number);
  if (it == disks_.end()) throw UsageError(fmt::format("there is no disk {}", number));
  return it->second;
}

std::string Machine::oem_codepage() const {
  auto hold_machine = hold();
  auto it = sections_.find("windows");
  if (it == sections_.end() || !it->second.is_object() || it->second["oem_codepage"].is_null()) return "cp437";
  const std::string& recorded = it->second["oem_codepage"].string("windows oem_codepage");
  try {
    return fat::oem_code_page(recorded);
  } catch (const UsageError& e) {
    throw FormatError(fmt::format("machine.json: windows oem_codepage: {}", e.what()));
  }
}

void Machine::set_oem_codepage(const std::string& codepage) {
  auto hold_machine = hold();
  section("windows").object_mut("the windows section")["oem_codepage"] = Json(fat::oem_code_page(codepage));
  save();
}

std::string Machine::json_path() const { return (fs::path(*folder_) / kFile).string(); }

std::string Machine::document() const {
  Json::Array disks;
  for (const auto& [number, disk] : disks_)
  {
    // A gone disk has no image: null, where a name would be.
    Json::Object entry{{"number", number}, {"image", disk.image.empty() ? Json() : Json(disk.image)}, {"sector_size", disk.sector_size}};
    if (disk.failed) entry["failed"] = Json(true);
    disks.push_back(std::move(entry));
  }
  Json::Object sections;
  for (const auto& [name, value] : sections_) sections[name] = value;
  const Json doc(Json::Object{{"bootmirror_machine", kFormatVersion}, {"disks", std::move(disks)}, {"sections", std::move(sections)}});
  return doc.dump() + "\n";
}

void Machine::save() {
  auto hold_machine = hold();
  if (!folder_) return;
  prepare_write();
  const std::string text = document();
  if (text == folder_lock_->remembered()) return;
  replace_file(*folder_, kFile, text, log_.get());
  folder_lock_->remember(text);
}

}  // namespace bootmirror
