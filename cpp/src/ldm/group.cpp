// Assembling a disk group from the databases of its disks. Every disk holds the whole group's
// database; Windows trusts the one with the newest committed sequence (a disk that missed a
// commit is older), libldm instead requires them all to be equal (LDM_ERROR_INCONSISTENT).
//
// Records are versioned by their commit id so that a commit can add new versions beside the old
// ones before it switches the VMDB (commit.cpp): in a database committed at sequence C, an
// object's visible record is the one with the highest commit id <= C; records above C belong to
// an unfinished commit and are ignored; a blank (kind 0) record with commit id <= C deletes the
// object. Windows' own databases hold one record per id, all <= C, so for them this is the plain
// reading libldm and the kernel do.
#include <algorithm>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "bootmirror/ldm.h"
#include "bootmirror/unicode.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::simple: return "simple";
    case Layout::spanned: return "spanned";
    case Layout::striped: return "striped";
    case Layout::mirrored: return "mirrored";
    case Layout::raid5: return "raid5";
  }
  return "?";
}

const GroupDisk* Group::find_disk(std::uint32_t id) const {
  for (const auto& d : disks)
    if (d.record.id == id) return &d;
  return nullptr;
}
const GroupDisk* Group::find_disk(const std::string& name) const {
  for (const auto& d : disks)
    if (d.record.name == name) return &d;
  return nullptr;
}
const GroupVolume* Group::find_volume(const std::string& name) const {
  for (const auto& v : volumes)
    if (v.record.name == name) return &v;
  return nullptr;
}

namespace {

// A FormatError at the record's first slot in `db` (records made by an edit have no slot yet).
FormatError record_error(const DiskDatabase& db, const RecordHeader& r, const std::string& message) {
  if (r.placement.slots.empty() || db.vmdb.vblk_size == 0) return FormatError(message);
  return FormatError(message, detail::vmdb_offset(db) + std::uint64_t(r.placement.slots.front()) * db.vmdb.vblk_size);
}

// Indexes 0..n-1 ordered by object id (`id_of(i)`), and by database order within an id.
template <typename IdOf>
std::vector<std::uint32_t> by_id(std::size_t n, IdOf id_of) {
  std::vector<std::uint32_t> order(n);
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return id_of(a) < id_of(b); });
  return order;
}

// The index whose id is `id`, in `order` (by_id's, of ids known to be unique).
template <typename IdOf>
std::optional<std::size_t> find_id(const std::vector<std::uint32_t>& order, IdOf id_of, std::uint32_t id) {
  auto it = std::lower_bound(order.begin(), order.end(), id, [&](std::uint32_t i, std::uint32_t want) { return id_of(i) < want; });
  if (it == order.end() || id_of(*it) != id) return std::nullopt;
  return *it;
}

// Keeps, per object id, the visible version of each record (see the file comment). The versions of
// one id are looked at together, in database order; of two versions at one commit id, the pair met
// first in database order is reported. Sorted runs, not a map: a group of 500 volumes has 2,000
// records, and a map node each was most of assembling them.
template <typename R>
std::vector<R> visible(const DiskDatabase& db, const std::vector<R>& records, std::uint64_t committed,
                       const std::map<std::uint32_t, std::uint64_t>& deleted, const char* kind) {
  const std::vector<std::uint32_t> order = by_id(records.size(), [&](std::uint32_t i) { return records[i].id; });
  std::vector<bool> keep(records.size(), false);
  std::optional<std::pair<std::uint32_t, std::uint32_t>> clash;  // (earlier best, record) of the first clash
  for (std::size_t run = 0; run < order.size();) {
    const std::uint32_t id = records[order[run]].id;
    std::size_t end = run;
    while (end < order.size() && records[order[end]].id == id) ++end;
    auto d = deleted.find(id);
    std::optional<std::uint32_t> best;
    for (std::size_t k = run; k < end; ++k) {
      const R& r = records[order[k]];
      if (r.commit_id > committed || (d != deleted.end() && d->second >= r.commit_id)) continue;
      if (best && records[*best].commit_id == r.commit_id) {
        if (!clash || order[k] < clash->second) clash = std::pair{*best, order[k]};
        break;
      }
      if (!best || r.commit_id > records[*best].commit_id) best = order[k];
    }
    if (best) keep[*best] = true;
    run = end;
  }
  if (clash) {
    const R &first = records[clash->first], &r = records[clash->second];
    throw record_error(db, r, fmt::format("two {} records carry id {} (slots {} and {})", kind, r.id,
                                          first.placement.slots.at(0), r.placement.slots.at(0)));
  }
  // Keep database (slot) order, which is the order libldm lists objects in.
  std::vector<R> out;
  out.reserve(std::size_t(std::count(keep.begin(), keep.end(), true)));
  for (std::size_t i = 0; i < records.size(); ++i)
    if (keep[i]) out.push_back(records[i]);
  return out;
}

}  // namespace

