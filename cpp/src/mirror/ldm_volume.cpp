// A volume of an LDM disk group as a VolumeDevice: the ldm module says which bytes make each plex
// (ldm::plex_extents); this turns them into runs over the group's devices.
#include <fmt/format.h>

#include "bootmirror/mirror.h"
#include "bootmirror/unicode.h"

namespace bootmirror::mirror {

std::shared_ptr<VolumeDevice> open_ldm_volume(const ldm::Group& group, const std::vector<DevicePtr>& group_devices,
                                              std::size_t volume_index) {
  if (volume_index >= group.volumes.size()) throw UsageError(fmt::format("no volume {} in the group", volume_index));
  const ldm::GroupVolume& v = group.volumes[volume_index];
  // The group's devices, and one null device past them that the runs on missing disks name.
  std::vector<DevicePtr> devices = group_devices;
  const std::size_t missing = devices.size();
  devices.push_back(nullptr);
  std::vector<PlexLayout> plexes;
  for (std::size_t ci : v.components) {
    auto extents = ldm::plex_extents(group, ci);
    if (!extents) continue;  // records that describe no readable plex: it cannot serve at all
    PlexLayout layout{extents->name, extents->striped, extents->stripe_bytes, {}};
    for (const ldm::PlexRun& r : extents->runs) {
      const bool present = r.device >= 0 && std::size_t(r.device) < group_devices.size() && group_devices[std::size_t(r.device)];
      layout.runs.push_back(Run{present ? std::size_t(r.device) : missing, r.device_offset, r.volume_offset, r.length});
    }
    plexes.push_back(std::move(layout));
  }
  if (plexes.empty()) return nullptr;
  return std::make_shared<VolumeDevice>(escape_bytes(v.record.name), ldm::size_bytes(group, volume_index),
                                        ldm::sector_size(group, volume_index), std::move(devices), std::move(plexes));
}

}  // namespace bootmirror::mirror
