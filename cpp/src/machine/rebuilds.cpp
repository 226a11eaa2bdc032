// Mirror rebuilds on a Machine: diskpart's "add disk=N" and the resynchronisations Windows resumes
// when it starts. machine.json records each rebuild in progress ("ldm"/"rebuilding": the volume's
// GUID, the GUID of the disk receiving the copy, and the copy cursor in bytes) before the copy
// starts, moves the cursor at each durable checkpoint (the new plex's devices flushed first), and
// clears the record only after the copy was verified: an interrupted rebuild stays "Rebuild" and
// resumes from its last checkpoint. The record lives in the machine folder, never in space that
// Windows or ldmtool read.
#include <fmt/format.h>

#include "bootmirror/dynamic.h"
#include "bootmirror/mirror.h"
#include "machine/dynamic_volumes.h"
#include "machine/ldm_section.h"

namespace bootmirror::dynamic {

namespace {

struct RebuildRecord {
  std::string volume, disk;
  std::uint64_t cursor = 0;
};

std::vector<RebuildRecord> rebuild_records(Machine& machine) {
  Json::Object& s = ldm_section(machine);
  std::vector<RebuildRecord> out;
  if (!s.count("rebuilding") || !s["rebuilding"].is_array()) return out;
  for (const Json& j : s["rebuilding"].array()) {
    if (!j.is_object() || !j.object().count("volume") || !j.object().count("disk")) continue;
    if (!j["volume"].is_string() || !j["disk"].is_string()) continue;
    const Json& cursor = j.object().count("cursor") ? j["cursor"] : Json(0);
    out.push_back(RebuildRecord{j["volume"].string(), j["disk"].string(),
                                cursor.is_integer() && cursor.integer() > 0 ? std::uint64_t(cursor.integer()) : 0});
  }
  return out;
}

// Records (cursor set) or clears (nullopt) the rebuild of `volume`, durably.
void record_rebuild(Machine& machine, const std::string& volume, const std::string& disk, std::optional<std::uint64_t> cursor) {
  Json::Array list;
  for (const RebuildRecord& r : rebuild_records(machine))
    if (r.volume != volume)
      list.push_back(Json(Json::Object{{"volume", Json(r.volume)}, {"disk", Json(r.disk)}, {"cursor", Json(r.cursor)}}));
  if (cursor) list.push_back(Json(Json::Object{{"volume", Json(volume)}, {"disk", Json(disk)}, {"cursor", Json(*cursor)}}));
  Json::Object& s = ldm_section(machine);
  if (list.empty()) s.erase("rebuilding");
  else s["rebuilding"] = Json(std::move(list));
  machine.save();
}

std::optional<std::size_t> index_by_guid(const std::vector<ldm::GroupVolume>& volumes, const std::string& guid) {
  for (std::size_t i = 0; i < volumes.size(); ++i)
    if (volumes[i].record.guid.to_string() == guid) return i;
  return std::nullopt;
}

// Copies volume `vi` into its plex on group disk `di`, from `cursor`, checkpointing into machine.json.
void run_rebuild(Machine& machine, const MachineGroup& mg, std::size_t vi, std::size_t di, std::uint64_t cursor) {
  auto device = open_volume(machine, mg, vi);
  const std::string volume = mg.group.volumes[vi].record.guid.to_string();
  const std::string disk = mg.group.disks[di].record.guid.to_string();
  if (!device) throw UsageError("The volume has no healthy copy to mirror from.");
  const auto plex = plex_on_disk(*device, mg, di);
  if (!plex) return;  // the plex is gone (a broken mirror): nothing left to copy
  mirror::RebuildOptions options;
  options.checkpoint = [&](std::uint64_t at) {
    if (at < device->size()) record_rebuild(machine, volume, disk, at);
  };
  mirror::rebuild(*device, *plex, cursor, options);
}

}  // namespace

bool is_rebuilding(Machine& machine, const std::string& volume_guid) {
  auto hold = machine.hold();
  for (const RebuildRecord& r : rebuild_records(machine))
    if (r.volume == volume_guid) return true;
  return false;
}

std::optional<std::uint64_t> rebuild_cursor(Machine& machine, const std::string& volume_guid, const std::string& disk_guid) {
  auto hold = machine.hold();
  for (const RebuildRecord& r : rebuild_records(machine))
    if (r.volume == volume_guid && r.disk == disk_guid) return r.cursor;
  return std::nullopt;
}

void add_mirror(Machine& machine, std::size_t vi, int number) {
  auto hold = machine.hold();
  auto mg = group_of(machine);
  if (!mg || vi >= mg->group.volumes.size()) throw UsageError("There is no volume selected.");
  auto di = mg->disk_index_of(number, machine);
  if (!di || mg->group.disks[*di].device < 0) throw UsageError("The disk you specified is not a dynamic disk.");
  {
    auto source = open_volume(machine, *mg, vi);
    if (!source || !source->readable()) throw UsageError("The volume has no healthy copy to mirror from.");
  }
  const ldm::GroupVolume& vol = mg->group.volumes[vi];
  std::optional<std::uint64_t> start;
  for (auto [s, n] : ldm::free_extents(mg->group, *di))
    if (n >= vol.record.size) { start = s; break; }
  if (!start) throw UsageError("There is not enough usable space for this operation.");
  const std::string volume = vol.record.guid.to_string();
  const std::string disk = mg->group.disks[*di].record.guid.to_string();
  // Recorded before the plex exists: a crash after the commit leaves a plex that is known to need
  // its copy (a record without a plex means nothing and is dropped by resync).
  record_rebuild(machine, volume, disk, 0);
  ldm::add_mirror(mg->group, vi, *di, *start);
  commit(machine, *mg);
  run_rebuild(machine, *mg, vi, *di, 0);
  record_rebuild(machine, volume, disk, std::nullopt);
}

void resync(Machine& machine) {
  auto hold = machine.hold();
  auto mg = group_of(machine);
  // A commit that stopped part way (the new plex's LDM data partition missing from a GPT, a disk
  // with the older database) is finished first, so that the GPT, the database and the bytes agree.
  if (mg && !ldm::stale_disks(mg->group, mg->devices).empty()) {
    commit(machine, *mg);
    mg = group_of(machine);
  }
  for (const RebuildRecord& r : rebuild_records(machine)) {
    const auto vi = mg ? index_by_guid(mg->group.volumes, r.volume) : std::nullopt;
    std::optional<std::size_t> di;
    for (std::size_t i = 0; mg && i < mg->group.disks.size(); ++i)
      if (mg->group.disks[i].record.guid.to_string() == r.disk) di = i;
    // A volume or disk that is gone (deleted volume, deleted disk) has nothing left to rebuild; a
    // missing disk keeps its record until it returns.
    if (vi && di && mg->group.disks[*di].device < 0) continue;
    if (vi && di) run_rebuild(machine, *mg, *vi, *di, r.cursor);
    record_rebuild(machine, r.volume, r.disk, std::nullopt);
  }
}

}  // namespace bootmirror::dynamic