void resolve(Group& g) {
  // Object ids are unique across the group. Every id with the place it is met in (the group, its
  // disks, volumes, components, partitions), sorted: of the repeats, the one met first is reported.
  struct Owner {
    std::uint32_t id;
    std::uint32_t place;
    const RecordHeader* record;
    const std::string* name;
  };
  std::vector<Owner> owners;
  owners.reserve(1 + g.disks.size() + g.volumes.size() + g.components.size() + g.partitions.size());
  auto own = [&](const auto& r) { owners.push_back({r.id, std::uint32_t(owners.size()), &r, &r.name}); };
  own(g.record);
  for (const auto& d : g.disks) own(d.record);
  for (const auto& v : g.volumes) own(v.record);
  for (const auto& c : g.components) own(c);
  for (const auto& p : g.partitions) own(p);
  std::sort(owners.begin(), owners.end(), [](const Owner& a, const Owner& b) { return a.id != b.id ? a.id < b.id : a.place < b.place; });
  const Owner* repeat = nullptr;
  for (std::size_t i = 1; i < owners.size(); ++i)
    if (owners[i].id == owners[i - 1].id && (!repeat || owners[i].place < repeat->place)) repeat = &owners[i];
  if (repeat)
    throw record_error(g.base, *repeat->record, fmt::format("LDM object id {} ('{}') is used twice in the group", repeat->id,
                                                            escape_bytes(*repeat->name)));
  auto disk_id = [&](std::uint32_t i) { return g.disks[i].record.id; };
  auto volume_id = [&](std::uint32_t i) { return g.volumes[i].record.id; };
  auto component_id = [&](std::uint32_t i) { return g.components[i].id; };
  const auto disk_order = by_id(g.disks.size(), disk_id), vol_order = by_id(g.volumes.size(), volume_id),
             comp_order = by_id(g.components.size(), component_id);

  // libldm _parse_vblks: partitions to disks and components, components to volumes, counts.
  // Each component's partitions as one run of `parts`, in database order (a counting sort on the
  // component; a vector per component was an allocation each).
  std::vector<std::size_t> comp_of(g.partitions.size()), run_start(g.components.size() + 1, 0);
  for (std::size_t i = 0; i < g.partitions.size(); ++i) {
    const PartitionRecord& p = g.partitions[i];
    if (!find_id(disk_order, disk_id, p.disk_id))
      throw record_error(g.base, p, fmt::format("partition '{}' references unknown disk {}", escape_bytes(p.name), p.disk_id));
    auto c = find_id(comp_order, component_id, p.component_id);
    if (!c) throw record_error(g.base, p, fmt::format("partition '{}' references unknown component {}", escape_bytes(p.name), p.component_id));
    comp_of[i] = *c;
    ++run_start[*c + 1];
  }
  for (std::size_t ci = 0; ci < g.components.size(); ++ci) run_start[ci + 1] += run_start[ci];
  std::vector<std::size_t> parts(g.partitions.size()), filled(run_start.begin(), run_start.end() - 1);
  for (std::size_t i = 0; i < g.partitions.size(); ++i) parts[filled[comp_of[i]]++] = i;
  for (auto& v : g.volumes) v.components.clear(), v.partitions.clear();
  for (std::size_t ci = 0; ci < g.components.size(); ++ci) {
    const ComponentRecord& c = g.components[ci];
    const auto first = parts.begin() + long(run_start[ci]), last = parts.begin() + long(run_start[ci + 1]);
    const std::size_t count = std::size_t(last - first);
    if (count != c.partition_count)
      throw record_error(g.base, c, fmt::format("component '{}' expects {} partitions but {} reference it", escape_bytes(c.name), c.partition_count,
                                    count));
    if (c.stripe && c.stripe->second > 0 && c.stripe->second != count)
      throw record_error(g.base, c, fmt::format("component '{}' has {} columns but {} partitions", escape_bytes(c.name), c.stripe->second,
                                    count));
    auto v = find_id(vol_order, volume_id, c.volume_id);
    if (!v) throw record_error(g.base, c, fmt::format("component '{}' references unknown volume {}", escape_bytes(c.name), c.volume_id));
    GroupVolume& vol = g.volumes[*v];
    vol.components.push_back(ci);
    std::stable_sort(first, last, [&](std::size_t a, std::size_t b) {
      return g.partitions[a].index.value_or(0) < g.partitions[b].index.value_or(0);
    });
    vol.partitions.insert(vol.partitions.end(), first, last);
  }
  for (auto& vol : g.volumes) {
    const VolumeRecord& r = vol.record;
    if (vol.components.size() != r.component_count)
      throw record_error(g.base, r, fmt::format("volume '{}' expects {} components but {} reference it", escape_bytes(r.name), r.component_count,
                                    vol.components.size()));
    if (vol.components.empty()) throw record_error(g.base, r, fmt::format("volume '{}' has no components", escape_bytes(r.name)));
    const ComponentRecord& c = g.components[vol.components.front()];
    // libldm: type 2 under a gen volume is mirrored with > 1 component, spanned with > 1
    // partition, else simple; type 1 striped (1 component); type 3 needs a raid5 volume.
    if (c.type == 2) {
      if (r.int_type != 3) throw record_error(g.base, r, fmt::format("volume '{}': spanned component under a non-gen volume", escape_bytes(r.name)));
      vol.layout = r.component_count > 1 ? Layout::mirrored : c.partition_count > 1 ? Layout::spanned : Layout::simple;
    } else if (c.type == 1) {
      if (r.int_type != 3 || r.component_count != 1) throw record_error(g.base, r, fmt::format("volume '{}': unsupported striped configuration", escape_bytes(r.name)));
      vol.layout = Layout::striped;
    } else {
      if (r.int_type != 4 || r.component_count != 1) throw record_error(g.base, r, fmt::format("volume '{}': unsupported RAID configuration", escape_bytes(r.name)));
      vol.layout = Layout::raid5;
    }
  }
}

