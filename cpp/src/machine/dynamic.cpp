#include "bootmirror/dynamic.h"
#include "bootmirror/firmware.h"

#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/fat.h"
#include "bootmirror/gpt.h"
#include "bootmirror/volumes.h"
#include "machine/dynamic_volumes.h"
#include "machine/ldm_section.h"
#include "machine/rebuilds.h"

namespace bootmirror::dynamic {

namespace {

constexpr const char* kSection = "ldm";
// Diskpart's answer when the volume service refuses a change (KB 331494 shows it for break).
constexpr const char* kCouldNotComplete = "The disk management services could not complete the operation.";

Json::Object& section(Machine& m) { return ldm_section(m); }

std::string recorded_guid(const Machine& m, int number) {
  auto& sections = const_cast<Machine&>(m);
  const Json& s = sections.section(kSection);
  if (!s.is_object()) return "";
  const Json& disks = s["disks"];
  if (!disks.is_object()) return "";
  const Json& g = disks[std::to_string(number)];
  return g.is_string() ? g.string() : "";
}

std::string preferred_group(Machine& m) {
  const Json& s = m.section(kSection);
  if (s.is_object() && s["group"].is_string()) return s["group"].string();
  return "";
}

}  // namespace

Json::Object& ldm_section(Machine& m) { return m.section(kSection).object_mut("the ldm section"); }

std::string own_group(Machine& machine) {
  auto hold = machine.hold();
  return preferred_group(machine);
}

void set_own_group(Machine& machine, const std::string& guid) {
  auto hold = machine.hold();
  if (guid == preferred_group(machine)) return;
  Json::Object& s = section(machine);
  if (guid.empty()) s.erase("group");
  else s["group"] = Json(guid);
  machine.save();
}

std::string group_on_disk(Machine& machine, int number) {
  auto hold = machine.hold();
  if (!machine.has_disk(number) || machine.disk(number).missing()) return "";
  try {
    return ldm::read_database(*machine.disk(number).device, false).privhead.group_guid;
  } catch (const FormatError&) {
    return "";
  }
}

std::optional<int> MachineGroup::number_of(std::size_t i, const Machine& machine) const {
  const ldm::GroupDisk& d = group.disks.at(i);
  if (d.device >= 0) return numbers.at(std::size_t(d.device));
  const std::string guid = d.record.guid.to_string();
  for (const auto& [number, disk] : machine.disks())
    if (disk.missing() && recorded_guid(machine, number) == guid) return number;
  return std::nullopt;
}

std::optional<std::size_t> MachineGroup::disk_index_of(int number, const Machine& machine) const {
  for (std::size_t i = 0; i < group.disks.size(); ++i)
    if (number_of(i, machine) == number) return i;
  return std::nullopt;
}

std::optional<MachineGroup> group_of(Machine& machine) {
  auto hold = machine.hold();
  MachineGroup mg;
  for (const auto& [number, disk] : machine.disks()) {
    if (disk.missing()) continue;
    mg.devices.push_back(disk.device);
    mg.numbers.push_back(number);
  }
  // The machine's group is the one it recorded when it made its first disk dynamic; every other
  // group is foreign (Windows keeps its own group in its registry; import is out of scope).
  const std::string own = preferred_group(machine);
  if (own.empty()) return std::nullopt;
  ldm::Scan scan = ldm::scan(mg.devices, own);
  if (!scan.unreadable.empty())
    throw FormatError(fmt::format("disk {}: {}", mg.numbers[scan.unreadable.front().first], scan.unreadable.front().second));
  for (std::size_t i : scan.foreign) mg.foreign.push_back(mg.numbers[i]);
  if (!scan.group || scan.group->guid() != own) return std::nullopt;
  mg.group = std::move(*scan.group);
  return mg;
}

bool is_dynamic(Machine& machine, int number) {
  auto hold = machine.hold();
  if (is_foreign(machine, number)) return true;
  auto mg = group_of(machine);
  if (!mg) return false;
  if (std::find(mg->foreign.begin(), mg->foreign.end(), number) != mg->foreign.end()) return true;
  for (const auto& d : mg->group.disks)
    if (d.device >= 0 && mg->numbers[std::size_t(d.device)] == number) return true;
  return false;
}

bool is_foreign(Machine& machine, int number) {
  auto hold = machine.hold();
  if (!machine.has_disk(number) || machine.disk(number).missing()) return false;
  try {
    ldm::DiskDatabase db = ldm::read_database(*machine.disk(number).device, false);
    const std::string own = preferred_group(machine);
    return db.privhead.group_guid != own;
  } catch (const FormatError&) {
    return false;
  }
}

bool is_pending(const Machine& machine, int number) {
  auto hold = machine.hold();
  const Json& s = const_cast<Machine&>(machine).section(kSection);
  if (!s.is_object() || !s["pending"].is_array()) return false;
  for (const Json& n : s["pending"].array()) if (n.integer() == number) return true;
  return false;
}

bool is_system_disk(BlockDevice& device) {
  if (gpt::looks_like_gpt(device)) {
    // The Windows installation: an EFI system partition and a basic data partition beside it (the
    // seed's disk 0). The shadow disk, ESP and MSR only, converts at once (seed, disk 1).
    try {
      bool esp = false, data = false;
      for (const auto& p : gpt::read(device).entries) {
        esp |= p.used() && p.kind() == gpt::Kind::efi_system;
        data |= p.used() && p.kind() == gpt::Kind::basic_data;
      }
      return esp && data;
    } catch (const FormatError&) {
    }
    return false;
  }
  ByteVector mbr = device.read(0, 512);
  if (load_le<std::uint16_t>(mbr, 510) != 0xAA55) return false;
  for (int i = 0; i < 4; ++i)
    if (std::uint8_t(mbr[0x1BE + 16 * i]) == 0x80 && std::uint8_t(mbr[0x1BE + 16 * i + 4]) != 0) return true;
  return false;
}

void commit(Machine& machine, MachineGroup& mg) {
  auto hold = machine.hold();
  // machine.json names the group and its disks before the disks are written. A crash in between
  // leaves a machine that knows a group its disks do not hold yet (the state before the commit),
  // never disks of a group the machine does not know (they would show as Foreign).
  Json::Object& s = section(machine);
  s["group"] = Json(mg.group.guid());
  Json::Object disks = s.count("disks") && s["disks"].is_object() ? s["disks"].object() : Json::Object{};
  for (const auto& d : mg.group.disks)
    if (d.device >= 0) disks[std::to_string(mg.numbers[std::size_t(d.device)])] = Json(d.record.guid.to_string());
  s["disks"] = Json(std::move(disks));
  machine.save();
  ldm::commit(mg.group, mg.devices);
  refresh_live_volumes(machine, mg);
}

namespace {

// A conversion an interrupted commit left half done: the group's database reached the other disks
// and lists this disk (machine.json recorded its LDM GUID before the commit), but the disk itself
// was not written yet. Its index in the group, when so.
std::optional<std::size_t> half_converted(const Machine& machine, const MachineGroup& mg, int number) {
  const std::string recorded = recorded_guid(machine, number);
  if (recorded.empty()) return std::nullopt;
  for (std::size_t i = 0; i < mg.group.disks.size(); ++i)
    if (mg.group.disks[i].device < 0 && mg.group.disks[i].record.guid.to_string() == recorded) return i;
  return std::nullopt;
}

void convert_now(Machine& machine, int number) {
  auto mg = group_of(machine);
  if (!mg) {
    // The first dynamic disk makes the group: Windows names it after the computer.
    MachineGroup fresh;
    for (const auto& [n, disk] : machine.disks()) {
      if (disk.missing()) continue;
      fresh.devices.push_back(disk.device);
      fresh.numbers.push_back(n);
    }
    fresh.group = ldm::new_group("BOOTMIRROR-Dg0");
    mg = std::move(fresh);
  }
  auto at = std::find(mg->numbers.begin(), mg->numbers.end(), number);
  if (at == mg->numbers.end()) throw UsageError(fmt::format("disk {} is missing", number));
  const std::size_t device = std::size_t(at - mg->numbers.begin());
  const std::map<std::uint64_t, char> letters = letters_on_disk(machine, number);
  std::vector<char> moved;
  if (auto resumed = half_converted(machine, *mg, number)) {
    // The drive hints went into the group with the first attempt; their basic letters go now.
    ldm::resume_disk(mg->group, *resumed, mg->devices[device], int(device));
    for (const auto& [offset, letter] : letters)
      for (const auto& v : mg->group.volumes)
        if (ldm::drive_letter(v.record) == letter) moved.push_back(letter);
  } else {
    const std::size_t volumes_before = mg->group.volumes.size();
    const std::size_t disk_index = ldm::add_disk(mg->group, mg->devices[device], int(device));
    // Volumes keep their drive letters: each basic volume's letter becomes the drive hint of the
    // simple volume it turned into (Windows keeps them in the volume records too).
    const ldm::GroupDisk& d = mg->group.disks[disk_index];
    const std::uint64_t sector = mg->devices[device]->sector_size();
    for (std::size_t vi = volumes_before; vi < mg->group.volumes.size(); ++vi)
      for (std::size_t pi : mg->group.volumes[vi].partitions) {
        const auto& p = mg->group.partitions[pi];
        auto letter = letters.find((d.data_start + p.start) * sector);
        if (p.disk_id != d.record.id || letter == letters.end()) continue;
        ldm::set_drive_hint(mg->group, vi, std::string{letter->second, ':'});
        moved.push_back(letter->second);
      }
  }
  commit(machine, *mg);
  for (char letter : moved) release_letter(machine, letter);
  firmware::refresh_hard_drive_nodes(machine);
}

}  // namespace

bool convert_dynamic(Machine& machine, int number) {
  auto hold = machine.hold();
  const AttachedDisk& disk = machine.disk(number);
  if (disk.missing()) throw UsageError(fmt::format("disk {} is missing", number));
  if (is_dynamic(machine, number) || is_pending(machine, number)) throw UsageError("The disk is already dynamic.");
  if (is_system_disk(*disk.device)) {
    // Check now what the reboot will do, so that it cannot fail later.
    ldm::check_convertible(*disk.device);
    Json::Object& s = section(machine);
    Json::Array pending = s.count("pending") && s["pending"].is_array() ? s["pending"].array() : Json::Array{};
    pending.push_back(Json(number));
    s["pending"] = Json(std::move(pending));
    machine.save();
    return false;
  }
  convert_now(machine, number);
  return true;
}

namespace {

// Forgets a deleted dynamic disk: its LDM GUID and its place among the machine's disks.
void forget_disk(Machine& machine, int number) {
  Json::Object& s = section(machine);
  if (s.count("disks") && s["disks"].is_object()) {
    Json::Object disks = s["disks"].object();
    disks.erase(std::to_string(number));
    s["disks"] = Json(std::move(disks));
  }
  machine.detach(number);
}

// A "delete disk" whose commit reached the disks but not machine.json leaves a missing disk that
// the group no longer lists: the deletion is finished.
void finish_interrupted_deletions(Machine& machine, const MachineGroup& mg) {
  std::vector<int> deleted;
  for (const auto& [number, disk] : machine.disks()) {
    const std::string guid = recorded_guid(machine, number);
    if (!disk.missing() || guid.empty()) continue;
    const bool listed = std::any_of(mg.group.disks.begin(), mg.group.disks.end(),
                                    [&](const ldm::GroupDisk& d) { return d.record.guid.to_string() == guid; });
    if (!listed) deleted.push_back(number);
  }
  for (int number : deleted) forget_disk(machine, number);
}

// What the firmware does to a GPT disk at start-up: a copy whose header or entry array is damaged
// is restored from the other (EDK2's PartitionRestoreGptTable). Disks without a protective MBR
// are no GPT disks to it, and are left alone.
void restore_damaged_gpt_copies(Machine& machine) {
  for (const auto& [number, disk] : machine.disks()) {
    if (disk.missing()) continue;
    // One copy damaged, or both whole but different (a write cut between the two copies: the
    // primary, written first, is the newer, and wins as firmware reads it first).
    const gpt::Health health = gpt::verify(*disk.device);
    if (health.protective_mbr && (health.primary.valid() || health.backup.valid()) &&
        (health.primary.valid() != health.backup.valid() || !health.copies_agree))
      gpt::repair(*disk.device, false);
  }
}

}  // namespace

void reboot(Machine& machine) {
  auto hold = machine.hold();
  restore_damaged_gpt_copies(machine);
  // Each waiting conversion is done, then struck off the list, one at a time: a crash in between
  // leaves it listed, and the next restart finds the disk dynamic already and only strikes it off.
  for (;;) {
    Json::Object& s = section(machine);
    if (!s.count("pending") || !s["pending"].is_array() || s["pending"].array().empty()) break;
    Json::Array pending = s["pending"].array();
    const int number = int(pending.front().integer("pending disk", 0, INT32_MAX));
    if (machine.has_disk(number) && !machine.disk(number).missing() && !is_dynamic(machine, number))
      convert_now(machine, number);
    pending.erase(pending.begin());
    Json::Object& after = section(machine);
    if (pending.empty()) after.erase("pending");
    else after["pending"] = Json(std::move(pending));
    machine.save();
  }
  finish_conversion_to_basic(machine);
  finish_interrupted_clean(machine);
  // A commit that stopped part way (between disks, or between a database and its partition table)
  // is finished from the newest committed database, as Windows brings its disks up to date when it
  // starts; then the interrupted mirror resynchronisations resume, in the background.
  if (auto mg = group_of(machine)) {
    if (!ldm::stale_disks(mg->group, mg->devices).empty()) commit(machine, *mg);
    finish_interrupted_deletions(machine, *mg);
  }
  reactivate_failed_plexes(machine, std::nullopt);  // a restart tries failed plexes again
  start_rebuilds(machine);
}

std::uint64_t known_bytes(const MachineGroup& mg, std::size_t i) {
  // Each extent in the sectors of its volume's disks (a volume does not mix sector sizes).
  const std::uint32_t id = mg.group.disks.at(i).record.id;
  std::uint64_t bytes = 0;
  for (std::size_t vi = 0; vi < mg.group.volumes.size(); ++vi)
    for (std::size_t pi : mg.group.volumes[vi].partitions)
      if (mg.group.partitions[pi].disk_id == id) bytes += mg.group.partitions[pi].size * ldm::sector_size(mg.group, vi);
  return bytes;
}

void delete_missing_disk(Machine& machine, int number) {
  auto hold = machine.hold();
  auto mg = group_of(machine);
  auto index = mg ? mg->disk_index_of(number, machine) : std::nullopt;
  if (!index) throw UsageError("The selected disk is not a dynamic disk of this computer.");
  // Its plexes go with it: a mirror must keep one elsewhere that holds the data. One still being
  // copied from this disk when it went missing does not, and this disk may come back with it.
  const std::uint32_t id = mg->group.disks[*index].record.id;
  for (std::size_t vi = 0; vi < mg->group.volumes.size(); ++vi) {
    const auto& parts = mg->group.volumes[vi].partitions;
    const auto on = std::count_if(parts.begin(), parts.end(), [&](std::size_t pi) { return mg->group.partitions[pi].disk_id == id; });
    if (on && std::size_t(on) < parts.size() && mg->group.volumes[vi].components.size() > 1 &&
        !has_in_sync_plex(machine, *mg, vi, *index, false))
      throw UsageError(kCouldNotComplete);
  }
  ldm::remove_disk(mg->group, *index);
  commit(machine, *mg);
  forget_disk(machine, number);
}

bool break_mirror(Machine& machine, std::size_t vi, int number, bool keep) {
  auto hold = machine.hold();
  auto mg = group_of(machine);
  if (!mg || vi >= mg->group.volumes.size()) throw UsageError("There is no volume selected.");
  auto di = mg->disk_index_of(number, machine);
  if (!di) throw UsageError("The disk you specified is not valid.");
  if (mg->group.volumes[vi].components.size() < 2) throw UsageError("The volume is not a mirror.");
  // The plex that stays must hold the data, and so must one kept as a volume of its own: a plex
  // still being copied into (or failed) holds no complete copy, and breaking the other off would
  // throw the only one away.
  const bool kept_present = keep && mg->group.disks[*di].device >= 0;
  if (!has_in_sync_plex(machine, *mg, vi, *di, false) || (kept_present && !has_in_sync_plex(machine, *mg, vi, *di, true)))
    throw UsageError(kCouldNotComplete);
  // Windows' volume service drops the boot entries of the running Windows' plex that goes; one on
  // a missing disk it cannot find, and says so (the runbook's "break disk=m0 nokeep").
  const firmware::PlexEntries boot_entries = firmware::plex_entries(machine, vi, number);
  if (boot_entries.reachable) firmware::expect_entries_gone(machine, boot_entries.entries);
  std::optional<std::tuple<std::size_t, std::uint64_t, std::uint64_t>> kept;
  if (kept_present)
    for (std::size_t pi : mg->group.volumes[vi].partitions) {
      const auto& p = mg->group.partitions[pi];
      if (p.disk_id == mg->group.disks[*di].record.id) kept = std::tuple{*di, p.start, p.size};
    }
  ldm::break_mirror(mg->group, vi, *di);
  if (kept) {
    std::string name;
    for (int n = 1;; ++n) {
      name = fmt::format("Volume{}", n);
      if (!mg->group.find_volume(name)) break;
    }
    ldm::add_volume(mg->group, name, ldm::Layout::simple, {*kept});
  }
  commit(machine, *mg);
  firmware::settle_boot_entries(machine);
  return !boot_entries.boot_volume || boot_entries.reachable;
}

}  // namespace bootmirror::dynamic
