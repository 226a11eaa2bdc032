// Shared by the machine's dynamic-volume files: which plex of a volume device lies on a disk, and
// where a recorded rebuild of it stands.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "bootmirror/dynamic.h"

namespace bootmirror::dynamic {

// The plex of `device` (made by open_volume) with a run on group disk `disk_index`; nullopt when
// none (the mirror was broken) or the disk is missing.
std::optional<std::size_t> plex_on_disk(const mirror::VolumeDevice& device, const MachineGroup& group, std::size_t disk_index);
// Whether volume `volume_index` has a plex holding its data (in sync: neither failed nor being
// copied into) on group disk `disk_index` (`on` true) or off it (`on` false). True for a volume
// with no device (no plex its records describe): there is nothing in it to lose.
bool has_in_sync_plex(Machine& machine, const MachineGroup& group, std::size_t volume_index, std::size_t disk_index, bool on);
// The GUID of the disk each plex of volume `volume_index` lies on, by plex (component) name.
std::map<std::string, Guid> plex_disks(const MachineGroup& group, std::size_t volume_index);
// Brings every live volume device (Machine::live_volumes) up to date with `group`, just committed.
void refresh_live_volumes(Machine& machine, const MachineGroup& group);
// The cursor machine.json records for the rebuild of `volume_guid` onto `disk_guid`, if any.
std::optional<std::uint64_t> rebuild_cursor(Machine& machine, const std::string& volume_guid, const std::string& disk_guid);
// The machine's write-intent bitmaps, knowing which of them machine.json says must exist
// ("ldm"/"bitmaps": the volume and disk GUID of each), so that a lost one means a full copy.
std::shared_ptr<WriteIntents> write_intents_of(Machine& machine);
// The plexes on a failing disk, by (volume, disk) GUIDs, with their volumes' sizes: their bitmap
// files are made now, and machine.json lists them (saved by the caller).
void track_write_intents(Machine& machine, const std::map<std::pair<Guid, Guid>, std::uint64_t>& plexes);

}  // namespace bootmirror::dynamic