Group detail::assemble(DiskDatabase db) {
  Group g;
  g.committed_seq = db.vmdb.committed_seq;
  g.record = *db.group;
  // A group has one GUID: its PRIVHEADs and VMDB name it (read_database_into checks that they
  // agree), and so must its disk group record, which a commit writes to every disk it rewrites. A
  // record naming another would move those disks to a group that the disks left as they were (one
  // the group lost, say) are not in, and the group would no longer read as one (found by fuzzing).
  if (db.group->guid != db.vmdb.group_guid)
    throw record_error(db, *db.group, fmt::format("the disk group record names group {} but the VMDB {}", escape_bytes(db.group->guid),
                                                  escape_bytes(db.vmdb.group_guid)));
  std::map<std::uint32_t, std::uint64_t> deleted;
  for (const RawRecord& r : db.raw)
    if (r.type == 0 && r.commit_id <= g.committed_seq) deleted[r.id] = std::max(deleted[r.id], r.commit_id);
  // The group's copies of the records; `db`, with every record as read, becomes the group's base.
  auto disks = visible(db, db.disks, g.committed_seq, deleted, "disk");
  g.disks.reserve(disks.size());
  for (auto& d : disks) g.disks.push_back(GroupDisk{std::move(d)});
  auto volumes = visible(db, db.volumes, g.committed_seq, deleted, "volume");
  g.volumes.reserve(volumes.size());
  for (auto& v : volumes) g.volumes.push_back(GroupVolume{std::move(v)});
  g.components = visible(db, db.components, g.committed_seq, deleted, "component");
  g.partitions = visible(db, db.partitions, g.committed_seq, deleted, "partition");
  // libldm checks the VMDB's committed counts against the records (Windows keeps them exact).
  const std::uint32_t found[4] = {std::uint32_t(g.volumes.size()), std::uint32_t(g.components.size()),
                                  std::uint32_t(g.partitions.size()), std::uint32_t(g.disks.size())};
  const char* names[4] = {"volume", "component", "partition", "disk"};
  for (int i = 0; i < 4; ++i)
    if (db.vmdb.committed[i] != found[i])
      throw FormatError(fmt::format("VMDB counts {} committed {} records but the database holds {}", db.vmdb.committed[i], names[i],
                                    found[i]), detail::vmdb_offset(db) + 0x85 + 4 * std::uint64_t(i));
  g.base = std::move(db);  // by value: a database just read is moved in, not copied
  resolve(g);
  return g;
}

using namespace detail;

