#include "bootmirror/machine.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace bootmirror {

namespace {
namespace fs = std::filesystem;

constexpr const char* kFile = "machine.json";
constexpr std::int64_t kFormatVersion = 1;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw OsError(errno ? errno : ENOENT, path, "cannot open the machine file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
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

std::shared_ptr<Machine> Machine::create(const std::string& folder) {
  fs::create_directories(folder);
  if (fs::exists(fs::path(folder) / kFile))
    throw UsageError(fmt::format("{} already holds a machine; open it with Machine.open", folder));
  auto machine = std::make_shared<Machine>();
  machine->folder_ = folder;
  machine->save();
  return machine;
}

std::shared_ptr<Machine> Machine::open(const std::string& folder) {
  const std::string path = (fs::path(folder) / kFile).string();
  if (!fs::exists(path)) throw OsError(ENOENT, path, "no machine in this folder (create one with Machine.create)");
  const Json doc = Json::parse(read_text(path));
  if (doc["bootmirror_machine"].integer("bootmirror_machine") != kFormatVersion)
    throw FormatError(fmt::format("{}: unsupported machine format version", path));
  auto machine = std::make_shared<Machine>();
  machine->folder_ = folder;
  for (const Json& entry : doc["disks"].array("disks")) {
    AttachedDisk disk;
    disk.number = int(entry["number"].integer("disk number"));
    disk.image = entry["image"].string("disk image");
    disk.sector_size = std::uint32_t(entry["sector_size"].integer("sector size"));
    check_sector_size(disk.sector_size);
    const fs::path image(disk.image);
    disk.path = (image.is_absolute() ? image : fs::path(folder) / image).string();
    if (fs::exists(disk.path)) disk.device = ImageFile::open(disk.path, true, disk.sector_size);
    if (machine->disks_.count(disk.number))
      throw FormatError(fmt::format("{}: disk {} is recorded twice", path, disk.number));
    machine->disks_[disk.number] = std::move(disk);
  }
  if (doc["sections"].is_object())
    for (const auto& [name, value] : doc["sections"].object()) machine->sections_[name] = value;
  return machine;
}

int Machine::attach(DevicePtr device) {
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
  for (const auto& [number, attached] : disks_)
    if (attached.device == device || (!disk.path.empty() && !attached.path.empty() &&
                                      fs::weakly_canonical(attached.path) == fs::weakly_canonical(disk.path)))
      throw UsageError(fmt::format("{} is already attached as disk {}", device->name(), number));
  int number = 0;
  while (disks_.count(number)) ++number;
  disk.number = number;
  disks_[number] = std::move(disk);
  save();
  return number;
}

int Machine::create_disk(std::uint64_t size, std::uint32_t sector_size, const std::string& name) {
  if (!folder_) throw UsageError("create_disk needs a machine kept in a folder (Machine.create)");
  int number = 0;
  while (disks_.count(number)) ++number;
  const std::string file = name.empty() ? fmt::format("disk{}.img", number) : name;
  return attach(ImageFile::create((fs::path(*folder_) / file).string(), size, sector_size));
}

void Machine::detach(int number) {
  if (!disks_.erase(number)) throw UsageError(fmt::format("there is no disk {}", number));
  if (focus_.disk == number) focus_ = Focus{};
  save();
}

const AttachedDisk& Machine::disk(int number) const {
  auto it = disks_.find(number);
  if (it == disks_.end()) throw UsageError(fmt::format("there is no disk {}", number));
  return it->second;
}

std::string Machine::json_path() const { return (fs::path(*folder_) / kFile).string(); }

void Machine::save() const {
  if (!folder_) return;
  Json::Array disks;
  for (const auto& [number, disk] : disks_)
    disks.push_back(Json::Object{{"number", number}, {"image", disk.image}, {"sector_size", disk.sector_size}});
  Json::Object sections;
  for (const auto& [name, value] : sections_) sections[name] = value;
  const Json doc(Json::Object{{"bootmirror_machine", kFormatVersion}, {"disks", std::move(disks)}, {"sections", std::move(sections)}});
  const std::string target = json_path();
  const std::string temporary = target + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw OsError(errno ? errno : EIO, temporary, "cannot write the machine file");
    out << doc.dump() << '\n';
    out.flush();
    if (!out) throw OsError(EIO, temporary, "cannot write the machine file");
  }
  // The rename replaces machine.json whole: a crash leaves the old file or the new one.
  std::error_code error;
  fs::rename(temporary, target, error);
  if (error) throw OsError(error.value(), target, "cannot replace the machine file");
}

}  // namespace bootmirror
