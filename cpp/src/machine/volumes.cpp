#include "bootmirror/volumes.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "bootmirror/dynamic.h"
#include "bootmirror/ntfs.h"
#include "bootmirror/partitioning.h"
#include "bootmirror/unicode.h"

namespace bootmirror {

namespace {

constexpr const char* kSection = "drive_letters";

char letter_of(std::string_view drive) {
  if (drive.empty() || !std::isalpha(static_cast<unsigned char>(drive[0])) ||
      (drive.size() > 1 && drive[1] != ':') || (drive.size() > 2 && drive.substr(2) != "\\" && drive.substr(2) != "/"))
    throw UsageError(fmt::format("'{}' is not a drive letter", drive));
  return char(std::toupper(static_cast<unsigned char>(drive[0])));
}

// machine.json: "drive_letters": {"S": {"disk": 1, "offset": 17408}, ...}
struct Assignment {
  int disk;
  std::uint64_t offset;
};

std::map<char, Assignment> read_letters(Machine& machine) {
  std::map<char, Assignment> out;
  const Json& section = machine.section(kSection);
  if (!section.is_object()) return out;
  for (const auto& [key, value] : section.object("drive_letters")) {
    if (key.size() != 1 || key[0] < 'A' || key[0] > 'Z')
      throw FormatError(fmt::format("machine.json: drive_letters holds {}, which is not a drive letter", escape_bytes(key)));
    out[key[0]] = Assignment{int(value["disk"].integer("a drive letter's disk", 0, INT32_MAX)),
                             std::uint64_t(value["offset"].integer("a drive letter's offset", 0, INT64_MAX))};
  }
  return out;
}

constexpr const char* kCdromSection = "cdrom_drives";

void write_letters(Machine& machine, const std::map<char, Assignment>& letters) {
  Json::Object object;
  for (const auto& [letter, a] : letters)
    object[std::string(1, letter)] = Json(Json::Object{{"disk", Json(a.disk)}, {"offset", Json(a.offset)}});
  machine.section(kSection) = Json(std::move(object));
  machine.save();
}

// Mounted FAT volumes by device (the disk) and offset, held weakly: alive while a caller uses one.
struct MountKey {
  const BlockDevice* disk;
  std::uint64_t offset;
  auto operator<=>(const MountKey&) const = default;
};
std::mutex mounts_mutex;
std::map<MountKey, std::weak_ptr<fat::Volume>>& mounts() {
  static std::map<MountKey, std::weak_ptr<fat::Volume>> table;
  return table;
}

// The bytes behind a drive letter, and the key its mounted file system is kept under: a basic
// volume by its disk and offset, a dynamic volume by its device (one per volume while in use).
struct Drive {
  DevicePtr device;
  MountKey key;
};

std::optional<Drive> resolve_drive(Machine& machine, std::string_view drive);
std::shared_ptr<fat::Volume> mount(Machine& machine, const Drive& drive);

}  // namespace

// Letters held by dynamic volumes: their drive hints in the disk group.
std::set<char> dynamic_volume_letters(Machine& machine) {
  auto hold = machine.hold();
  std::set<char> out;
  try {
    if (auto group = dynamic::group_of(machine))
      for (const auto& v : group->group.volumes)
        if (auto letter = ldm::drive_letter(v.record)) out.insert(*letter);
  } catch (const Error&) {
    // An unreadable group holds no letters we can honour; list disk reports it.
  }
  return out;
}

std::vector<BasicVolume> basic_volumes(Machine& machine) {
  auto hold = machine.hold();
  std::map<char, Assignment> letters = read_letters(machine);
  std::vector<BasicVolume> out;
  // Dynamic volumes come first in list volume, then the CD-ROM drives; basic volumes are numbered
  // after them.
  int number = int(cdrom_drives(machine).size());
  try {
    if (auto group = dynamic::group_of(machine)) number += int(group->group.volumes.size());
  } catch (const Error&) {
  }
  for (const auto& [disk_number, disk] : machine.disks()) {
    if (disk.missing()) continue;
    std::vector<gpt::Partition> parts;
    try {
      parts = partitioning::partitions(*disk.device);
    } catch (const Error&) {
      continue;  // an unreadable table shows no volumes, as Windows mounts none
    }
    const std::uint64_t ss = disk.device->sector_size();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const gpt::Partition& p = parts[i];
      BasicVolume v;
      v.disk = disk_number;
      v.partition = i + 1;
      v.offset = p.first_lba * ss;
      v.size = p.sector_span() * ss;
      v.kind = p.kind();
      for (const auto& [letter, a] : letters)
        if (a.disk == disk_number && a.offset == v.offset) v.letter = letter;
      // Basic data partitions and EFI system partitions are volumes (the runbook's list volume
      // shows the ESP, "System", without a letter); MSR and LDM partitions are not.
      if (v.kind != gpt::Kind::basic_data && v.kind != gpt::Kind::efi_system) continue;
      out.push_back(v);
    }
  }
  // Numbered as Windows' mount manager numbers them: data volumes first, EFI system partitions
  // after them (the runbook's recovery list volume: its Windows partition is Volume 2, the ESP
  // before it on the same disk Volume 3), each group in disk and offset order.
  std::stable_partition(out.begin(), out.end(), [](const BasicVolume& v) { return v.kind != gpt::Kind::efi_system; });
  for (BasicVolume& v : out) v.number = number++;
  return out;
}