// Every disk given must have a valid PRIVHEAD (else it cannot be told apart from a disk of another
// group); of their databases, the first at the newest committed sequence that decodes and
// assembles is used, so a disk whose database is damaged does not hide the group the others hold.
// Older databases are never used instead: they would bring back a configuration Windows left.
Group read_group(const std::vector<DevicePtr>& devices) {
  if (devices.empty()) throw UsageError("read_group needs at least one disk");
  // Each disk's PRIVHEAD, TOCBLOCK and VMDB; its PRIVHEAD is there even when the TOCBLOCK or VMDB
  // is damaged (then `damage` says why).
  std::vector<FoundPrivHead> found;  // where the PRIVHEAD was found (it is moved into `heads`)
  std::vector<DiskDatabase> heads(devices.size());
  std::vector<std::optional<FormatError>> damage(devices.size());  // why a disk's headers did not read
  found.reserve(devices.size());
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const DevicePtr& dev = devices[i];
    if (!dev) throw UsageError("read_group: a disk is None");
    // The headers of each disk (GPT, a PRIVHEAD, a TOCBLOCK, the VMDB; other copies only where
    // these are damaged) are read a sector at a time and share a few pages: one read a page.
    PageCachedReads headers(*dev);
    try {
      found.push_back(find_privhead(headers, Copies::first_valid));
      (void)found.back().usable();
    } catch (const FormatError& e) {
      throw on_device(dev->name(), e);
    }
    try {
      const char* stage = "";
      read_database_into(headers, false, heads[i], stage, &found.back(), Copies::first_valid);
    } catch (const FormatError& e) {
      damage[i] = on_device(dev->name(), e);
    }
  }
  // The group is the one the readable disks' PRIVHEADs name: a PRIVHEAD has no checksum, so one
  // whose own TOCBLOCK or VMDB does not read may name another group through damage alone (its
  // VMDB then disagrees with it). Such a disk cannot be told from a foreign one: its damage is
  // the error, not a mix of groups.
  const auto readable = [&](std::size_t i) { return !damage[i]; };
  std::size_t reference = 0;
  while (reference + 1 < devices.size() && !readable(reference)) ++reference;
  std::optional<std::uint64_t> newest;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const std::string& guid = heads[i].privhead.group_guid;
    if (guid != heads[reference].privhead.group_guid) {
      if (!readable(i)) throw *damage[i];
      throw UsageError(fmt::format("{} belongs to disk group {}, {} to {}: one group at a time", devices[i]->name(), escape_bytes(guid),
                                   devices[reference]->name(), escape_bytes(heads[reference].privhead.group_guid)));
    }
    if (readable(i) && (!newest || heads[i].vmdb.committed_seq > *newest)) newest = heads[i].vmdb.committed_seq;
  }
  if (!newest) throw *damage[0];
  std::optional<Group> assembled;
  std::optional<FormatError> first_error;
  for (std::size_t i = 0; i < devices.size() && !assembled; ++i) {
    if (!readable(i) || heads[i].vmdb.committed_seq != *newest) continue;
    try {
      DiskDatabase db = heads[i];  // heads[i] stays whole for the disks' fields below
      read_records(*devices[i], db);
      assembled = detail::assemble(std::move(db));
    } catch (const FormatError& e) {
      if (!first_error) first_error = on_device(devices[i]->name(), e);
    }
  }
  if (!assembled) throw *first_error;
  Group g = std::move(*assembled);
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const PrivHead& ph = heads[i].privhead;
    const Guid disk_guid = Guid::parse(ph.disk_guid);  // decode_privhead checked that it parses
    for (auto& d : g.disks) {
      if (d.record.guid != disk_guid) continue;
      if (d.device >= 0)
        throw on_device(devices[i]->name(), FormatError(fmt::format("{} carries the LDM disk GUID {} too", devices[std::size_t(d.device)]->name(),
                                                                    disk_guid.to_string()), found[i].lba * devices[i]->sector_size() + 0x30));
      d.device = int(i);
      d.data_start = ph.logical_disk_start;
      d.data_size = ph.logical_disk_size;
      d.config_start = ph.config_start;
      d.config_size = ph.config_size;
      d.scheme = found[i].scheme;
      d.sector_size = devices[i]->sector_size();
      if (d.scheme == Scheme::gpt) d.reserved = detail::reserved_extents(found[i].gpt_partitions, d.data_start);
      d.committed_seq = readable(i) ? heads[i].vmdb.committed_seq : 0;
      d.disk_signature = ph.disk_signature;
    }
  }
  return g;
}

}  // namespace bootmirror::ldm
