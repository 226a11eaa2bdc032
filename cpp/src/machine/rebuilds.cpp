// Mirror rebuilds on a Machine: diskpart's "add disk=N" and the resynchronisations Windows resumes
// when it starts. machine.json records each rebuild in progress ("ldm"/"rebuilding": the volume's
// GUID, the GUID of the disk receiving the copy, and the copy cursor in bytes) before the copy
// starts, moves the cursor at each durable checkpoint (the new plex's devices flushed first), and
// clears the record only after the copy was verified: an interrupted rebuild stays "Rebuild" and
// resumes from its last checkpoint. The record lives in the machine folder, never in space that
// Windows or ldmtool read. The copies themselves run in the machine's background thread
// (rebuild_worker.h), which calls back here for the records.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "bootmirror/dynamic.h"
#include "bootmirror/firmware.h"
#include "bootmirror/mirror.h"
#include "bootmirror/partitioning.h"
#include "machine/dynamic_volumes.h"
#include "machine/ldm_section.h"
#include "machine/rebuild_worker.h"
#include "machine/rebuilds.h"
#include "machine/write_intents.h"

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

// A plex that failed in this run of the machine (an I/O error on its disk) is left alone until the
// disk is reactivated or the machine restarts, as Windows leaves it "Failed Rd": copying onto a
// disk that just failed would fail again, and every wait() would raise its error.
bool held_failed(const mirror::VolumeDevice& device, std::size_t plex) {
  return device.plexes().at(plex).state == mirror::PlexState::failed;
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
    const auto plex = device ? plex_on_disk(*device, *mg, *di) : std::nullopt;
    if (plex && device->plex_count() > 1) {
      if (!held_failed(*device, *plex)) out.push_back(RebuildJob{r.volume, r.disk});
    } else {
      record_rebuild(machine, r.volume, r.disk, std::nullopt);
    }
  }
  // Plexes back from a missing or failed disk: what their bitmaps say they missed.
  auto intents = write_intents_of(machine);
  for (std::size_t vi = 0; mg && vi < mg->group.volumes.size(); ++vi) {
    const ldm::GroupVolume& v = mg->group.volumes[vi];
    if (v.components.size() < 2) continue;
    for (const auto& plex_disk : plex_disks(*mg, vi)) {
      // Named, not a structured binding: clang 14 cannot capture bindings in a lambda.
      const auto& disk = plex_disk.second;
      const ldm::GroupDisk* d = nullptr;
      for (const ldm::GroupDisk& g : mg->group.disks)
        if (g.record.guid == disk) d = &g;
      const bool recorded = std::any_of(out.begin(), out.end(), [&](const RebuildJob& j) {
        return j.volume == v.record.guid.to_string() && j.disk == disk.to_string();
      });
      if (!d || d->device < 0 || recorded || !intents->behind(v.record.guid, disk, ldm::size_bytes(mg->group, vi))) continue;
      auto device = open_volume(machine, *mg, vi);
      const auto plex = device ? plex_on_disk(*device, *mg, std::size_t(d - mg->group.disks.data())) : std::nullopt;
      if (plex && !held_failed(*device, *plex)) out.push_back(RebuildJob{v.record.guid.to_string(), disk.to_string(), true});
    }
  }
  return out;
}

