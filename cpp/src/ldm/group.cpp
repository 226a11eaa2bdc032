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
#include <set>

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

// Keeps, per object id, the visible version of each record (see the file comment).
template <typename R>
std::vector<R> visible(const DiskDatabase& db, const std::vector<R>& records, std::uint64_t committed,
                       const std::map<std::uint32_t, std::uint64_t>& deleted, const char* kind) {
  std::map<std::uint32_t, const R*> best;
  for (const R& r : records) {
    if (r.commit_id > committed) continue;
    auto d = deleted.find(r.id);
    if (d != deleted.end() && d->second >= r.commit_id) continue;
    auto [it, fresh] = best.emplace(r.id, &r);
    if (fresh) continue;
    if (it->second->commit_id == r.commit_id)
      throw record_error(db, r, fmt::format("two {} records carry id {} (slots {} and {})", kind, r.id,
                                            it->second->placement.slots.at(0), r.placement.slots.at(0)));
    if (r.commit_id > it->second->commit_id) it->second = &r;
  }
  // Keep database (slot) order, which is the order libldm lists objects in.
  std::vector<R> out;
  for (const R& r : records) {
    auto it = best.find(r.id);
    if (it != best.end() && it->second == &r) out.push_back(r);
  }
  return out;
}

}  // namespace

void resolve(Group& g) {
  std::set<std::uint32_t> ids{g.record.id};
  auto unique = [&](const auto& r) {
    if (!ids.insert(r.id).second)
      throw record_error(g.base, r, fmt::format("LDM object id {} ('{}') is used twice in the group", r.id, escape_bytes(r.name)));
  };
  std::map<std::uint32_t, std::size_t> disk_at, vol_at, comp_at;
  for (std::size_t i = 0; i < g.disks.size(); ++i) unique(g.disks[i].record), disk_at[g.disks[i].record.id] = i;
  for (std::size_t i = 0; i < g.volumes.size(); ++i) unique(g.volumes[i].record), vol_at[g.volumes[i].record.id] = i;
  for (std::size_t i = 0; i < g.components.size(); ++i) unique(g.components[i]), comp_at[g.components[i].id] = i;
  for (const auto& p : g.partitions) unique(p);

  // libldm _parse_vblks: partitions to disks and components, components to volumes, counts.
  std::vector<std::vector<std::size_t>> comp_parts(g.components.size());
  for (std::size_t i = 0; i < g.partitions.size(); ++i) {
    const PartitionRecord& p = g.partitions[i];
    if (!disk_at.count(p.disk_id))
      throw record_error(g.base, p, fmt::format("partition '{}' references unknown disk {}", escape_bytes(p.name), p.disk_id));
    auto c = comp_at.find(p.component_id);
    if (c == comp_at.end()) throw record_error(g.base, p, fmt::format("partition '{}' references unknown component {}", escape_bytes(p.name), p.component_id));
    comp_parts[c->second].push_back(i);
  }
  for (auto& v : g.volumes) v.components.clear(), v.partitions.clear();
  for (std::size_t ci = 0; ci < g.components.size(); ++ci) {
    const ComponentRecord& c = g.components[ci];
    if (comp_parts[ci].size() != c.partition_count)
      throw record_error(g.base, c, fmt::format("component '{}' expects {} partitions but {} reference it", escape_bytes(c.name), c.partition_count,
                                    comp_parts[ci].size()));
    if (c.stripe && c.stripe->second > 0 && c.stripe->second != comp_parts[ci].size())
      throw record_error(g.base, c, fmt::format("component '{}' has {} columns but {} partitions", escape_bytes(c.name), c.stripe->second,
                                    comp_parts[ci].size()));
    auto v = vol_at.find(c.volume_id);
    if (v == vol_at.end()) throw record_error(g.base, c, fmt::format("component '{}' references unknown volume {}", escape_bytes(c.name), c.volume_id));
    GroupVolume& vol = g.volumes[v->second];
    vol.components.push_back(ci);
    auto parts = comp_parts[ci];
    std::stable_sort(parts.begin(), parts.end(), [&](std::size_t a, std::size_t b) {
      return g.partitions[a].index.value_or(0) < g.partitions[b].index.value_or(0);
    });
    vol.partitions.insert(vol.partitions.end(), parts.begin(), parts.end());
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
  std::map<std::uint32_t, std::uint64_t> deleted;
  for (const RawRecord& r : db.raw)
    if (r.type == 0 && r.commit_id <= g.committed_seq) deleted[r.id] = std::max(deleted[r.id], r.commit_id);
  for (auto& d : visible(db, db.disks, g.committed_seq, deleted, "disk")) g.disks.push_back(GroupDisk{d});
  for (auto& v : visible(db, db.volumes, g.committed_seq, deleted, "volume")) g.volumes.push_back(GroupVolume{v});
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
  std::vector<FoundPrivHead> found;
  std::vector<std::optional<DiskDatabase>> heads;  // PRIVHEAD, TOCBLOCK and VMDB; nullopt: damaged
  std::optional<FormatError> first_error;
  for (const auto& dev : devices) {
    if (!dev) throw UsageError("read_group: a disk is None");
    // The headers of each disk (GPT, PRIVHEAD copies, TOCBLOCKs, VMDB) are read a sector at a time
    // and share a few pages: one read a page.
    PageCachedReads headers(*dev);
    try {
      found.push_back(find_privhead(headers));
      (void)found.back().usable();
    } catch (const FormatError& e) {
      throw on_device(dev->name(), e);
    }
    try {
      heads.push_back(detail::read_database(headers, false, found.back()));
    } catch (const FormatError& e) {
      heads.emplace_back();
      if (!first_error) first_error = on_device(dev->name(), e);
    }
  }
  std::optional<std::uint64_t> newest;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const std::string& guid = found[i].usable().group_guid;
    if (guid != found[0].usable().group_guid)
      throw UsageError(fmt::format("{} belongs to disk group {}, {} to {}: one group at a time", devices[i]->name(),
                                   escape_bytes(guid), devices[0]->name(), escape_bytes(found[0].usable().group_guid)));
    if (heads[i] && (!newest || heads[i]->vmdb.committed_seq > *newest)) newest = heads[i]->vmdb.committed_seq;
  }
  if (!newest) throw *first_error;
  std::optional<Group> assembled;
  first_error.reset();
  for (std::size_t i = 0; i < devices.size() && !assembled; ++i) {
    if (!heads[i] || heads[i]->vmdb.committed_seq != *newest) continue;
    try {
      assembled = detail::assemble(detail::read_database(*devices[i], true, found[i]));
    } catch (const FormatError& e) {
      if (!first_error) first_error = on_device(devices[i]->name(), e);
    }
  }
  if (!assembled) throw *first_error;
  Group g = std::move(*assembled);
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const PrivHead& ph = found[i].usable();
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
      d.committed_seq = heads[i] ? heads[i]->vmdb.committed_seq : 0;
      d.disk_signature = ph.disk_signature;
    }
  }
  return g;
}

}  // namespace bootmirror::ldm
