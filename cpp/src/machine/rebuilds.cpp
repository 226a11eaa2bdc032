// Mirror rebuilds on a Machine: diskpart's "add disk=N" and the resynchronisations Windows resumes
// when it starts. machine.json records each rebuild in progress ("ldm"/"rebuilding": the volume's
// GUID, the GUID of the disk receiving the copy, and the copy cursor in bytes) before the copy
// starts, moves the cursor at each durable checkpoint (the new plex's devices flushed first), and
// clears the record only after the copy was verified: an interrupted rebuild stays "Rebuild" and
// resumes from its last checkpoint. The record lives in the machine folder, never in space that
// Windows or ldmtool read. The copies themselves run in the machine's background thread
// (rebuild_worker.h), which calls back here for the records.
#include <fmt/format.h>

#include "bootmirror/dynamic.h"
#include "bootmirror/mirror.h"
#include "machine/dynamic_volumes.h"
#include "machine/ldm_section.h"
#include "machine/rebuild_worker.h"
#include "machine/rebuilds.h"

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

std::vector<RebuildJob> runnable_rebuilds(Machine& machine) {
  auto hold = machine.hold();
  if (machine.closed()) return {};
  auto mg = group_of(machine);
  std::vector<RebuildJob> out;
  for (const RebuildRecord& r : rebuild_records(machine)) {
    const auto vi = mg ? index_by_guid(mg->group.volumes, r.volume) : std::nullopt;
    std::optional<std::size_t> di;
    for (std::size_t i = 0; mg && i < mg->group.disks.size(); ++i)
      if (mg->group.disks[i].record.guid.to_string() == r.disk) di = i;
    // A missing disk keeps its record until it returns.
    if (vi && di && mg->group.disks[*di].device < 0) continue;
    // A volume, disk or plex that is gone (deleted volume, deleted disk, broken mirror) has nothing
    // left to rebuild.
    auto device = vi && di ? open_volume(machine, *mg, *vi) : nullptr;
    if (device && plex_on_disk(*device, *mg, *di) && device->plex_count() > 1) out.push_back(RebuildJob{r.volume, r.disk});
    else record_rebuild(machine, r.volume, r.disk, std::nullopt);
  }
  return out;
}

RebuildEnd run_recorded_rebuild(Machine& machine, const RebuildJob& job, const mirror::ProgressCallback& pace) {
  std::shared_ptr<mirror::VolumeDevice> device;
  std::size_t plex = 0;
  std::uint64_t cursor = 0;
  {
    auto hold = machine.hold();
    auto mg = group_of(machine);
    const auto vi = mg ? index_by_guid(mg->group.volumes, job.volume) : std::nullopt;
    const auto recorded = rebuild_cursor(machine, job.volume, job.disk);
    if (!vi || !recorded) return RebuildEnd::reconfigured;
    std::optional<std::size_t> di;
    for (std::size_t i = 0; i < mg->group.disks.size(); ++i)
      if (mg->group.disks[i].record.guid.to_string() == job.disk) di = i;
    device = di ? open_volume(machine, *mg, *vi) : nullptr;
    const auto found = device ? plex_on_disk(*device, *mg, *di) : std::nullopt;
    if (!found) return RebuildEnd::reconfigured;
    plex = *found;
    cursor = *recorded;
  }
  mirror::RebuildOptions options;
  options.progress = pace;
  // Durable progress: the plex's devices are flushed before this runs. A record that went away
  // meanwhile (the mirror was broken) is not brought back.
  options.checkpoint = [&](std::uint64_t at) {
    auto hold = machine.hold();
    if (at < device->size() && !machine.closed() && rebuild_cursor(machine, job.volume, job.disk))
      record_rebuild(machine, job.volume, job.disk, at);
  };
  try {
    if (!mirror::rebuild(*device, plex, cursor, options)) return RebuildEnd::stopped;
  } catch (const mirror::Reconfigured&) {
    return RebuildEnd::reconfigured;
  }
  auto hold = machine.hold();
  if (!machine.closed() && rebuild_cursor(machine, job.volume, job.disk)) record_rebuild(machine, job.volume, job.disk, std::nullopt);
  return RebuildEnd::done;
}

std::vector<RebuildStatus> rebuild_status(Machine& machine) {
  auto hold = machine.hold();
  auto mg = group_of(machine);
  std::vector<RebuildStatus> out;
  for (const RebuildRecord& r : rebuild_records(machine)) {
    const auto vi = mg ? index_by_guid(mg->group.volumes, r.volume) : std::nullopt;
    if (!vi || mg->group.volumes[*vi].components.size() < 2) continue;  // nothing left to copy
    RebuildStatus status{*vi, std::nullopt, r.cursor, ldm::size_bytes(mg->group, *vi)};
    for (std::size_t di = 0; di < mg->group.disks.size(); ++di) {
      if (mg->group.disks[di].record.guid.to_string() != r.disk) continue;
      if (mg->group.disks[di].device >= 0) status.disk = mg->numbers.at(std::size_t(mg->group.disks[di].device));
      // The copy's live cursor, when its device is in use.
      if (auto it = machine.live_volumes().find(r.volume); it != machine.live_volumes().end())
        if (auto device = std::static_pointer_cast<mirror::VolumeDevice>(it->second))
          if (auto plex = plex_on_disk(*device, *mg, di))
            if (const auto p = device->plexes().at(*plex); p.state == mirror::PlexState::rebuilding) status.done = p.cursor;
    }
    out.push_back(status);
  }
  return out;
}

void start_rebuilds(Machine& machine) {
  auto hold = machine.hold();
  machine.rebuild_worker().start();
}

bool wait_for_rebuilds(Machine& machine, std::optional<std::chrono::milliseconds> timeout) {
  start_rebuilds(machine);
  return machine.rebuild_worker().wait(timeout);
}

void set_rebuild_speed_limit(Machine& machine, std::optional<std::uint64_t> bytes_per_second) {
  machine.rebuild_worker().set_speed_limit(bytes_per_second);
}

std::optional<std::uint64_t> rebuild_speed_limit(Machine& machine) { return machine.rebuild_worker().speed_limit(); }

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
  // The copy runs in the background, as Windows' does; the volume shows Rebuild until it is done.
  machine.rebuild_worker().start();
}

void resync(Machine& machine) {
  {
    auto hold = machine.hold();
    auto mg = group_of(machine);
    // A commit that stopped part way (the new plex's LDM data partition missing from a GPT, a disk
    // with the older database) is finished first, so that the GPT, the database and the bytes
    // agree before any copy resumes.
    if (mg && !ldm::stale_disks(mg->group, mg->devices).empty()) commit(machine, *mg);
  }
  wait_for_rebuilds(machine);
}

}  // namespace bootmirror::dynamic
