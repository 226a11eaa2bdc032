// The boot menu as Windows sees and changes it: bootcfg's view of BootOrder and its edits, and the
// entry diskpart adds for a boot volume's new plex (bootmirror/firmware.h).
#include <fmt/format.h>

#include "bootmirror/dynamic.h"
#include "bootmirror/firmware.h"
#include "bootmirror/unicode.h"
#include "machine/running_record.h"

namespace bootmirror::firmware {

namespace {

std::string backslashed(const std::u16string& path) {
  std::string out = utf16_to_utf8(path);
  if (!out.empty() && out.front() != '\\') out.insert(out.begin(), '\\');
  return out;
}

std::optional<std::string> loader_nt_path(Machine& machine, const EntryTargets& t) {
  if (!t.loader_partition) return std::nullopt;
  const auto volume = harddisk_volume_number(machine, *t.loader_partition);
  if (!volume) return std::nullopt;
  return fmt::format("\\Device\\HarddiskVolume{}{}", *volume, backslashed(t.loader_path));
}

std::optional<std::string> os_nt_path(Machine& machine, const EntryTargets& t) {
  if (!t.os_volume) return std::nullopt;
  const auto device = nt_device(machine, *t.os_volume);
  if (!device) return std::nullopt;
  return *device + backslashed(t.os_path);
}

// The running entry's targets: where /mirror /add and add disk=N take the loader from.
EntryTargets running_targets(Machine& machine, const nvram::Store& nv) {
  const auto current = boot_current(machine);
  const auto entry = current ? nv.boot_entry(*current) : std::nullopt;
  if (!entry) throw UsageError("No boot entry is running: boot the machine first.");
  EntryTargets t = targets_of(machine, *entry);
  if (!t.loader_partition) throw UsageError("The running boot entry's EFI system partition is not present.");
  return t;
}

// The Boot#### number bootcfg's ID names (its place in BootOrder), the entry not decoded: one
// that does not decode can still be deleted.
std::uint16_t number_by_id(const nvram::Store& nv, int id) {
  const std::vector<std::uint16_t> order = nv.boot_order();
  if (id < 1 || std::size_t(id) > order.size()) throw UsageError(fmt::format("There is no boot entry ID {}.", id));
  const std::uint16_t number = order[std::size_t(id - 1)];
  if (!nv.get(nvram::boot_variable_name(number), nvram::global_variable_guid()))
    throw UsageError(fmt::format("Boot entry ID {} names Boot{:04X}, which does not exist.", id, number));
  return number;
}

nvram::BootEntry entry_by_id(Machine& machine, const nvram::Store& nv, int id) {
  (void)machine;
  return *nv.boot_entry(number_by_id(nv, id));
}

}  // namespace

BootOptions boot_options(Machine& machine) {
  auto hold = machine.hold();
  auto nv = store(machine);
  if (!nv) throw UsageError("This machine has no NVRAM.");
  BootOptions out;
  out.timeout = nv->timeout();
  const auto current = boot_current(machine);
  int id = 0;
  for (std::uint16_t number : nv->boot_order()) {
    ++id;
    if (current == number) out.current_id = id;
    std::optional<nvram::BootEntry> entry;
    try {
      entry = nv->boot_entry(number);
    } catch (const FormatError&) {
      continue;  // not a valid load option: firmware skips it too (stale_entries names it)
    }
    if (!entry) continue;  // a number BootOrder keeps without its entry: firmware skips it
    EntryView view;
    view.id = id;
    view.number = number;
    view.description = entry->option.description_utf8();
    try {
      const EntryTargets t = targets_of(machine, *entry);
      view.windows = t.windows;
      view.os_load_options = utf16_to_utf8(t.os_load_options);
      view.boot_file_path = loader_nt_path(machine, t);
      view.os_file_path = os_nt_path(machine, t);
    } catch (const FormatError&) {
      view.windows = true;  // options that do not decode: shown with both paths (null)
    }
    out.entries.push_back(std::move(view));
  }
  for (const EntryView& e : out.entries)
    if (e.windows) {
      out.default_os_path = e.os_file_path;
      break;
    }
  return out;
}

std::uint16_t entry_number(Machine& machine, int id) {
  auto hold = machine.hold();
  auto nv = store(machine);
  if (!nv) throw UsageError("This machine has no NVRAM.");
  return entry_by_id(machine, *nv, id).number;
}

std::vector<int> clone_entries(Machine& machine, const Guid& source, const Guid& target, const std::u16string& text,
                               bool replace_description) {
  auto hold = machine.hold();
  auto nv = writable_store(machine);
  const auto into = partition_by_guid(machine, target);
  if (!into) throw UsageError(fmt::format("The partition {{{}}} was not found on any disk.", target.to_string()));
  std::vector<nvram::LoadOption> clones;
  std::vector<int> ids;
  int id = 0;
  for (std::uint16_t number : nv->boot_order()) {
    ++id;
    const auto entry = nv->boot_entry(number);
    if (!entry || !entry->windows_options() || entry->option.file_paths.empty()) continue;
    const auto node = entry->option.file_paths.front().hard_drive();
    if (!node || node->partition_guid() != source) continue;
    nvram::LoadOption clone = entry->option;
    for (nvram::DevicePathNode& n : clone.file_paths.front().nodes)
      if (nvram::as_hard_drive(n)) n = hard_drive_of(*into).node();
    clone.description = replace_description ? text : clone.description + u" " + text;
    clones.push_back(std::move(clone));
    ids.push_back(id);
  }
  // Every clone written first, then BootOrder once: a crash leaves all of them listed or none
  // (an entry BootOrder does not name is one firmware and bootcfg never show). And all of them
  // must fit before the first is written (free space and what a reclaim gives back): a store
  // that held one of two once kept that one, unlisted, after the error.
  std::vector<std::uint16_t> order = nv->boot_order();
  std::uint64_t needed = nv->record_bytes(u"BootOrder", (order.size() + clones.size()) * 2);
  for (const nvram::LoadOption& clone : clones) needed += nv->record_bytes(u"Boot0000", clone.encode().size());
  if (!clones.empty() && needed > nv->free_bytes() + nv->reclaimable_bytes())
    throw UsageError(fmt::format("The NVRAM has no room for {} more boot entries.", clones.size()));
  for (const nvram::LoadOption& clone : clones) {
    const std::uint16_t number = nv->free_boot_number();
    nv->set_boot_entry(number, clone);
    order.push_back(number);
  }
  if (!clones.empty()) nv->set_boot_order(order);
  return ids;
}

std::uint16_t add_mirror_entry(Machine& machine, const Guid& os_partition, const std::u16string& description) {
  auto hold = machine.hold();
  auto nv = writable_store(machine);
  const EntryTargets running = running_targets(machine, *nv);
  const auto os = partition_by_guid(machine, os_partition);
  if (!os) throw UsageError(fmt::format("The partition {{{}}} was not found on any disk.", os_partition.to_string()));
  return add_boot_entry(machine, windows_entry(description, *running.loader_partition, running.loader_path, *os, u"\\WINDOWS"));
}

void delete_entry(Machine& machine, int id) {
  auto hold = machine.hold();
  auto nv = writable_store(machine);
  const std::uint16_t number = number_by_id(*nv, id);
  // BootOrder first: a crash between the two leaves an entry nothing lists, never a listed one
  // that is gone.
  std::vector<std::uint16_t> order = nv->boot_order();
  order.erase(order.begin() + (id - 1));
  nv->set_boot_order(order);
  nv->remove_boot_entry(number);
}

void make_default(Machine& machine, int id) {
  auto hold = machine.hold();
  auto nv = writable_store(machine);
  const nvram::BootEntry entry = entry_by_id(machine, *nv, id);
  std::vector<std::uint16_t> order = nv->boot_order();
  order.erase(order.begin() + (id - 1));
  order.insert(order.begin(), entry.number);
  nv->set_boot_order(order);
}

void set_timeout(Machine& machine, std::uint16_t seconds) {
  auto hold = machine.hold();
  writable_store(machine)->set_timeout(seconds);
}

void set_os_load_options(Machine& machine, int id, const std::u16string& options, bool append) {
  auto hold = machine.hold();
  auto nv = writable_store(machine);
  nvram::BootEntry entry = entry_by_id(machine, *nv, id);
  auto windows = entry.windows_options();
  if (!windows) throw UsageError(fmt::format("Boot entry ID {} is not a Windows entry: it has no OS load options.", id));
  windows->os_load_options = append && !windows->os_load_options.empty() ? windows->os_load_options + u" " + options : options;
  entry.option.optional_data = windows->encode();
  nv->set_boot_entry(entry.number, entry.option, entry.attributes);
}

namespace {

// The LDM data partition holding volume `dynamic_volume`'s plex on disk `plex_disk`, when that
// disk is present.
std::optional<PartitionPlace> plex_partition(Machine& machine, const dynamic::MachineGroup& mg, std::size_t dynamic_volume,
                                             int plex_disk) {
  const auto disk_index = mg.disk_index_of(plex_disk, machine);
  if (!disk_index || dynamic_volume >= mg.group.volumes.size()) return std::nullopt;
  const ldm::GroupDisk& disk = mg.group.disks[*disk_index];
  for (std::size_t pi : mg.group.volumes[dynamic_volume].partitions) {
    const ldm::PartitionRecord& p = mg.group.partitions[pi];
    if (p.disk_id != disk.record.id) continue;
    const std::uint64_t start = disk.data_start + p.start;
    for (const PartitionPlace& place : partitions(machine))
      if (place.disk == plex_disk && place.partition.kind() == gpt::Kind::ldm_data && place.partition.first_lba <= start &&
          start <= place.partition.last_lba)
        return place;
  }
  return std::nullopt;
}

bool is_running_boot_volume(const RunningSystem& running, std::size_t dynamic_volume) {
  return running.boot_volume && running.boot_volume->dynamic_volume == dynamic_volume;
}

}  // namespace

PlexEntries plex_entries(Machine& machine, std::size_t dynamic_volume, int plex_disk) {
  auto hold = machine.hold();
  PlexEntries out;
  out.boot_volume = is_running_boot_volume(running_system(machine), dynamic_volume);
  if (!out.boot_volume) return out;
  const auto mg = dynamic::group_of(machine);
  const auto plex = mg ? plex_partition(machine, *mg, dynamic_volume, plex_disk) : std::nullopt;
  out.reachable = plex.has_value();
  if (!plex) return out;
  for (const nvram::BootEntry& entry : store(machine)->boot_entries()) {
    const auto windows = entry.windows_options();
    if (!windows) continue;
    try {
      const auto node = windows->os_load_path().hard_drive();
      if (node && node->partition_guid() == plex->partition.unique) out.entries.push_back(entry.number);
    } catch (const FormatError&) {
    }
  }
  return out;
}

void refresh_hard_drive_nodes(Machine& machine) {
  auto hold = machine.hold();
  if (!store(machine)) return;
  const std::vector<PartitionPlace> places = partitions(machine);
  // The node naming the same partition as it is now, or nullopt when it is current or names none.
  auto refreshed = [&](const nvram::DevicePathNode& node) -> std::optional<nvram::DevicePathNode> {
    const auto hd = nvram::as_hard_drive(node);
    const auto guid = hd ? hd->partition_guid() : std::nullopt;
    if (!guid) return std::nullopt;
    for (const PartitionPlace& p : places)
      if (p.partition.unique == *guid) {
        const nvram::HardDrive now = hard_drive_of(p);
        return now == *hd ? std::nullopt : std::optional(now.node());
      }
    return std::nullopt;
  };
  auto refresh_path = [&](nvram::DevicePath& path) {
    bool changed = false;
    for (nvram::DevicePathNode& node : path.nodes)
      if (auto now = refreshed(node)) node = std::move(*now), changed = true;
    return changed;
  };
  for (nvram::BootEntry entry : store(machine)->boot_entries()) {
    bool changed = false;
    for (nvram::DevicePath& path : entry.option.file_paths) changed |= refresh_path(path);
    try {
      if (auto windows = entry.windows_options()) {
        nvram::DevicePath os = windows->os_load_path();
        if (refresh_path(os)) {
          entry.option.optional_data = nvram::WindowsOsOptions::efi(windows->os_load_options, os).encode();
          changed = true;
        }
      }
    } catch (const FormatError&) {
      // Damaged options are left as they are: bootcfg shows them (null).
    }
    if (changed) writable_store(machine)->set_boot_entry(entry.number, entry.option, entry.attributes);
  }
}

void delete_entries(Machine& machine, const std::vector<std::uint16_t>& numbers) {
  auto hold = machine.hold();
  if (numbers.empty()) return;
  auto nv = writable_store(machine);
  std::vector<std::uint16_t> order = nv->boot_order();
  std::erase_if(order, [&](std::uint16_t n) { return std::find(numbers.begin(), numbers.end(), n) != numbers.end(); });
  nv->set_boot_order(order);
  for (std::uint16_t n : numbers) nv->remove_boot_entry(n);
}

void add_plex_entry(Machine& machine, std::size_t dynamic_volume, int plex_disk) {
  auto hold = machine.hold();
  const RunningSystem running = running_system(machine);
  if (!is_running_boot_volume(running, dynamic_volume) || !running.system_partition) return;
  const auto mg = dynamic::group_of(machine);
  const auto plex = mg ? plex_partition(machine, *mg, dynamic_volume, plex_disk) : std::nullopt;
  if (!plex) return;
  const auto nv = store(machine);
  const EntryTargets running_entry = running_targets(machine, *nv);
  // Windows names the volume by its drive letter ("Boot Mirror C: - secondary plex"); a boot volume
  // without one is named as LDM names it.
  const ldm::GroupVolume& volume = mg->group.volumes[dynamic_volume];
  const auto letter = ldm::drive_letter(volume.record);
  const std::string description =
      fmt::format("Boot Mirror {} - secondary plex", letter ? fmt::format("{}:", *letter) : volume.record.name);
  add_boot_entry(machine, windows_entry(utf8_to_utf16(description), *running.system_partition, running_entry.loader_path, *plex,
                                        running_entry.os_path.empty() ? u"\\WINDOWS" : running_entry.os_path,
                                        running_entry.os_load_options));
}

namespace {

constexpr const char* kSection = "firmware";

Json::Object& pending_section(Machine& machine) {
  Json::Object& section = machine.section(kSection).object_mut("the firmware section");
  return section["pending"].object_mut("the firmware section's pending");
}

// The Boot#### numbers whose Windows options name partition `guid` as their OS load path.
std::vector<std::uint16_t> entries_naming(const nvram::Store& nv, const Guid& guid) {
  std::vector<std::uint16_t> out;
  for (const nvram::BootEntry& entry : nv.boot_entries()) {
    const auto windows = entry.windows_options();
    if (!windows) continue;
    try {
      const auto node = windows->os_load_path().hard_drive();
      if (node && node->partition_guid() == guid) out.push_back(entry.number);
    } catch (const FormatError&) {
    }
  }
  return out;
}

void settle_plex_entry(Machine& machine, const Json& pending) {
  const std::string& volume_text = pending["volume"].string("pending plex entry volume");
  if (!Guid::is_valid(volume_text)) throw FormatError("machine.json: a pending plex entry names no volume GUID");
  const auto volume = dynamic_volume_by_guid(machine, Guid::parse(volume_text));
  const int disk = int(pending["disk"].integer("pending plex entry disk", 0, INT32_MAX));
  const RunningSystem running = running_system(machine);
  if (!volume || !is_running_boot_volume(running, *volume)) return;
  const auto mg = dynamic::group_of(machine);
  const auto plex = mg ? plex_partition(machine, *mg, *volume, disk) : std::nullopt;
  if (!plex) return;  // the mirror was never committed
  auto nv = store(machine);
  const std::vector<std::uint16_t> naming = entries_naming(*nv, plex->partition.unique);
  if (naming.empty()) {
    add_plex_entry(machine, *volume, disk);
    return;
  }
  // Written before a crash that kept it out of BootOrder: listed now.
  std::vector<std::uint16_t> order = nv->boot_order();
  if (std::find(order.begin(), order.end(), naming.front()) == order.end()) {
    order.push_back(naming.front());
    writable_store(machine)->set_boot_order(order);
  }
}

void settle_gone_entries(Machine& machine, const Json& pending) {
  const RunningSystem running = running_system(machine);
  auto nv = store(machine);
  std::vector<std::uint16_t> gone;
  for (const Json& number : pending.array("pending entries gone")) {
    const std::int64_t n = number.integer("pending entry (a Boot#### number)", 0, 0xFFFF);
    const auto entry = nv->boot_entry(std::uint16_t(n));
    if (!entry) continue;
    std::optional<OsVolume> volume;
    try {
      volume = targets_of(machine, *entry).os_volume;
    } catch (const FormatError&) {
    }
    // Still a plex of the running Windows' volume: the break was never committed.
    if (volume && running.boot_volume && volume->dynamic_volume && volume->dynamic_volume == running.boot_volume->dynamic_volume)
      continue;
    gone.push_back(std::uint16_t(n));
  }
  delete_entries(machine, gone);
}

}  // namespace

void expect_plex_entry(Machine& machine, std::size_t dynamic_volume, int plex_disk) {
  auto hold = machine.hold();
  if (!is_running_boot_volume(running_system(machine), dynamic_volume)) return;
  const auto guid = dynamic_volume_guid(machine, dynamic_volume);
  if (!guid) return;
  pending_section(machine)["plex_entry"] = Json(Json::Object{{"volume", guid->to_string()}, {"disk", plex_disk}});
  machine.save();
}

void expect_entries_gone(Machine& machine, const std::vector<std::uint16_t>& numbers) {
  auto hold = machine.hold();
  if (numbers.empty()) return;
  Json::Array list;
  for (std::uint16_t n : numbers) list.push_back(Json(int(n)));
  pending_section(machine)["gone"] = Json(std::move(list));
  machine.save();
}

void settle_boot_entries(Machine& machine) {
  auto hold = machine.hold();
  Json& section = machine.section(kSection);
  if (!section.is_object() || !section["pending"].is_object() || !store(machine)) return;
  const Json pending = section["pending"];
  if (pending["plex_entry"].is_object()) settle_plex_entry(machine, pending["plex_entry"]);
  if (pending["gone"].is_array()) settle_gone_entries(machine, pending["gone"]);
  machine.section(kSection).object_mut("the firmware section").erase("pending");
  machine.save();
}

}  // namespace bootmirror::firmware
