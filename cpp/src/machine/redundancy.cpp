// Does every disk boot on its own (bootmirror/redundancy.h): each disk's boot played on a scratch
// copy of the machine with the other disks pulled, and the advice for what stops it.
#include "bootmirror/redundancy.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "bootmirror/dynamic.h"
#include "bootmirror/unicode.h"
#include "machine/dynamic_volumes.h"

namespace bootmirror::redundancy {

namespace {

using Stage = firmware::EntryCheck::Stage;

std::string utf8(const std::u16string& text) { return utf16_to_utf8(text); }

// A copy of the machine, its NVRAM included, on which a what-if cannot touch the real one.
// BootNext is one boot's choice (a test boot); the check is about every boot after it.
std::shared_ptr<Machine> scratch(Machine& machine) {
  auto copy = firmware::scratch_copy(machine);
  if (copy->nvram_store()->boot_next()) copy->nvram_store()->set_boot_next(std::nullopt);
  return copy;
}

std::set<int> present_disks(const Machine& machine) {
  std::set<int> out;
  for (const auto& [number, disk] : machine.disks())
    if (!disk.missing()) out.insert(number);
  return out;
}

// The copy after the disks not `kept` are pulled and the machine restarted.
struct WhatIf {
  std::shared_ptr<Machine> machine;
  firmware::BootResult boot;
};
WhatIf boot_with(Machine& machine, const std::set<int>& kept) {
  WhatIf w{scratch(machine), {}};
  for (int number : present_disks(machine))
    if (!kept.count(number)) dynamic::fail_disk(*w.machine, number);
  w.boot = *firmware::restart(*w.machine);
  return w;
}

// Whether a boot did what the machine's own boot does: a disk's loader that starts its Windows
// when the machine's own boot starts Windows (the firmware's shell starting is no boot).
bool boots_like(const firmware::BootResult& boot, const firmware::BootResult& reference) {
  if (!boot.ok || !boot.loader_partition) return false;
  return !reference.os_volume || boot.os_volume.has_value();
}

std::optional<firmware::PartitionPlace> esp_on(Machine& machine, int disk) {
  for (const firmware::PartitionPlace& p : firmware::partitions(machine))
    if (p.disk == disk && p.partition.kind() == gpt::Kind::efi_system) return p;
  return std::nullopt;
}

// The FAT on a partition, read through an overlay so nothing can be written back.
std::shared_ptr<fat::Volume> open_fat(Machine& machine, const firmware::PartitionPlace& place) {
  auto overlay = std::make_shared<OverlayDisk>(machine.disk(place.disk).device);
  return fat::Volume::open(std::make_shared<Slice>(overlay, place.offset(), place.size()), machine.oem_codepage());
}

std::string fat_path(const std::u16string& loader_path) {
  std::string path = utf8(loader_path);
  std::replace(path.begin(), path.end(), '\\', '/');
  return path;
}

// Where Windows starts from, with the disk it depends on: a dynamic volume's name and its plex on
// the disk, or the partition.
std::string os_place(Machine& machine, const firmware::OsVolume& volume, int disk) {
  if (volume.partition && !volume.dynamic_volume)
    return fmt::format("partition {} of disk {}", volume.partition->number, volume.partition->disk);
  const auto group = dynamic::group_of(machine);
  if (!group || !volume.dynamic_volume || *volume.dynamic_volume >= group->group.volumes.size()) return "a dynamic volume";
  const std::string& name = group->group.volumes[*volume.dynamic_volume].record.name;
  return fmt::format("{} (plex on disk {})", name, disk);
}

// Whether the dynamic volume has a plex on machine disk `disk` in the group `machine` holds.
bool has_plex_on(Machine& machine, std::size_t volume, int disk) {
  const auto group = dynamic::group_of(machine);
  if (!group || volume >= group->group.volumes.size()) return false;
  const auto index = group->disk_index_of(disk, machine);
  if (!index) return false;
  for (const auto& [plex, guid] : dynamic::plex_disks(*group, volume))
    if (guid == group->group.disks[*index].record.guid) return true;
  return false;
}

struct Diagnosis {
  std::string problem, advice;
};

std::string sync_advice(const std::optional<firmware::PartitionPlace>& reference, int disk) {
  return reference ? fmt::format("copy disk {}'s ESP onto it: bootmirror esp sync --from {} --to {}", reference->disk, reference->disk, disk)
                   : std::string("copy a working ESP onto it (bootmirror esp sync)");
}

// Why disk `disk` alone does not boot, looking at the entries that lead to its ESP on the copy
// the failed boot left (`alone`).
Diagnosis diagnose(Machine& machine, Machine& alone, const Report& report, DiskAlone& row) {
  const int k = row.disk;
  const auto& ref = report.reference_esp;
  if (!row.esp)
    return {std::string("no EFI system partition"),
            fmt::format("create one on disk {} (diskpart: create partition efi), format it FAT and {}", k, sync_advice(ref, k))};
  try {
    open_fat(machine, *row.esp);
  } catch (const Error& e) {
    return {fmt::format("its ESP holds no FAT file system ({})", e.what()), fmt::format("format it FAT and {}", sync_advice(ref, k))};
  }
  if (!row.loader_present)
    return {fmt::format("its ESP has no {}", row.loader_path.empty() ? std::string("loader") : utf8(row.loader_path)), sync_advice(ref, k)};
  // The entries whose loader is on this disk's ESP, in BootOrder first.
  auto nv = firmware::store(alone);
  const std::vector<std::uint16_t> order = nv->boot_order();
  std::optional<firmware::EntryCheck> best;
  std::optional<nvram::BootEntry> best_entry, outside_order;
  for (const nvram::BootEntry& entry : nv->boot_entries()) {
    const firmware::EntryCheck c = firmware::check_entry(alone, entry);
    if (!c.targets.loader_partition || c.targets.loader_partition->disk != k) continue;
    const bool in_order = entry.option.active() && std::count(order.begin(), order.end(), entry.number);
    if (!in_order) {
      if (!outside_order) outside_order = entry;
      continue;
    }
    if (!best || c.stage > best->stage) best = c, best_entry = entry;
  }
  if (!best) {
    if (outside_order)
      return {fmt::format("Boot{:04X} \"{}\" loads from its ESP but is not an active entry of BootOrder", outside_order->number,
                          outside_order->option.description_utf8()),
              fmt::format("add Boot{:04X} to BootOrder and make it active", outside_order->number)};
    const std::string target = row.esp->partition.unique.to_string();
    return {std::string("no boot entry loads from its ESP"),
            ref ? fmt::format("bootcfg /clone /sg {{{}}} /tg {{{}}} /d+ Disk{}", ref->partition.unique.to_string(), target, k)
                : fmt::format("add a boot entry whose loader is on disk {}'s ESP {{{}}}", k, target)};
  }
  const std::string name = fmt::format("Boot{:04X} \"{}\"", best_entry->number, best_entry->option.description_utf8());
  const std::string last_step = best->steps.empty() ? name : best->steps.back();
  // The entry would start, but the firmware starts another first (the shell, an entry of another
  // disk's): BootOrder must reach it sooner.
  if (best->stage == Stage::windows_started || (best->stage == Stage::loader_started && !report.whole.os_volume)) {
    const auto started = row.boot.entry;
    std::vector<std::uint16_t> better = order;
    better.erase(std::remove(better.begin(), better.end(), best_entry->number), better.end());
    auto before = started ? std::find(better.begin(), better.end(), *started) : better.begin();
    better.insert(before, best_entry->number);
    std::string text;
    for (std::uint16_t n : better) text += fmt::format("{}{:04X}", text.empty() ? "" : ",", n);
    return {started ? fmt::format("the firmware starts Boot{:04X} \"{}\" before it reaches {}, which would boot from disk {}", *started,
                                  row.boot.description, name, k)
                    : fmt::format("{} would boot from disk {}, but the firmware does not reach it", name, k),
            fmt::format("move Boot{:04X} ahead in BootOrder (efibootmgr --bootorder {})", best_entry->number, text)};
  }
  const auto& boot_volume = report.whole.os_volume;
  if (best->stage == Stage::no_os_volume || best->stage == Stage::no_windows) {
    // Windows' volume: a mirror with no plex here, one still being copied, or a basic partition.
    if (boot_volume && boot_volume->dynamic_volume) {
      if (!has_plex_on(machine, *boot_volume->dynamic_volume, k))
        return {fmt::format("{}: the boot volume has no plex on disk {}", name, k),
                fmt::format("mirror it onto disk {} (diskpart: select the boot volume, add disk={})", k, k)};
      for (const dynamic::RebuildStatus& r : dynamic::rebuild_status(machine))
        if (r.volume == *boot_volume->dynamic_volume && r.disk == k && r.done < r.total)
          return {fmt::format("{}: the boot volume's plex on disk {} is still being copied ({}%)", name, k, r.total ? r.done * 100 / r.total : 0),
                  "wait for the resynchronisation to finish (Machine.wait, or list volume until the volume is Healthy)"};
    } else if (boot_volume && boot_volume->partition && boot_volume->partition->disk != k) {
      return {fmt::format("{}: Windows is on partition {} of disk {}, a basic partition with no copy on disk {}", name,
                          boot_volume->partition->number, boot_volume->partition->disk, k),
              fmt::format("convert disks {} and {} to dynamic and mirror the boot volume onto disk {} (add disk={})",
                          boot_volume->partition->disk, k, k, k)};
    }
  }
  return {last_step, "repair what that step names"};
}

}  // namespace

bool Report::survives_loss_of_any_disk() const {
  if (disks.empty()) return false;
  return std::all_of(disks.begin(), disks.end(), [](const DiskAlone& d) { return d.survives_loss; });
}

Report check(Machine& machine, const CheckOptions& options) {
  auto hold = machine.hold();
  auto nv = firmware::store(machine);
  if (!nv) throw UsageError("This machine has no NVRAM: there is no boot to check.");
  Report report;
  const std::set<int> present = present_disks(machine);
  for (const auto& [number, disk] : machine.disks())
    if (disk.missing()) report.missing.push_back(number);
  report.whole = boot_with(machine, present).boot;
  if (report.whole.ok && report.whole.loader_partition) report.reference_esp = report.whole.loader_partition;
  std::shared_ptr<fat::Volume> reference_fat;
  if (report.reference_esp) try {
      reference_fat = open_fat(machine, *report.reference_esp);
    } catch (const Error&) {
    }

  for (int k : present) {
    DiskAlone row;
    row.disk = k;
    row.esp = esp_on(machine, k);
    WhatIf alone = boot_with(machine, {k});
    row.boot = alone.boot;
    row.boots = boots_like(alone.boot, report.whole);
    row.loader_path = alone.boot.loader_partition ? alone.boot.loader_path : report.whole.loader_path;
    std::shared_ptr<fat::Volume> esp_fat;
    if (row.esp) try {
        esp_fat = open_fat(machine, *row.esp);
        row.loader_present = !row.loader_path.empty() && esp_fat->exists(fat_path(row.loader_path));
      } catch (const Error&) {
      }
    row.entry = alone.boot.entry;
    row.entry_description = alone.boot.description;
    if (alone.boot.os_volume) row.os_plex = os_place(*alone.machine, *alone.boot.os_volume, k);
    if (!row.boots) {
      Diagnosis d = diagnose(machine, *alone.machine, report, row);
      row.problems.push_back(std::move(d.problem));
      row.advice.push_back(std::move(d.advice));
    }
    // An ESP that drifted from the one the machine boots from still boots, with what it holds.
    if (reference_fat && esp_fat && report.reference_esp->disk != k) {
      try {
        row.esp_differences = fat::compare_trees(*reference_fat, "/", *esp_fat, "/");
      } catch (const FormatError& e) {
        row.problems.push_back(fmt::format("its ESP cannot be compared with disk {}'s ({})", report.reference_esp->disk, e.what()));
        row.advice.push_back(sync_advice(report.reference_esp, k));
      }
      // Told once: an ESP already to be synced for its missing loader needs no second word.
      const bool told = std::any_of(row.advice.begin(), row.advice.end(), [](const std::string& a) { return a.find("esp sync") != std::string::npos; });
      if (!row.esp_differences.empty() && !told) {
        const fat::TreeDifference& first = row.esp_differences.front();
        row.problems.push_back(fmt::format("its ESP differs from disk {}'s in {} place{} (first: {} {})",
                                           report.reference_esp->disk, row.esp_differences.size(),
                                           row.esp_differences.size() == 1 ? "" : "s", first.path, first.change));
        row.advice.push_back(fmt::format("bootmirror esp sync --from {} --to {}", report.reference_esp->disk, k));
      }
    }
    if (options.qemu) {
      row.real = boot_alone_in_qemu(machine, k, options.timeout);
      row.real->agrees = row.real->entry == row.entry;
    }
    report.disks.push_back(std::move(row));
  }

  // Losing disk k leaves the others: with two disks that is the other one alone, already played.
  for (DiskAlone& row : report.disks) {
    std::set<int> rest = present;
    rest.erase(row.disk);
    if (rest.size() == 1) {
      const int other = *rest.begin();
      row.survives_loss = std::any_of(report.disks.begin(), report.disks.end(), [&](const DiskAlone& d) { return d.disk == other && d.boots; });
    } else {
      row.survives_loss = !rest.empty() && boots_like(boot_with(machine, rest).boot, report.whole);
    }
  }
  return report;
}

}  // namespace bootmirror::redundancy
