// Where boot entries lead on the machine's disks, Windows' names for those places, and what the
// running boot came from (bootmirror/firmware.h).
#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "bootmirror/dynamic.h"
#include "bootmirror/firmware.h"
#include "bootmirror/partitioning.h"
#include "machine/running_record.h"

namespace bootmirror::firmware {

namespace {

bool is_ldm(gpt::Kind kind) { return kind == gpt::Kind::ldm_data || kind == gpt::Kind::ldm_metadata; }

// The dynamic volume of the machine's own group with a plex on this LDM data partition.
std::optional<std::size_t> dynamic_volume_on(Machine& machine, const PartitionPlace& place) {
  std::optional<dynamic::MachineGroup> mg;
  try {
    mg = dynamic::group_of(machine);
  } catch (const Error&) {
    return std::nullopt;  // a group that does not read mounts no volume
  }
  if (!mg) return std::nullopt;
  const auto disk_index = mg->disk_index_of(place.disk, machine);
  if (!disk_index) return std::nullopt;  // a foreign disk: its volumes are not this Windows'
  const ldm::GroupDisk& disk = mg->group.disks[*disk_index];
  const std::uint64_t first = place.partition.first_lba, last = place.partition.last_lba;
  for (std::size_t vi = 0; vi < mg->group.volumes.size(); ++vi)
    for (std::size_t pi : mg->group.volumes[vi].partitions) {
      const ldm::PartitionRecord& p = mg->group.partitions[pi];
      const std::uint64_t start = disk.data_start + p.start;
      if (p.disk_id == disk.record.id && start >= first && start <= last) return vi;
    }
  return std::nullopt;
}

}  // namespace

std::vector<PartitionPlace> partitions(Machine& machine) {
  auto hold = machine.hold();
  std::vector<PartitionPlace> out;
  for (const auto& [number, disk] : machine.disks()) {
    if (disk.missing() || partitioning::style_of(*disk.device) != partitioning::Style::gpt) continue;
    gpt::Table table;
    try {
      table = gpt::read(*disk.device);
    } catch (const FormatError&) {
      continue;  // an unreadable table shows firmware no partitions
    }
    std::vector<PartitionPlace> on_disk;
    for (std::size_t slot = 0; slot < table.entries.size(); ++slot)
      if (table.entries[slot].used())
        on_disk.push_back(PartitionPlace{number, std::uint32_t(slot + 1), 0, table.entries[slot], table.sector_size});
    std::sort(on_disk.begin(), on_disk.end(),
              [](const PartitionPlace& a, const PartitionPlace& b) { return a.partition.first_lba < b.partition.first_lba; });
    for (std::size_t i = 0; i < on_disk.size(); ++i) on_disk[i].number = i + 1;
    out.insert(out.end(), on_disk.begin(), on_disk.end());
  }
  return out;
}

std::optional<PartitionPlace> find_partition(Machine& machine, const nvram::HardDrive& node) {
  const auto guid = node.partition_guid();
  if (!guid) return std::nullopt;  // an MBR partition: none on the machine's GPT disks
  for (const PartitionPlace& p : partitions(machine))
    if (p.entry == node.partition_number && p.partition.unique == *guid) return p;
  return std::nullopt;
}

std::optional<PartitionPlace> partition_by_guid(Machine& machine, const Guid& unique) {
  for (const PartitionPlace& p : partitions(machine))
    if (p.partition.unique == unique) return p;
  return std::nullopt;
}

nvram::HardDrive hard_drive_of(const PartitionPlace& place) {
  return nvram::HardDrive::gpt(place.entry, place.partition.first_lba, place.partition.sector_span(), place.partition.unique);
}

std::optional<OsVolume> volume_on(Machine& machine, const PartitionPlace& place) {
  const gpt::Kind kind = place.partition.kind();
  if (kind == gpt::Kind::ldm_data) {
    const auto volume = dynamic_volume_on(machine, place);
    if (!volume) return std::nullopt;
    return OsVolume{place, volume};
  }
  if (kind != gpt::Kind::basic_data) return std::nullopt;
  return OsVolume{place, std::nullopt};
}

std::optional<std::size_t> dynamic_volume_by_guid(Machine& machine, const Guid& volume) {
  try {
    if (const auto mg = dynamic::group_of(machine))
      for (std::size_t i = 0; i < mg->group.volumes.size(); ++i)
        if (mg->group.volumes[i].record.guid == volume) return i;
  } catch (const Error&) {
  }
  return std::nullopt;
}

std::optional<Guid> dynamic_volume_guid(Machine& machine, std::size_t index) {
  try {
    if (const auto mg = dynamic::group_of(machine); mg && index < mg->group.volumes.size()) return mg->group.volumes[index].record.guid;
  } catch (const Error&) {
  }
  return std::nullopt;
}

std::optional<OsVolume> os_volume(Machine& machine, const nvram::DevicePath& os_load_path) {
  const auto node = os_load_path.hard_drive();
  if (!node) return std::nullopt;
  const auto place = find_partition(machine, *node);
  if (!place) return std::nullopt;
  return volume_on(machine, *place);
}

EntryTargets targets_of(Machine& machine, const nvram::BootEntry& entry) {
  EntryTargets out;
  if (!entry.option.file_paths.empty()) {
    const nvram::DevicePath& path = entry.option.file_paths.front();
    if (const auto node = path.hard_drive()) out.loader_partition = find_partition(machine, *node);
    out.loader_path = path.file_path().value_or(u"");
  }
  if (const auto windows = entry.windows_options()) {
    out.windows = true;
    out.os_load_options = windows->os_load_options;
    const nvram::DevicePath os_path = windows->os_load_path();
    out.os_volume = os_volume(machine, os_path);
    out.os_path = os_path.file_path().value_or(u"");
  }
  return out;
}

std::optional<int> harddisk_volume_number(Machine& machine, const PartitionPlace& place) {
  if (is_ldm(place.partition.kind())) return std::nullopt;
  int number = 0;
  for (const PartitionPlace& p : partitions(machine)) {
    if (is_ldm(p.partition.kind())) continue;
    ++number;
    if (p.disk == place.disk && p.partition.unique == place.partition.unique) return number;
  }
  return std::nullopt;
}

int block_volume_number(Machine& machine, std::size_t dynamic_volume) {
  const auto mg = dynamic::group_of(machine);
  if (!mg || dynamic_volume >= mg->group.volumes.size())
    throw UsageError(fmt::format("there is no dynamic volume {}", dynamic_volume));
  const std::string& name = mg->group.volumes[dynamic_volume].record.name;
  constexpr std::string_view kPrefix = "Volume";
  int number = 0;
  if (name.size() > kPrefix.size() && name.compare(0, kPrefix.size(), kPrefix) == 0) {
    const char* digits = name.data() + kPrefix.size();
    const auto [end, error] = std::from_chars(digits, name.data() + name.size(), number);
    if (error == std::errc() && end == name.data() + name.size() && number > 0) return number;
  }
  return int(dynamic_volume) + 1;
}

std::optional<std::string> nt_device(Machine& machine, const OsVolume& volume) {
  if (volume.dynamic_volume)
    return fmt::format("\\Device\\HarddiskDmVolumes\\PhysicalDmVolumes\\BlockVolume{}", block_volume_number(machine, *volume.dynamic_volume));
  if (!volume.partition) return std::nullopt;
  if (const auto n = harddisk_volume_number(machine, *volume.partition)) return fmt::format("\\Device\\HarddiskVolume{}", *n);
  return std::nullopt;
}

RunningRecord running_record_of(Machine& machine, std::uint16_t entry, const EntryTargets& targets) {
  RunningRecord record{entry, std::nullopt, std::nullopt, std::nullopt};
  if (targets.loader_partition) record.system_partition = targets.loader_partition->partition.unique;
  if (!targets.os_volume) return record;
  if (targets.os_volume->partition) record.boot_partition = targets.os_volume->partition->partition.unique;
  if (targets.os_volume->dynamic_volume) record.boot_volume = dynamic_volume_guid(machine, *targets.os_volume->dynamic_volume);
  return record;
}

RunningSystem running_system(Machine& machine) {
  auto hold = machine.hold();
  RunningSystem out;
  const auto record = running_record(machine);
  if (!record) return out;
  out.entry = record->entry;
  if (record->system_partition) out.system_partition = partition_by_guid(machine, *record->system_partition);
  // Windows runs from the volume it started on: a dynamic one for as long as its group has it
  // (a plex's disk may die under it), a basic one while its partition is there. A basic volume
  // converted to dynamic since is found through its partition, now an LDM data partition.
  const auto boot_partition = record->boot_partition ? partition_by_guid(machine, *record->boot_partition) : std::nullopt;
  if (record->boot_volume) {
    if (const auto index = dynamic_volume_by_guid(machine, *record->boot_volume)) out.boot_volume = OsVolume{boot_partition, index};
  } else if (boot_partition) {
    out.boot_volume = volume_on(machine, *boot_partition);
  }
  return out;
}

nvram::LoadOption windows_entry(const std::u16string& description, const PartitionPlace& esp, const std::u16string& loader_path,
                                const PartitionPlace& os_partition, const std::u16string& os_path,
                                const std::u16string& os_load_options) {
  nvram::LoadOption option;
  option.description = description;
  option.file_paths.push_back(nvram::DevicePath({hard_drive_of(esp).node(), nvram::file_path_node(loader_path)}));
  const nvram::DevicePath os({hard_drive_of(os_partition).node(), nvram::file_path_node(os_path)});
  option.optional_data = nvram::WindowsOsOptions::efi(os_load_options, os).encode();
  return option;
}

std::uint16_t add_boot_entry(Machine& machine, const nvram::LoadOption& option, bool first) {
  auto hold = machine.hold();
  auto nv = writable_store(machine);
  const std::uint16_t number = nv->free_boot_number();
  nv->set_boot_entry(number, option);
  std::vector<std::uint16_t> order = nv->boot_order();
  if (first) order.insert(order.begin(), number);
  else order.push_back(number);
  nv->set_boot_order(order);
  return number;
}

}  // namespace bootmirror::firmware
