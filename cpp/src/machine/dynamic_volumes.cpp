// The machine's dynamic volumes as block devices and as diskpart shows them. The records say
// which bytes make each plex (ldm::plex_extents); the mirror engine reads and writes them; the
// machine adds what only it knows: which disks are missing and which plex a rebuild is copying.
#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "bootmirror/volumes.h"
#include "machine/dynamic_volumes.h"
#include "machine/ldm_section.h"
#include "machine/write_intents.h"

namespace bootmirror::dynamic {

namespace {

// machine.json's list of the bitmaps that must exist; entries it cannot read are left out.
std::set<std::pair<Guid, Guid>> expected_bitmaps(Machine& machine) {
  std::set<std::pair<Guid, Guid>> out;
  Json::Object& s = ldm_section(machine);
  if (!s.count("bitmaps") || !s["bitmaps"].is_array()) return out;
  for (const Json& j : s["bitmaps"].array()) {
    if (!j.is_object() || !j.object().count("volume") || !j.object().count("disk")) continue;
    if (!j["volume"].is_string() || !j["disk"].is_string()) continue;
    try {
      out.emplace(Guid::parse(j["volume"].string()), Guid::parse(j["disk"].string()));
    } catch (const Error&) {
    }
  }
  return out;
}

}  // namespace

std::shared_ptr<WriteIntents> write_intents_of(Machine& machine) {
  auto hold = machine.hold();
  auto intents = machine.write_intents();
  intents->expect(expected_bitmaps(machine));
  return intents;
}

void track_write_intents(Machine& machine, const std::map<std::pair<Guid, Guid>, std::uint64_t>& plexes) {
  auto hold = machine.hold();
  auto intents = machine.write_intents();
  std::set<std::pair<Guid, Guid>> all = expected_bitmaps(machine);
  for (const auto& [plex, volume_bytes] : plexes) {
    intents->track(plex.first, plex.second, volume_bytes);
    all.insert(plex);
  }
  Json::Array list;
  for (const auto& p : all)
    list.push_back(Json(Json::Object{{"volume", Json(p.first.to_string())}, {"disk", Json(p.second.to_string())}}));
  ldm_section(machine)["bitmaps"] = Json(std::move(list));
}

std::optional<std::size_t> plex_on_disk(const mirror::VolumeDevice& device, const MachineGroup& mg, std::size_t di) {
  const int on = mg.group.disks.at(di).device;
  if (on < 0) return std::nullopt;
  for (std::size_t p = 0; p < device.plex_count(); ++p)
    for (const mirror::Run& r : device.layout(p).runs)
      if (r.device == std::size_t(on)) return p;
  return std::nullopt;
}

bool has_in_sync_plex(Machine& machine, const MachineGroup& mg, std::size_t vi, std::size_t di, bool on) {
  auto device = open_volume(machine, mg, vi);
  if (!device) return true;
  const Guid& disk = mg.group.disks.at(di).record.guid;
  const auto disks = plex_disks(mg, vi);
  for (const mirror::PlexStatus& p : device->plexes())
    if (auto d = disks.find(p.name); d != disks.end() && (d->second == disk) == on && p.state == mirror::PlexState::in_sync) return true;
  return false;
}

std::map<std::string, Guid> plex_disks(const MachineGroup& mg, std::size_t vi) {
  std::map<std::string, Guid> out;
  for (std::size_t ci : mg.group.volumes.at(vi).components) {
    const ldm::ComponentRecord& c = mg.group.components.at(ci);
    for (const ldm::PartitionRecord& p : mg.group.partitions)
      if (p.component_id == c.id)
        if (const ldm::GroupDisk* d = mg.group.find_disk(p.disk_id); d && !out.count(c.name)) out[c.name] = d->record.guid;
  }
  return out;
}

std::shared_ptr<mirror::VolumeDevice> open_volume(Machine& machine, const MachineGroup& mg, std::size_t vi) {
  auto hold = machine.hold();
  auto fresh = mirror::open_ldm_volume(mg.group, mg.devices, vi);
  // One device per volume for as long as the machine runs: brought up to date with the group, not
  // replaced.
  const std::string guid = mg.group.volumes.at(vi).record.guid.to_string();
  auto& live = machine.live_volumes();
  std::shared_ptr<mirror::VolumeDevice> device;
  if (auto it = live.find(guid); it != live.end()) device = std::static_pointer_cast<mirror::VolumeDevice>(it->second);
  if (!fresh) {
    if (device) device->reconfigure({}, {});
    return nullptr;
  }
  // The plexes a rebuild is copying into serve no reads, and take writes only below their cursor:
  // a recorded copy (add disk=N) from its checkpoint, a plex whose write-intent bitmap says it
  // missed writes from the start (only the marked regions are copied).
  const ldm::GroupVolume& volume = mg.group.volumes[vi];
  const std::map<std::string, Guid> disks = plex_disks(mg, vi);
  auto intents = write_intents_of(machine);
  const std::uint64_t size = fresh->size();
  std::vector<std::optional<std::uint64_t>> rebuild_from(fresh->plex_count());
  for (std::size_t p = 0; p < fresh->plex_count() && fresh->plex_count() > 1; ++p) {
    auto disk = disks.find(fresh->layout(p).name);
    if (disk == disks.end()) continue;
    if (auto cursor = rebuild_cursor(machine, guid, disk->second.to_string())) {
      rebuild_from[p] = cursor;
      intents->full_copy(volume.record.guid, disk->second, true);
    } else if (fresh->plexes()[p].state == mirror::PlexState::in_sync && intents->behind(volume.record.guid, disk->second, size)) {
      rebuild_from[p] = 0;
    }
  }
  if (device) {
    // A plex already rebuilding keeps its live cursor (the record holds the last checkpoint
    // only), one that failed stays failed until its rebuild is tried again, and a plex that comes
    // back (its disk returned) starts rebuilding at once.
    std::vector<mirror::PlexLayout> layouts;
    for (std::size_t p = 0; p < fresh->plex_count(); ++p) layouts.push_back(fresh->layout(p));
    device->reconfigure(fresh->devices(), std::move(layouts), rebuild_from);
  } else {
    device = fresh;
    for (std::size_t p = 0; p < rebuild_from.size(); ++p)
      if (rebuild_from[p]) device->start_rebuild(p, *rebuild_from[p]);
    live[guid] = device;
  }
  // A write that a plex misses is marked in that plex's bitmap before it is issued.
  device->on_missed_write([intents, volume_guid = volume.record.guid, disks, size](
                              const std::vector<std::string>& plexes, std::uint64_t offset, std::uint64_t length) {
    for (const std::string& name : plexes)
      if (auto disk = disks.find(name); disk != disks.end()) intents->mark(volume_guid, disk->second, size, offset, length);
  });
  return device;
}

void refresh_live_volumes(Machine& machine, const MachineGroup& mg) {
  auto hold = machine.hold();
  auto& live = machine.live_volumes();
  for (auto it = live.begin(); it != live.end();) {
    auto device = std::static_pointer_cast<mirror::VolumeDevice>(it->second);
    if (!device) {
      it = live.erase(it);
      continue;
    }
    std::optional<std::size_t> vi;
    for (std::size_t i = 0; i < mg.group.volumes.size(); ++i)
      if (mg.group.volumes[i].record.guid.to_string() == it->first) vi = i;
    ++it;
    if (vi) open_volume(machine, mg, *vi);
    else device->reconfigure({}, {});  // the volume was deleted: its device fails every access
  }
}

std::optional<std::size_t> volume_index(const MachineGroup& mg, std::string_view which) {
  if (!which.empty() && std::all_of(which.begin(), which.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (which.size() > 3) return std::nullopt;
    const std::size_t n = std::stoul(std::string(which));
    return n < mg.group.volumes.size() ? std::optional(n) : std::nullopt;
  }
  const bool letter = (which.size() == 1 || (which.size() >= 2 && which[1] == ':' && (which.size() == 2 || which.substr(2) == "\\"))) &&
                      std::isalpha(static_cast<unsigned char>(which[0]));
  if (!letter) throw UsageError(fmt::format("'{}' is neither a drive letter nor a volume number", which));
  for (std::size_t i = 0; i < mg.group.volumes.size(); ++i)
    if (ldm::drive_letter(mg.group.volumes[i].record) == std::toupper(static_cast<unsigned char>(which[0]))) return i;
  return std::nullopt;
}

std::string volume_status(Machine& machine, const MachineGroup& mg, std::size_t vi) {
  auto hold = machine.hold();
  const std::string status = ldm::volume_status(mg.group, vi);
  if (status == "Failed") return status;
  // The records know which disks are missing; the volume's device knows more: a plex its device
  // failed since (an I/O error on its disk), and a plex still being copied, which cannot serve
  // (the only plex left is half a copy: "Failed").
  if (auto device = open_volume(machine, mg, vi)) {
    if (!device->readable()) return "Failed";
    if (status != "Healthy") return status;
    const auto plexes = device->plexes();
    const auto failed = std::count_if(plexes.begin(), plexes.end(), [](auto& p) { return p.state == mirror::PlexState::failed; });
    if (failed) return std::size_t(failed) == plexes.size() ? "Failed" : "Failed Rd";
    if (std::any_of(plexes.begin(), plexes.end(), [](auto& p) { return p.state == mirror::PlexState::rebuilding; }))
      return "Rebuild";
  }
  if (status != "Healthy") return status;
  // Only a mirror rebuilds: a record left by an add that failed before its commit means nothing.
  const bool mirror = mg.group.volumes.at(vi).components.size() > 1;
  return mirror && is_rebuilding(machine, mg.group.volumes[vi].record.guid.to_string()) ? "Rebuild" : status;
}

std::pair<std::string, std::string> file_system_of(Machine& machine, const MachineGroup& mg, std::size_t vi) {
  auto device = open_volume(machine, mg, vi);
  if (!device || !device->readable()) return {};
  auto found = file_system_on(machine, device);
  if (!found) return {};
  return {found->name, found->label};
}

}  // namespace bootmirror::dynamic
