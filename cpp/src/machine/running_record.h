// What a boot records of the system it started (machine.json's firmware section, "running"), for
// firmware::running_system: shared by the store's file (firmware_store.cpp), the boot (boot.cpp)
// and the places (firmware_places.cpp).
#pragma once

#include <cstdint>
#include <optional>

#include "bootmirror/firmware.h"

namespace bootmirror::firmware {

struct RunningRecord {
  std::uint16_t entry = 0;                // BootCurrent
  std::optional<Guid> system_partition;   // the ESP its loader came from
  std::optional<Guid> boot_partition;     // the partition its OS load path named
  std::optional<Guid> boot_volume;        // the dynamic volume holding Windows, when it was one
};
void record_running(Machine& machine, const std::optional<RunningRecord>& record);
// The record of a boot that started `entry`, whose targets are `targets`.
RunningRecord running_record_of(Machine& machine, std::uint16_t entry, const EntryTargets& targets);
std::optional<RunningRecord> running_record(Machine& machine);

// The volume a partition holds or belongs to: a basic data partition itself, or the dynamic
// volume (of the machine's own group) with a plex on an LDM data partition.
std::optional<OsVolume> volume_on(Machine& machine, const PartitionPlace& place);
// The dynamic volume of the machine's own group with this GUID.
std::optional<std::size_t> dynamic_volume_by_guid(Machine& machine, const Guid& volume);
// The GUID of dynamic volume `index` of the machine's own group.
std::optional<Guid> dynamic_volume_guid(Machine& machine, std::size_t index);

}  // namespace bootmirror::firmware
