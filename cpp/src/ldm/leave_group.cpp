// A present disk leaving its group with its data (ldm.h, "leaving the group"): which extents it
// keeps, the group without it, and its GPT as a basic disk's.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "bootmirror/ldm.h"
#include "bootmirror/unicode.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

using namespace detail;
using gpt::Kind;

namespace {

std::string volume_name(const GroupVolume& v) { return escape_bytes(v.record.name); }

// The partitions (indexes into group.partitions) of component `ci`.
std::vector<std::size_t> partitions_of(const Group& g, std::uint32_t component_id) {
  std::vector<std::size_t> out;
  for (std::size_t pi = 0; pi < g.partitions.size(); ++pi)
    if (g.partitions[pi].component_id == component_id) out.push_back(pi);
  return out;
}

}  // namespace

std::vector<KeptExtent> kept_extents(const Group& g, std::size_t di) {
  if (di >= g.disks.size()) throw UsageError(fmt::format("no disk {} in the group", di));
  const GroupDisk& disk = g.disks[di];
  if (disk.device < 0) throw UsageError("The disk is missing.");
  if (disk.scheme != Scheme::gpt)
    throw UsageError("convert basic keepdata keeps the volumes of GPT disks only: this dynamic disk is MBR.");
  std::vector<KeptExtent> out;
  for (std::size_t vi = 0; vi < g.volumes.size(); ++vi) {
    const GroupVolume& v = g.volumes[vi];
    std::vector<std::size_t> here;
    for (std::size_t pi : v.partitions)
      if (g.partitions[pi].disk_id == disk.record.id) here.push_back(pi);
    if (here.empty()) continue;
    if (v.layout != Layout::simple && v.layout != Layout::mirrored)
      throw UsageError(fmt::format("Volume {} ({}) is {}: only simple volumes and the plexes of mirrors can become basic "
                                   "partitions. Move or delete it first.",
                                   v.record.number, volume_name(v), layout_name(v.layout)));
    if (here.size() != 1)
      throw UsageError(fmt::format("Volume {} ({}) has {} extents on this disk: a basic partition is one extent.", v.record.number,
                                   volume_name(v), here.size()));
    const PartitionRecord& p = g.partitions[here.front()];
    const bool mirror = v.layout == Layout::mirrored;
    if (!mirror && v.partitions.size() != 1)
      throw UsageError(fmt::format("Volume {} ({}) is spanned onto other disks: only simple volumes and the plexes of mirrors "
                                   "can become basic partitions.",
                                   v.record.number, volume_name(v)));
    if (mirror) {
      // The mirror keeps going on a plex of a present disk, or there is no mirror left to keep.
      bool other_present = false;
      for (std::size_t ci : v.components) {
        const auto parts = partitions_of(g, g.components[ci].id);
        if (std::any_of(parts.begin(), parts.end(), [&](std::size_t pi) { return g.partitions[pi].disk_id == disk.record.id; })) continue;
        other_present |= plex_problem(g, ci).empty();
      }
      if (!other_present)
        throw UsageError(fmt::format("Volume {} ({}) has no other readable plex: breaking it off this disk would leave no "
                                     "mirror. Break the mirror first.",
                                     v.record.number, volume_name(v)));
    }
    out.push_back({vi, mirror, disk.data_start + p.start, p.size});
  }
  return out;
}

void leave_group(Group& group, std::size_t di) {
  if (di >= group.disks.size()) throw UsageError(fmt::format("no disk {} in the group", di));
  Group g = group;
  const std::uint32_t disk_id = g.disks[di].record.id;
  // By GUID and id: each change below rebuilds the group's vectors.
  std::vector<std::pair<Guid, bool>> touching;  // volume, mirrored
  for (const GroupVolume& v : g.volumes)
    if (std::any_of(v.partitions.begin(), v.partitions.end(), [&](std::size_t pi) { return g.partitions[pi].disk_id == disk_id; }))
      touching.emplace_back(v.record.guid, v.layout == Layout::mirrored);
  auto volume_index = [&](const Guid& guid) {
    for (std::size_t vi = 0; vi < g.volumes.size(); ++vi)
      if (g.volumes[vi].record.guid == guid) return vi;
    throw UsageError("a volume went away while the disk left the group");
  };
  auto disk_index = [&] {
    for (std::size_t i = 0; i < g.disks.size(); ++i)
      if (g.disks[i].record.id == disk_id) return i;
    throw UsageError("the disk went away while it left the group");
  };
  for (const auto& [guid, mirrored] : touching) {
    if (mirrored) break_mirror(g, volume_index(guid), disk_index());
    else remove_volume(g, volume_index(guid));
  }
  g.disks.erase(g.disks.begin() + long(disk_index()));
  resolve(g);
  group = std::move(g);
}

gpt::Table basic_gpt(BlockDevice& device, const std::vector<KeptExtent>& kept) {
  gpt::Table t = gpt::read(device);
  std::set<std::pair<std::uint64_t, std::uint64_t>> wanted;  // first, last
  for (const KeptExtent& k : kept) wanted.emplace(k.first_lba, k.first_lba + k.sectors - 1);
  std::optional<gpt::Partition> metadata;
  for (gpt::Partition& e : t.entries) {
    if (!e.used()) continue;
    if (e.kind() == Kind::ldm_metadata) {
      metadata = e;
      e = gpt::Partition{};
    } else if (e.kind() == Kind::ldm_data) {
      if (wanted.erase({e.first_lba, e.last_lba})) {
        e.type = gpt::type_of(Kind::basic_data);
        e.set_name("Basic data partition");
      } else {
        e = gpt::Partition{};  // its extents, if kept, get entries of their own below
      }
    }
  }
  for (const auto& [first, last] : wanted) add_gpt_entry(t, Kind::basic_data, first, last, "Basic data partition");
  if (metadata)
    for (gpt::Partition& e : t.entries)
      if (e.used() && e.kind() == Kind::microsoft_reserved && e.first_lba == metadata->last_lba + 1) e.first_lba = metadata->first_lba;
  t.compact();
  t.check();
  return t;
}

}  // namespace bootmirror::ldm
