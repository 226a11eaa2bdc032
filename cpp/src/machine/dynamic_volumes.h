// Shared by the machine's dynamic-volume files: which plex of a volume device lies on a disk, and
// where a recorded rebuild of it stands.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "bootmirror/dynamic.h"

namespace bootmirror::dynamic {

// The plex of `device` (made by open_volume) with a run on group disk `disk_index`; nullopt when
// none (the mirror was broken) or the disk is missing.
std::optional<std::size_t> plex_on_disk(const mirror::VolumeDevice& device, const MachineGroup& group, std::size_t disk_index);
// The GUID of the disk each plex of volume `volume_index` lies on, by plex (component) name.
std::map<std::string, Guid> plex_disks(const MachineGroup& group, std::size_t volume_index);
// Brings every live volume device (Machine::live_volumes) up to date with `group`, just committed.
void refresh_live_volumes(Machine& machine, const MachineGroup& group);
// The cursor machine.json records for the rebuild of `volume_guid` onto `disk_guid`, if any.
std::optional<std::uint64_t> rebuild_cursor(Machine& machine, const std::string& volume_guid, const std::string& disk_guid);

}  // namespace bootmirror::dynamic
