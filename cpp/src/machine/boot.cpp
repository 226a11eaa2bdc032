// A boot as the firmware and Windows' loader do it, on the machine's disks (firmware::boot), and
// the entries whose targets are gone (firmware::stale_entries).
//
// The firmware's text is that of the IA-64 boot manager KB 814070 shows: "LOADING.: <entry>", and
// when a load fails "Load of <entry> failed:  Not Found" (two spaces) and, for an entry chosen in
// the boot menu, "Paused – press any key to continue." (an en dash).
#include <fmt/format.h>

#include "bootmirror/dynamic.h"
#include "bootmirror/fat.h"
#include "bootmirror/firmware.h"
#include "bootmirror/ntfs.h"
#include "bootmirror/unicode.h"
#include "machine/running_record.h"

namespace bootmirror::firmware {

namespace {

std::string utf8(const std::u16string& text) { return utf16_to_utf8(text); }

std::string place_text(const PartitionPlace& p) { return fmt::format("partition {} of disk {}", p.number, p.disk); }

// The loader file on the partition's FAT file system, or why there is none.
std::optional<std::string> missing_loader(Machine& machine, const PartitionPlace& place, const std::u16string& path) {
  const AttachedDisk& disk = machine.disk(place.disk);
  try {
    auto volume = fat::Volume::open(std::make_shared<Slice>(disk.device, place.offset(), place.size()), machine.oem_codepage());
    if (!volume->exists(utf8(path))) return fmt::format("no file {} on {}", utf8(path), place_text(place));
  } catch (const Error& e) {
    return fmt::format("no FAT file system on {} ({})", place_text(place), e.what());
  }
  return std::nullopt;
}

// A short-form File() path (what virt-fw-vars --append-boot-filepath writes): OVMF loads it from
// the first file system that holds the file, in the order it finds them: disk by disk in -drive
// order (the machine's), each disk's partitions in offset order (measured; see
// ovmf-varstore-and-boot.md).
bool short_form_file(const nvram::DevicePath& path) {
  return !path.nodes.empty() && path.nodes.front().type == nvram::kMediaPath &&
         path.nodes.front().subtype == nvram::kMediaFilePath;
}

std::optional<PartitionPlace> first_holding(Machine& machine, const std::u16string& path) {
  for (const PartitionPlace& place : partitions(machine))
    if (!missing_loader(machine, place, path)) return place;
  return std::nullopt;
}

// The Windows folder on the OS volume, or why there is none.
std::optional<std::string> missing_windows(Machine& machine, const OsVolume& volume, const std::u16string& path) {
  try {
    DevicePtr device;
    if (volume.dynamic_volume) {
      const auto group = dynamic::group_of(machine);
      if (group) device = dynamic::open_volume(machine, *group, *volume.dynamic_volume);
    } else {
      const PartitionPlace& p = *volume.partition;
      device = std::make_shared<Slice>(machine.disk(p.disk).device, p.offset(), p.size());
    }
    if (!device) return std::string("its volume cannot be read");
    auto ntfs = ntfs::Volume::open(device);
    if (!ntfs->exists(utf8(path))) return fmt::format("no folder {} on its volume", utf8(path));
  } catch (const Error& e) {
    return fmt::format("no NTFS file system on its volume ({})", e.what());
  }
  return std::nullopt;
}

constexpr const char* kSection = "firmware";

// The group each installation on a basic partition runs with, by that partition's GUID ("" for
// none); machine.json's firmware section, "installations".
std::optional<std::string> installation_group(Machine& machine, const Guid& partition) {
  const Json& section = machine.section(kSection);
  if (!section.is_object() || !section["installations"].is_object()) return std::nullopt;
  const Json& group = section["installations"][partition.to_string()];
  if (group.is_null()) return std::nullopt;
  return group.string("installation group");
}

void set_installation_group(Machine& machine, const Guid& partition, const std::string& group) {
  Json::Object& installations =
      machine.section(kSection).object_mut("the firmware section")["installations"].object_mut("the firmware installations");
  installations[partition.to_string()] = Json(group);
  machine.save();
}

// The group of the disk whose LDM data partition a Windows entry's OS load path names, when it is
// not the machine's own: another Windows' group, which starting this entry would make the own one.
std::optional<std::string> other_group_of(Machine& machine, const nvram::BootEntry& entry) {
  const auto windows = entry.windows_options();
  if (!windows) return std::nullopt;
  const auto node = windows->os_load_path().hard_drive();
  const auto place = node ? find_partition(machine, *node) : std::nullopt;
  if (!place || place->partition.kind() != gpt::Kind::ldm_data) return std::nullopt;
  const std::string group = dynamic::group_on_disk(machine, place->disk);
  if (group.empty() || group == dynamic::own_group(machine)) return std::nullopt;
  return group;
}

// How far `entry` gets, as boot() tries it. With `switch_groups`, a Windows on another Windows'
// dynamic disks makes that group the machine's own to find its volume, as its loader would.
EntryCheck attempt(Machine& machine, const nvram::BootEntry& entry, bool switch_groups) {
  using Stage = EntryCheck::Stage;
  EntryCheck a;
  const std::string name = fmt::format("Boot{:04X} \"{}\"", entry.number, entry.option.description_utf8());
  if (entry.option.file_paths.empty()) {
    a.steps.push_back(fmt::format("{}: no device path", name));
    return a;
  }
  const nvram::DevicePath& path = entry.option.file_paths.front();
  const auto node = path.hard_drive();
  const bool short_form = short_form_file(path);
  if (!node && !short_form) {
    // The firmware's own devices: the shell is in its firmware volume; drives find no media here.
    const bool firmware_app = std::any_of(path.nodes.begin(), path.nodes.end(), [](const nvram::DevicePathNode& n) {
      return n.type == nvram::kMediaPath && n.subtype == 0x06;  // PIWG firmware file (FvFile)
    });
    a.steps.push_back(fmt::format("{}: {}", name, firmware_app ? "the firmware's own application starts" : "no media in " + path.to_text()));
    a.stage = firmware_app ? Stage::firmware_application : Stage::no_media;
    return a;
  }
  try {
    a.targets = targets_of(machine, entry);
    if (short_form) a.targets.loader_partition = first_holding(machine, a.targets.loader_path);
    // A Windows on another Windows' dynamic disks: its loader reads that group (and, once it
    // starts, that group is the machine's own; boot() puts the old one back if it does not).
    if (switch_groups && a.targets.windows && !a.targets.os_volume)
      if (const auto group = other_group_of(machine, entry)) {
        dynamic::set_own_group(machine, *group);
        a.targets = targets_of(machine, entry);
      }
  } catch (const FormatError& e) {
    a.steps.push_back(fmt::format("{}: its Windows options do not decode ({})", name, e.what()));
    a.stage = Stage::options_damaged;
    return a;
  }
  if (!a.targets.loader_partition && short_form) {
    a.steps.push_back(fmt::format("{}: no file system holds {}", name, utf8(a.targets.loader_path)));
    a.stage = Stage::no_loader;
    return a;
  }
  if (!a.targets.loader_partition) {
    a.steps.push_back(fmt::format("{}: no partition {} with GUID {} on any disk", name, node->partition_number,
                                  node->partition_guid() ? node->partition_guid()->to_string() : std::string("(none)")));
    a.stage = Stage::no_partition;
    return a;
  }
  if (auto why = missing_loader(machine, *a.targets.loader_partition, a.targets.loader_path)) {
    a.steps.push_back(fmt::format("{}: {}", name, *why));
    a.stage = Stage::no_loader;
    return a;
  }
  a.steps.push_back(fmt::format("{}: loads {} from {}", name, utf8(a.targets.loader_path), place_text(*a.targets.loader_partition)));
  if (!a.targets.windows) {
    a.stage = Stage::loader_started;
    return a;
  }
  if (!a.targets.os_volume) {
    a.steps.push_back("Windows' loader: its OS load path names no volume of this Windows");
    a.stage = Stage::no_os_volume;
    return a;
  }
  const std::string where = a.targets.os_volume->dynamic_volume
                                ? fmt::format("dynamic volume {}", *a.targets.os_volume->dynamic_volume)
                                : place_text(*a.targets.os_volume->partition);
  if (auto why = missing_windows(machine, *a.targets.os_volume, a.targets.os_path)) {
    a.steps.push_back(fmt::format("Windows' loader: {} on {}", *why, where));
    a.stage = Stage::no_windows;
    return a;
  }
  a.steps.push_back(fmt::format("Windows' loader: starts Windows from {} on {}", utf8(a.targets.os_path), where));
  a.stage = Stage::windows_started;
  return a;
}

}  // namespace

BootResult boot(Machine& machine, std::optional<std::uint16_t> chosen) {
  auto hold = machine.hold();
  auto nv = store(machine);
  if (!nv) throw UsageError("This machine has no NVRAM: there is nothing to boot.");
  std::vector<std::uint16_t> tries;
  bool from_menu = false, from_boot_next = false;
  BootResult result;
  if (chosen) {
    if (!nv->boot_entry(*chosen)) throw UsageError(fmt::format("There is no boot entry Boot{:04X}.", *chosen));
    tries.push_back(*chosen);
    from_menu = true;
  } else {
    // Both read before anything is written: a BootOrder that does not decode leaves the NVRAM
    // as it was. A BootNext that does not (not one UINT16) is dropped, as EDK2's BDS drops it.
    std::optional<std::uint16_t> next;
    bool drop_next = false;
    try {
      next = nv->boot_next();
      drop_next = next.has_value();
    } catch (const FormatError& e) {
      drop_next = true;
      result.steps.push_back(fmt::format("BootNext: not a boot option number, deleted ({})", e.what()));
    }
    const std::vector<std::uint16_t> order = nv->boot_order();
    if (next) {
      tries.push_back(*next);
      from_boot_next = true;
    }
    tries.insert(tries.end(), order.begin(), order.end());
    if (drop_next) writable_store(machine)->set_boot_next(std::nullopt);  // used once, as the firmware does
  }
  // The running Windows' group goes with it: a setup's installation keeps the group it made.
  if (const auto running = running_record(machine); running && running->boot_partition && !running->boot_volume)
    if (installation_group(machine, *running->boot_partition)) set_installation_group(machine, *running->boot_partition, dynamic::own_group(machine));
  const std::string group_before = dynamic::own_group(machine);
  for (std::size_t i = 0; i < tries.size(); ++i) {
    const std::uint16_t number = tries[i];
    // Chosen in the menu or named by BootNext, an entry is booted as it is; BootOrder's pass
    // (EDK2's BdsEntry) skips the inactive ones and those of another category than boot (an app).
    const bool as_it_is = from_menu || (from_boot_next && i == 0);
    std::optional<nvram::BootEntry> entry;
    try {
      entry = nv->boot_entry(number);
    } catch (const FormatError& e) {
      if (from_menu) throw;
      // As EDK2's boot manager does: an invalid load option is skipped, and the next one tried.
      result.steps.push_back(fmt::format("Boot{:04X}: not a valid load option ({})", number, e.what()));
      continue;
    }
    if (!entry) {
      result.steps.push_back(fmt::format("Boot{:04X}: no such entry", number));
      continue;
    }
    if (!as_it_is && !entry->option.active()) {
      result.steps.push_back(fmt::format("Boot{:04X}: not active", number));
      continue;
    }
    if (!as_it_is && (entry->option.attributes & nvram::kLoadOptionCategoryMask) != 0) {
      result.steps.push_back(fmt::format("Boot{:04X}: an application (LOAD_OPTION_CATEGORY_APP), not a boot option", number));
      continue;
    }
    const std::string description = entry->option.description_utf8();
    result.console += fmt::format("LOADING.: {}\n", description);
    EntryCheck a = attempt(machine, *entry, true);
    result.steps.insert(result.steps.end(), a.steps.begin(), a.steps.end());
    if (a.stage != EntryCheck::Stage::windows_started) dynamic::set_own_group(machine, group_before);
    if (!a.started()) {
      result.console += fmt::format("\nLoad of {} failed:  Not Found\n\n", description);
      if (from_menu) result.console += "Paused \u2013 press any key to continue.\n";
      continue;
    }
    result.entry = number;
    result.description = description;
    result.loader_partition = a.targets.loader_partition;
    result.loader_path = a.targets.loader_path;
    result.os_volume = a.targets.os_volume;
    result.ok = a.stage == EntryCheck::Stage::windows_started || !a.targets.windows;
    // A setup's Windows on a basic partition runs with its own group (none when new).
    if (a.stage == EntryCheck::Stage::windows_started && a.targets.os_volume && !a.targets.os_volume->dynamic_volume)
      if (const auto group = installation_group(machine, a.targets.os_volume->partition->partition.unique))
        dynamic::set_own_group(machine, *group);
    record_running(machine, running_record_of(machine, number, a.targets));
    return result;
  }
  if (!from_menu) result.console += "Paused \u2013 press any key to continue.\n";
  return result;
}

EntryCheck check_entry(Machine& machine, const nvram::BootEntry& entry) {
  auto hold = machine.hold();
  return attempt(machine, entry, false);
}

std::optional<BootResult> restart(Machine& machine, std::optional<std::uint16_t> entry) {
  auto hold = machine.hold();
  dynamic::reboot(machine);
  if (!store(machine)) return std::nullopt;
  // Until an entry starts, nothing runs: list volume marks no System or Boot volume.
  record_running(machine, std::nullopt);
  BootResult result = boot(machine, entry);
  // Windows' volume service finishes the boot-menu changes a crash cut short.
  settle_boot_entries(machine);
  return result;
}

std::vector<StaleEntry> stale_entries(Machine& machine) {
  auto hold = machine.hold();
  std::vector<StaleEntry> out;
  auto nv = store(machine);
  if (!nv) return out;
  for (const std::uint16_t number : nv->boot_numbers()) {
    std::optional<nvram::BootEntry> decoded;
    try {
      decoded = nv->boot_entry(number);
    } catch (const FormatError& e) {
      // Firmware skips it: it boots nothing, and is what bootcfg /delete should take away.
      out.push_back(StaleEntry{number, "", fmt::format("not a valid load option ({})", e.what())});
      continue;
    }
    if (!decoded) continue;
    const nvram::BootEntry& entry = *decoded;
    if (entry.option.file_paths.empty() || !entry.option.file_paths.front().hard_drive()) continue;
    StaleEntry stale{entry.number, entry.option.description_utf8(), ""};
    try {
      const EntryTargets t = targets_of(machine, entry);
      if (!t.loader_partition)
        stale.reason = fmt::format("its ESP {} is on no present disk", entry.option.file_paths.front().hard_drive()->partition_guid()
                                                                             ? entry.option.file_paths.front().hard_drive()->partition_guid()->to_string()
                                                                             : std::string("(no GUID)"));
      else if (auto why = missing_loader(machine, *t.loader_partition, t.loader_path))
        stale.reason = *why;
      else if (t.windows && !t.os_volume)
        stale.reason = "its OS load path names no volume";
    } catch (const FormatError& e) {
      stale.reason = fmt::format("its Windows options do not decode ({})", e.what());
    }
    if (!stale.reason.empty()) out.push_back(std::move(stale));
  }
  return out;
}

void record_installation(Machine& machine, const Guid& os_partition) {
  auto hold = machine.hold();
  set_installation_group(machine, os_partition, "");
}

}  // namespace bootmirror::firmware
