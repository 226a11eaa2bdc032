// The machine's dynamic volumes as block devices and as diskpart shows them. The records say
// which bytes make each plex (ldm::plex_extents); the mirror engine reads and writes them; the
// machine adds what only it knows: which disks are missing and which plex a rebuild is copying.
#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "bootmirror/volumes.h"
#include "machine/dynamic_volumes.h"

namespace bootmirror::dynamic {

std::optional<std::size_t> plex_on_disk(const mirror::VolumeDevice& device, const MachineGroup& mg, std::size_t di) {
  const int on = mg.group.disks.at(di).device;
  if (on < 0) return std::nullopt;
  for (std::size_t p = 0; p < device.plex_count(); ++p)
    for (const mirror::Run& r : device.layout(p).runs)
      if (r.device == std::size_t(on)) return p;
  return std::nullopt;
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
  if (device) {
    std::vector<mirror::PlexLayout> layouts;
    for (std::size_t p = 0; p < fresh->plex_count(); ++p) layouts.push_back(fresh->layout(p));
    device->reconfigure(fresh->devices(), std::move(layouts));
  } else {
    device = fresh;
    live[guid] = device;
  }
  // The plex a rebuild is copying into serves no reads, and takes writes only below its cursor.
  for (std::size_t di = 0; di < mg.group.disks.size(); ++di) {
    auto cursor = rebuild_cursor(machine, guid, mg.group.disks[di].record.guid.to_string());
    if (!cursor) continue;
    // A plex already rebuilding keeps its live cursor (the record holds the last checkpoint only),
    // and one that failed stays failed until its rebuild is tried again.
    auto plex = plex_on_disk(*device, mg, di);
    if (plex && device->plex_count() > 1 && device->plexes()[*plex].state == mirror::PlexState::in_sync)
      device->start_rebuild(*plex, *cursor);
  }
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
  if (status != "Healthy") return status;
  // A plex its device failed since (an I/O error on its disk) cannot serve either.
  const std::string guid = mg.group.volumes.at(vi).record.guid.to_string();
  if (auto it = machine.live_volumes().find(guid); it != machine.live_volumes().end())
    if (auto device = std::static_pointer_cast<mirror::VolumeDevice>(it->second)) {
      const auto plexes = device->plexes();
      const auto failed = std::count_if(plexes.begin(), plexes.end(), [](auto& p) { return p.state == mirror::PlexState::failed; });
      if (failed) return std::size_t(failed) == plexes.size() ? "Failed" : "Failed Rd";
    }
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