std::optional<BasicVolume> volume_by_letter(Machine& machine, std::string_view drive) {
  auto hold = machine.hold();
  char letter = letter_of(drive);
  for (const BasicVolume& v : basic_volumes(machine))
    if (v.letter == letter) return v;
  return std::nullopt;
}

std::optional<BasicVolume> volume_of_partition(Machine& machine, int disk, std::size_t partition) {
  auto hold = machine.hold();
  for (const BasicVolume& v : basic_volumes(machine))
    if (v.disk == disk && v.partition == partition) return v;
  return std::nullopt;
}

std::optional<BasicVolume> esp_of_disk(Machine& machine, int disk) {
  auto hold = machine.hold();
  std::optional<BasicVolume> first;
  for (const BasicVolume& v : basic_volumes(machine))
    if (v.disk == disk && v.kind == gpt::Kind::efi_system && (!first || v.offset < first->offset)) first = v;
  return first;
}

DevicePtr volume_device(Machine& machine, const BasicVolume& volume) {
  auto hold = machine.hold();
  const AttachedDisk& disk = machine.disk(volume.disk);
  if (disk.missing()) throw UsageError(fmt::format("disk {} is missing", volume.disk));
  return std::make_shared<Slice>(disk.device, volume.offset, volume.size);
}

void assign_letter(Machine& machine, int disk, std::size_t partition, char letter) {
  auto hold = machine.hold();
  letter = char(std::toupper(static_cast<unsigned char>(letter)));
  if (letter < 'A' || letter > 'Z') throw UsageError(fmt::format("'{}' is not a drive letter", letter));
  const AttachedDisk& d = machine.disk(disk);
  if (d.missing()) throw UsageError(fmt::format("disk {} is missing", disk));
  auto parts = partitioning::partitions(*d.device);
  if (partition < 1 || partition > parts.size()) throw UsageError("no such partition");
  const gpt::Partition& p = parts[partition - 1];
  if (p.kind() != gpt::Kind::basic_data && p.kind() != gpt::Kind::efi_system)
    throw UsageError("this partition cannot hold a drive letter");
  auto letters = read_letters(machine);
  std::uint64_t offset = p.first_lba * d.device->sector_size();
  const std::vector<char> cdroms = cdrom_drives(machine);
  if ((letters.count(letter) && !(letters[letter].disk == disk && letters[letter].offset == offset)) ||
      dynamic_volume_letters(machine).count(letter) || std::find(cdroms.begin(), cdroms.end(), letter) != cdroms.end())
    throw UsageError(fmt::format("drive letter {} is in use", letter));
  // One letter per volume: a new one replaces the old.
  std::erase_if(letters, [&](const auto& kv) { return kv.second.disk == disk && kv.second.offset == offset; });
  letters[letter] = Assignment{disk, offset};
  write_letters(machine, letters);
}

char next_free_letter(Machine& machine) {
  auto hold = machine.hold();
  auto letters = read_letters(machine);
  auto dynamic = dynamic_volume_letters(machine);
  const std::vector<char> cdroms = cdrom_drives(machine);
  for (char c = 'C'; c <= 'Z'; ++c)
    if (!letters.count(c) && !dynamic.count(c) && std::find(cdroms.begin(), cdroms.end(), c) == cdroms.end()) return c;
  throw UsageError("no drive letter is free");
}

std::vector<char> cdrom_drives(Machine& machine) {
  auto hold = machine.hold();
  std::vector<char> out;
  const Json& section = machine.section(kCdromSection);
  if (!section.is_array()) return out;
  for (const Json& letter : section.array("cdrom drives")) {
    const std::string& text = letter.string("cdrom drive letter");
    if (text.size() != 1 || text[0] < 'A' || text[0] > 'Z') throw FormatError(fmt::format("machine.json: '{}' is no CD-ROM drive letter", text));
    out.push_back(text[0]);
  }
  return out;
}

void add_cdrom_drive(Machine& machine, char letter) {
  auto hold = machine.hold();
  letter = char(std::toupper(static_cast<unsigned char>(letter)));
  if (letter < 'A' || letter > 'Z') throw UsageError(fmt::format("'{}' is not a drive letter", letter));
  const std::vector<char> cdroms = cdrom_drives(machine);
  if (read_letters(machine).count(letter) || dynamic_volume_letters(machine).count(letter) ||
      std::find(cdroms.begin(), cdroms.end(), letter) != cdroms.end())
    throw UsageError(fmt::format("drive letter {} is in use", letter));
  Json::Array list = machine.section(kCdromSection).is_array() ? machine.section(kCdromSection).array() : Json::Array{};
  list.push_back(Json(std::string(1, letter)));
  machine.section(kCdromSection) = Json(std::move(list));
  machine.save();
}