RebuildEnd run_recorded_rebuild(Machine& machine, const RebuildJob& job, const mirror::ProgressCallback& pace) {
  std::shared_ptr<mirror::VolumeDevice> device;
  std::size_t plex = 0;
  std::string plex_name;
  std::uint64_t cursor = 0, generation = 0;
  {
    auto hold = machine.hold();
    auto mg = group_of(machine);
    const auto vi = mg ? index_by_guid(mg->group.volumes, job.volume) : std::nullopt;
    const auto recorded = job.from_bitmap ? std::optional<std::uint64_t>(0) : rebuild_cursor(machine, job.volume, job.disk);
    if (!vi || !recorded) return RebuildEnd::reconfigured;
    std::optional<std::size_t> di;
    for (std::size_t i = 0; i < mg->group.disks.size(); ++i)
      if (mg->group.disks[i].record.guid.to_string() == job.disk) di = i;
    device = di ? open_volume(machine, *mg, *vi) : nullptr;
    const auto found = device ? plex_on_disk(*device, *mg, *di) : std::nullopt;
    if (!found) return RebuildEnd::reconfigured;
    plex = *found;
    plex_name = device->layout(plex).name;
    cursor = *recorded;
    generation = device->generation();
  }
  mirror::RebuildOptions options;
  options.progress = pace;
  auto intents = write_intents_of(machine);
  const Guid volume = Guid::parse(job.volume), disk = Guid::parse(job.disk);
  if (job.from_bitmap) {
    options.only = intents->behind(volume, disk, device->size());
    if (!options.only) options.only.emplace();  // cleared since it was looked at: nothing to copy
  }
  // Durable progress: the plex's devices are flushed before this runs. A record that went away
  // meanwhile (the mirror was broken) is not brought back.
  // (A bitmap's regions are copied again in full after an interruption: it has no checkpoints.)
  if (!job.from_bitmap)
    options.checkpoint = [&](std::uint64_t at) {
      auto hold = machine.hold();
      // Checked under the machine's lock: fail_disk resets the record and reconfigures the volume
      // under it, and a cursor recorded after that would skip what the plex missed.
      if (device->generation() != generation) return;
      if (at < device->size() && !machine.closed() && rebuild_cursor(machine, job.volume, job.disk))
        record_rebuild(machine, job.volume, job.disk, at);
    };
  try {
    if (!mirror::rebuild(*device, plex, cursor, options)) return RebuildEnd::stopped;
  } catch (const mirror::Reconfigured&) {
    return RebuildEnd::reconfigured;
  }
  auto hold = machine.hold();
  if (machine.closed()) return RebuildEnd::stopped;
  // The plex is in sync: what it missed is in it now. The bitmap goes first: a crash in between
  // leaves the record, and the copy is redone.
  intents->clear(volume, disk, device->size(), [&] {
    const auto states = device->plexes();
    return std::any_of(states.begin(), states.end(), [&](const mirror::PlexStatus& p) {
      return p.name == plex_name && p.state == mirror::PlexState::in_sync;
    });
  });
  if (rebuild_cursor(machine, job.volume, job.disk)) record_rebuild(machine, job.volume, job.disk, std::nullopt);
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
  // Copies from write-intent bitmaps have no record: their live plexes say where they are.
  for (std::size_t vi = 0; mg && vi < mg->group.volumes.size(); ++vi) {
    const std::string guid = mg->group.volumes[vi].record.guid.to_string();
    auto it = machine.live_volumes().find(guid);
    if (it == machine.live_volumes().end()) continue;
    auto device = std::static_pointer_cast<mirror::VolumeDevice>(it->second);
    const auto disks = plex_disks(*mg, vi);
    const auto plexes = device->plexes();
    for (const mirror::PlexStatus& p : plexes) {
      auto disk = disks.find(p.name);
      if (p.state != mirror::PlexState::rebuilding || disk == disks.end()) continue;
      if (std::any_of(out.begin(), out.end(), [&](const RebuildStatus& r) { return r.volume == vi; })) continue;
      RebuildStatus status{vi, std::nullopt, p.cursor, device->size()};
      for (std::size_t di = 0; di < mg->group.disks.size(); ++di)
        if (mg->group.disks[di].record.guid == disk->second) status.disk = mg->number_of(di, machine);
      out.push_back(status);
    }
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
  const std::uint32_t id = mg->group.disks[*di].record.id;
  for (std::size_t pi : mg->group.volumes[vi].partitions)
    if (mg->group.partitions[pi].disk_id == id)
      throw UsageError("The disk is already in use by the volume.");  // VDS_E_DISK_IN_USE_BY_VOLUME
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
  // Mirroring the running Windows' volume adds a boot entry for the new plex (owed from now on,
  // made once the plex is committed).
  firmware::expect_plex_entry(machine, vi, number);
  ldm::add_mirror(mg->group, vi, *di, *start);
  commit(machine, *mg);
  firmware::settle_boot_entries(machine);
  // The copy runs in the background, as Windows' does; the volume shows Rebuild until it is done.
  machine.rebuild_worker().start();
}

void fail_disk(Machine& machine, int number) {
  auto hold = machine.hold();
  if (!machine.has_disk(number) || machine.disk(number).missing()) machine.fail_disk(number);  // its refusal
  // Writes go on without the disk's plexes; each write they miss is marked in their write-intent
  // bitmaps (open_volume), so that only those regions are copied when the disk comes back. A copy
  // onto the disk that was under way starts again from the beginning then: writes below its
  // cursor miss it from now on, and its record has no bitmap.
  if (auto mg = group_of(machine))
    if (auto di = mg->disk_index_of(number, machine)) {
      const Guid disk = mg->group.disks[*di].record.guid;
      for (const RebuildRecord& r : rebuild_records(machine))
        if (r.disk == disk.to_string() && r.cursor > 0) record_rebuild(machine, r.volume, r.disk, 0);
      // Its plexes' bitmaps exist from now on, and machine.json says so in the save that records
      // the failure: a bitmap lost later means a full copy when the disk returns.
      std::map<std::pair<Guid, Guid>, std::uint64_t> plexes;
      for (std::size_t vi = 0; vi < mg->group.volumes.size(); ++vi) {
        if (mg->group.volumes[vi].components.size() < 2) continue;
        for (const auto& plex_disk : plex_disks(*mg, vi))
          if (plex_disk.second == disk) plexes[{mg->group.volumes[vi].record.guid, disk}] = ldm::size_bytes(mg->group, vi);
      }
      track_write_intents(machine, plexes);
    }
  machine.fail_disk(number);
  if (auto mg = group_of(machine)) refresh_live_volumes(machine, *mg);
  // A copy onto the disk (or from it) stops at its next chunk; the others go on.
  machine.rebuild_worker().start();
}

int replace_disk(Machine& machine, int number, DevicePtr device) {
  auto hold = machine.hold();
  if (machine.has_disk(number) && !machine.disk(number).missing()) fail_disk(machine, number);
  // machine.json's "ldm" section knows group disks by machine number: the pulled disk's entry
  // moves with it, in the same save, so the group finds its missing disk under the new number.
  const int moved_to = machine.replace_disk(number, std::move(device), [&](int to) {
    Json::Object& s = ldm_section(machine);
    if (!s.count("disks") || !s["disks"].is_object()) return;
    Json::Object disks = s["disks"].object();
    auto it = disks.find(std::to_string(number));
    if (it == disks.end()) return;
    Json guid = it->second;
    disks.erase(it);
    disks[std::to_string(to)] = std::move(guid);
    s["disks"] = Json(std::move(disks));
  });
  if (auto mg = group_of(machine)) refresh_live_volumes(machine, *mg);
  return moved_to;
}

namespace {

constexpr const char* kCleaning = "cleaning";

// The wipe a recorded clean of a group's disk still owes (ldm section "cleaning": the disk's
// number), then the record struck off; each step done again after a crash changes nothing more.
void finish_clean(Machine& machine) {
  Json::Object& s = ldm_section(machine);
  if (!s.count(kCleaning)) return;
  const int number = int(s[kCleaning].integer("the cleaning disk", 0, INT32_MAX));
  if (machine.has_disk(number) && !machine.disk(number).missing()) {
    partitioning::clean(*machine.disk(number).device);
    machine.disk(number).device->flush();
  }
  ldm_section(machine).erase(kCleaning);
  machine.save();
}

}  // namespace

std::optional<int> clean_disk(Machine& machine, int number) {
  auto hold = machine.hold();
  const AttachedDisk& disk = machine.disk(number);
  if (disk.missing()) throw UsageError("The disk is missing or not ready.");
  std::optional<std::string> member;  // the LDM GUID of the group's disk in this slot
  if (auto mg = group_of(machine))
    if (auto di = mg->disk_index_of(number, machine)) member = mg->group.disks[*di].record.guid.to_string();
  if (!member) {
    partitioning::clean(*disk.device);
    return std::nullopt;
  }
  // machine.json first names the gone disk, moves the group's disk to it and records the wipe it
  // owes; then the disk is wiped and the record struck off. A crash in between leaves the record,
  // and the restart wipes the disk (finish_interrupted_clean): before, or after, never half.
  const int gone = machine.add_gone_disk(disk.sector_size, [&](int to) {
    Json::Object& s = ldm_section(machine);
    Json::Object disks = s.count("disks") && s["disks"].is_object() ? s["disks"].object() : Json::Object{};
    disks.erase(std::to_string(number));
    disks[std::to_string(to)] = Json(*member);
    s["disks"] = Json(std::move(disks));
    s[kCleaning] = Json(number);
  });
  finish_clean(machine);
  if (auto mg = group_of(machine)) refresh_live_volumes(machine, *mg);
  machine.rebuild_worker().start();
  return gone;
}

void finish_interrupted_clean(Machine& machine) {
  auto hold = machine.hold();
  finish_clean(machine);
}

void reactivate_failed_plexes(Machine& machine, std::optional<int> number) {
  auto hold = machine.hold();
  auto mg = group_of(machine);
  if (!mg) return;
  for (std::size_t vi = 0; vi < mg->group.volumes.size(); ++vi) {
    if (mg->group.volumes[vi].components.size() < 2) continue;
    auto device = open_volume(machine, *mg, vi);
    if (!device) continue;
    const std::string volume = mg->group.volumes[vi].record.guid.to_string();
    for (std::size_t di = 0; di < mg->group.disks.size(); ++di) {
      if (number && mg->number_of(di, machine) != number) continue;
      const auto plex = plex_on_disk(*device, *mg, di);
      if (!plex || !held_failed(*device, *plex)) continue;
      // Copied again from its checkpoint (a recorded copy), or from the start over the regions its
      // bitmap marks: the write that failed was marked there before it was issued.
      const auto cursor = rebuild_cursor(machine, volume, mg->group.disks[di].record.guid.to_string());
      device->start_rebuild(*plex, cursor.value_or(0));
    }
  }
}

void reactivate_disk(Machine& machine, int number) {
  auto hold = machine.hold();
  if (!machine.has_disk(number)) throw UsageError(fmt::format("there is no disk {}", number));
  if (machine.disk(number).missing()) machine.reconnect(number);
  if (auto mg = group_of(machine)) refresh_live_volumes(machine, *mg);
  reactivate_failed_plexes(machine, number);
  machine.rebuild_worker().start();
}

void disk_returned(Machine& machine) {
  auto hold = machine.hold();
  if (auto mg = group_of(machine)) refresh_live_volumes(machine, *mg);
  machine.rebuild_worker().start();
}

void prepare_resync(Machine& machine) {
  auto hold = machine.hold();
  auto mg = group_of(machine);
  // A commit that stopped part way (the new plex's LDM data partition missing from a GPT, a disk
  // with the older database) is finished first, so that the GPT, the database and the bytes
  // agree before any copy resumes.
  if (mg && !ldm::stale_disks(mg->group, mg->devices).empty()) commit(machine, *mg);
  // As at a restart, plexes that failed are tried again.
  reactivate_failed_plexes(machine, std::nullopt);
}

void resync(Machine& machine) {
  prepare_resync(machine);
  wait_for_rebuilds(machine);
}

std::vector<std::pair<int, std::vector<Extent>>> pending_copy_ranges(Machine& machine) {
  auto hold = machine.hold();
  auto mg = group_of(machine);
  std::map<int, std::vector<Extent>> by_disk;
  for (const RebuildStatus& r : rebuild_status(machine)) {
    if (!mg || !r.disk || r.done >= r.total) continue;
    const auto di = mg->disk_index_of(*r.disk, machine);
    if (!di || mg->group.disks[*di].device < 0) continue;
    const int device = mg->group.disks[*di].device;
    for (std::size_t ci : mg->group.volumes[r.volume].components) {
      const auto extents = ldm::plex_extents(mg->group, ci);
      if (!extents) continue;
      for (const ldm::PlexRun& run : extents->runs) {
        if (run.device != device) continue;
        // The run's share of [done, total) of the volume, as bytes of the disk.
        const std::uint64_t from = std::max(run.volume_offset, r.done), to = std::min(run.volume_offset + run.length, r.total);
        if (from < to) by_disk[*r.disk].push_back(Extent{run.device_offset + (from - run.volume_offset), to - from});
      }
    }
  }
  std::vector<std::pair<int, std::vector<Extent>>> out;
  for (auto& [disk, ranges] : by_disk) {
    std::sort(ranges.begin(), ranges.end(), [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
    out.emplace_back(disk, std::move(ranges));
  }
  return out;
}

}  // namespace bootmirror::dynamic