void remove_letter(Machine& machine, int disk, std::size_t partition) {
  auto hold = machine.hold();
  auto volume = volume_of_partition(machine, disk, partition);
  if (!volume || !volume->letter) throw UsageError("the volume has no drive letter");
  auto letters = read_letters(machine);
  letters.erase(*volume->letter);
  write_letters(machine, letters);
}

std::map<std::uint64_t, char> letters_on_disk(Machine& machine, int disk) {
  auto hold = machine.hold();
  std::map<std::uint64_t, char> out;
  for (const auto& [letter, a] : read_letters(machine))
    if (a.disk == disk) out[a.offset] = letter;
  return out;
}

void release_letter(Machine& machine, char letter) {
  auto hold = machine.hold();
  auto letters = read_letters(machine);
  if (letters.erase(char(std::toupper(static_cast<unsigned char>(letter))))) write_letters(machine, letters);
}

std::optional<VolumeFileSystem> file_system_on(Machine& machine, const DevicePtr& device) {
  return file_system_on(device, machine.oem_codepage());
}

std::optional<VolumeFileSystem> file_system_on(const DevicePtr& device, const std::string& codepage) {
  if (!device || device->size() < 512) return std::nullopt;
  ByteVector boot;
  try {
    boot = device->read(0, 512);
  } catch (const OsError&) {
    return std::nullopt;  // a volume whose plexes cannot be read holds no file system we can name
  }
  if (matches_ascii(boot, 3, "NTFS    ")) {
    // Its label from $Volume; an NTFS volume too damaged to open still shows as NTFS.
    try {
      return VolumeFileSystem{"NTFS", ntfs::Volume::open(device)->label()};
    } catch (const Error&) {
      return VolumeFileSystem{"NTFS", ""};
    }
  }
  try {
    auto volume = fat::Volume::open(device, codepage);
    return VolumeFileSystem{volume->geometry().type == fat::FatType::fat32 ? "FAT32" : "FAT", volume->label()};
  } catch (const Error&) {
    return std::nullopt;
  }
}

namespace {

std::optional<Drive> resolve_drive(Machine& machine, std::string_view drive) {
  if (auto volume = volume_by_letter(machine, drive)) {
    const AttachedDisk& disk = machine.disk(volume->disk);
    return Drive{volume_device(machine, *volume), MountKey{disk.device.get(), volume->offset}};
  }
  const char letter = letter_of(drive);
  auto group = dynamic::group_of(machine);
  for (std::size_t vi = 0; group && vi < group->group.volumes.size(); ++vi) {
    if (ldm::drive_letter(group->group.volumes[vi].record) != letter) continue;
    auto device = dynamic::open_volume(machine, *group, vi);
    if (!device || !device->readable()) throw UsageError(fmt::format("Volume {}: has no plex that can be read.", letter));
    return Drive{device, MountKey{device.get(), 0}};
  }
  return std::nullopt;
}

}  // namespace

DevicePtr drive_device(Machine& machine, std::string_view drive) {
  auto hold = machine.hold();
  auto found = resolve_drive(machine, drive);
  return found ? found->device : nullptr;
}

DevicePtr listed_volume_device(Machine& machine, std::size_t number) {
  auto hold = machine.hold();
  if (auto group = dynamic::group_of(machine); group && number < group->group.volumes.size())
    return dynamic::open_volume(machine, *group, number);
  for (const BasicVolume& v : basic_volumes(machine))
    if (std::size_t(v.number) == number) return volume_device(machine, v);
  return nullptr;
}

namespace {

// The FAT on `drive`'s bytes, shared with whoever has it mounted already.
std::shared_ptr<fat::Volume> mount(Machine& machine, const Drive& drive) {
  std::lock_guard lock(mounts_mutex);
  if (auto it = mounts().find(drive.key); it != mounts().end())
    if (auto alive = it->second.lock()) return alive;
  auto mounted = fat::Volume::open(drive.device, machine.oem_codepage());
  mounts()[drive.key] = mounted;
  return mounted;
}

}  // namespace

std::shared_ptr<fat::Volume> mount_fat(Machine& machine, std::string_view drive) {
  auto hold = machine.hold();
  auto found = resolve_drive(machine, drive);
  if (!found) throw UsageError(fmt::format("There is no volume {}:", letter_of(drive)));
  return mount(machine, *found);
}

std::shared_ptr<fat::Volume> mount_esp(Machine& machine, int disk) {
  auto hold = machine.hold();
  const std::optional<BasicVolume> esp = esp_of_disk(machine, disk);
  if (!esp) throw UsageError(fmt::format("disk {} has no EFI system partition", disk));
  // The same key as its drive letter's, when it has one: both callers share one cached FAT.
  return mount(machine, Drive{volume_device(machine, *esp), MountKey{machine.disk(disk).device.get(), esp->offset}});
}

void unmount_fat(Machine& machine, std::string_view drive) {
  auto hold = machine.hold();
  auto found = resolve_drive(machine, drive);
  if (!found) return;
  std::lock_guard lock(mounts_mutex);
  auto it = mounts().find(found->key);
  if (it == mounts().end()) return;
  if (auto alive = it->second.lock()) alive->detach();
  mounts().erase(it);
}

}  // namespace bootmirror
