// Editing a group in memory: new groups, volumes, removing disks, volumes and plexes. Nothing is
// written here; commit() (commit.cpp) writes. Names and numbering follow Windows: "Disk1",
// "Volume1", components "<volume>-01", partitions "<disk>-01"; object ids are unique in the group.
#include <cctype>
#include <algorithm>
#include <limits>
#include <set>
#include <type_traits>

#include <fmt/format.h>

#include "bootmirror/identity.h"
#include "bootmirror/ldm.h"
#include "bootmirror/unicode.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

namespace detail {
std::uint32_t next_id(const Group& g) {
  std::uint32_t id = std::max<std::uint32_t>(g.record.id, 0x400);
  for (const auto& d : g.disks) id = std::max(id, d.record.id);
  for (const auto& v : g.volumes) id = std::max(id, v.record.id);
  for (const auto& c : g.components) id = std::max(id, c.id);
  for (const auto& p : g.partitions) id = std::max(id, p.id);
  for (const auto& r : g.base.disks) id = std::max(id, r.id);  // never reuse an id still on disk
  for (const auto& r : g.base.volumes) id = std::max(id, r.id);
  for (const auto& r : g.base.components) id = std::max(id, r.id);
  for (const auto& r : g.base.partitions) id = std::max(id, r.id);
  return id + 1;
}

// Applies `change` to a copy of the group and keeps the copy only when the whole change succeeds:
// an edit that is refused half-way leaves the group as it was, so that a later commit cannot write
// half of it.
template <typename Change>
auto transaction(Group& group, Change change) {
  Group next = group;
  if constexpr (std::is_void_v<decltype(change(next))>) {
    change(next);
    group = std::move(next);
  } else {
    auto result = change(next);
    group = std::move(next);
    return result;
  }
}

// Whether sectors start+size lie inside one of the free runs (without overflow: both come from
// the caller and may be anything).
bool fits_in_free_space(const Group& g, std::size_t disk_index, std::uint64_t start, std::uint64_t size);

// Names go into var strings (at most 255 bytes) and are shown as UTF-8.
void check_name(const std::string& name, const char* what) {
  if (name.empty() || name.size() > 255 || !is_valid_utf8(name))
    throw UsageError(fmt::format("a {} name is 1 to 255 bytes of UTF-8, not '{}'", what, escape_bytes(name)));
}

void check_drive_hint(const std::optional<std::string>& hint) {
  if (hint && (hint->size() != 2 || !std::isalpha(static_cast<unsigned char>((*hint)[0])) || (*hint)[1] != ':'))
    throw UsageError(fmt::format("'{}' is not a drive letter hint (expected a letter and a colon)", escape_bytes(*hint)));
}

// The smallest N >= 1 such that "<base>-NN" (two digits at least, as Windows writes "Disk1-01",
// "Volume3-02") is not taken.
template <typename Taken>
std::string next_name(const std::string& base, Taken taken) {
  for (int n = 1;; ++n) {
    std::string name = fmt::format("{}-{:02}", base, n);
    if (!taken(name)) return name;
  }
}
}  // namespace detail

using namespace detail;

Group new_group(const std::string& name) {
  // The VMDB keeps the name in 31 bytes (0x16), the PRIVHEAD in 32 (0xF0).
  if (name.empty() || name.size() > 31 || !is_valid_utf8(name)) throw UsageError("a disk group name has 1 to 31 bytes of UTF-8");
  Group g;
  g.record.id = 0x401;
  g.record.name = name;
  g.record.guid = IdentitySource::new_guid().to_string();
  g.record.flags = 0x08;  // Windows 2003 writes the two var ints (04 ff ff ff ff twice)
  g.record.ids = std::pair<std::uint64_t, std::uint64_t>{0xffffffff, 0xffffffff};
  g.committed_seq = 0;
  g.base.privhead.group_guid = g.record.guid;
  g.base.privhead.group_name = name;
  g.base.privhead.host_guid = IdentitySource::new_guid().to_string();
  g.base.vmdb.group_guid = g.record.guid;
  g.base.vmdb.group_name = name;
  g.base.group = g.record;
  return g;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> free_extents(const Group& g, std::size_t disk_index) {
  if (disk_index >= g.disks.size()) throw UsageError(fmt::format("no disk {} in the group", disk_index));
  const GroupDisk& d = g.disks[disk_index];
  std::vector<std::pair<std::uint64_t, std::uint64_t>> used;
  for (const auto& p : g.partitions)
    if (p.disk_id == d.record.id) used.emplace_back(p.start, p.size);
  used.insert(used.end(), d.reserved.begin(), d.reserved.end());
  std::sort(used.begin(), used.end());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  // A record read from a damaged disk may reach past the data area or past 2^64: clamp each end.
  std::uint64_t at = 0;
  for (auto [s, n] : used) {
    s = std::min(s, d.data_size);
    const std::uint64_t end = s + std::min(n, d.data_size - s);
    if (s > at) out.emplace_back(at, s - at);
    at = std::max(at, end);
  }
  if (d.data_size > at) out.emplace_back(at, d.data_size - at);
  return out;
}

bool detail::fits_in_free_space(const Group& g, std::size_t di, std::uint64_t start, std::uint64_t size) {
  for (auto [fs, fn] : free_extents(g, di))
    if (start >= fs && size <= fn && start - fs <= fn - size) return true;
  return false;
}

std::size_t add_volume(Group& group, const std::string& name, Layout layout,
                       const std::vector<std::tuple<std::size_t, std::uint64_t, std::uint64_t>>& extents, std::uint64_t chunk,
                       std::optional<std::string> drive_hint) {
  return transaction(group, [&](Group& g) {
    check_name(name, "volume");
    check_drive_hint(drive_hint);
    if (extents.empty()) throw UsageError("a volume needs at least one extent");
    if (layout == Layout::raid5) throw UsageError("bootmirror does not create RAID-5 volumes");
    if (layout == Layout::simple && extents.size() != 1) throw UsageError("a simple volume has exactly one extent");
    if ((layout == Layout::mirrored || layout == Layout::striped || layout == Layout::spanned) && extents.size() < 2)
      throw UsageError(fmt::format("a {} volume needs at least two extents", layout_name(layout)));
    std::set<std::size_t> disks_used;
    for (auto [di, start, size] : extents) {
      if (di >= g.disks.size()) throw UsageError(fmt::format("no disk {} in the group", di));
      const GroupDisk& d = g.disks[di];
      if (d.device < 0) throw UsageError(fmt::format("{} is missing; volumes go on present disks", escape_bytes(d.record.name)));
      if (size == 0) throw UsageError("an extent of 0 sectors");
      if (!fits_in_free_space(g, di, start, size))
        throw UsageError(fmt::format("sectors {}+{} of {} are not free", start, size, escape_bytes(d.record.name)));
      if ((layout == Layout::mirrored || layout == Layout::striped) && !disks_used.insert(di).second)
        throw UsageError(fmt::format("a {} volume needs each extent on a different disk", layout_name(layout)));
      if ((layout == Layout::mirrored || layout == Layout::striped) && size != std::get<2>(extents[0]))
        throw UsageError(fmt::format("the extents of a {} volume must have equal sizes", layout_name(layout)));
      // A volume's records count sectors of one size: its disks must agree on it.
      if (d.sector_size != g.disks.at(std::get<0>(extents[0])).sector_size)
        throw UsageError("The disks of a volume must have the same sector size.");
    }
    if (g.find_volume(name)) throw UsageError(fmt::format("a volume named '{}' exists already", name));

    std::uint32_t id = next_id(g);
    GroupVolume vol;
    VolumeRecord& v = vol.record;
    v.id = id++;
    v.name = name;
    v.type_name = "gen";
    v.state = "ACTIVE";
    v.int_type = 3;
    std::set<int> numbers;
    for (const auto& other : g.volumes) numbers.insert(other.record.number);
    // One byte on disk: past 255 volumes the numbers repeat.
    int number = 1;
    while (number < 256 && numbers.count(number)) ++number;
    v.number = std::uint8_t(number < 256 ? number : int(g.volumes.size() % 255) + 1);
    v.volume_flags = 0x11;
    v.revision = 5;
    v.guid = IdentitySource::new_guid();
    if (drive_hint) {
      v.flags |= 0x02;
      v.drive_hint = drive_hint;
    }
    std::uint64_t each = std::get<2>(extents[0]), total = 0;
    for (auto& e : extents) total += std::get<2>(e);
    v.size = layout == Layout::mirrored ? each : total;
    v.component_count = layout == Layout::mirrored ? std::uint32_t(extents.size()) : 1;

    auto partition_name = [&](const GroupDisk& d) {
      return next_name(d.record.name, [&](const std::string& n) {
        for (const auto& p : g.partitions)
          if (p.name == n) return true;
        return false;
      });
    };
    auto new_component = [&](int number, std::uint8_t type, std::uint32_t parts) {
      ComponentRecord c;
      c.id = id++;
      c.name = fmt::format("{}-{:02}", name, number);
      c.state = "ACTIVE";
      c.type = type;
      c.partition_count = parts;
      c.volume_id = v.id;
      if (type == 1) {
        c.flags = 0x10;
        c.stripe = std::pair<std::uint64_t, std::uint32_t>{chunk, parts};
      }
      g.components.push_back(c);
    };
    auto new_partition = [&](std::size_t di, std::uint64_t start, std::uint64_t size, std::uint64_t vol_offset,
                             std::optional<std::uint32_t> index) {
      PartitionRecord p;
      p.id = id++;
      p.name = partition_name(g.disks[di]);
      p.start = start;
      p.volume_offset = vol_offset;
      p.size = size;
      p.component_id = g.components.back().id;
      p.disk_id = g.disks[di].record.id;
      if (index && *index > 0) {  // Windows leaves the index (and flag 0x08) out for column 0
        p.flags = 0x08;
        p.index = index;
      }
      g.partitions.push_back(p);
    };
    if (layout == Layout::mirrored) {
      for (std::size_t i = 0; i < extents.size(); ++i) {
        new_component(int(i + 1), 2, 1);
        new_partition(std::get<0>(extents[i]), std::get<1>(extents[i]), each, 0, std::nullopt);
      }
    } else {
      new_component(1, layout == Layout::striped ? 1 : 2, std::uint32_t(extents.size()));
      std::uint64_t offset = 0;
      for (std::size_t i = 0; i < extents.size(); ++i) {
        auto [di, start, size] = extents[i];
        bool striped = layout == Layout::striped;
        new_partition(di, start, size, striped ? 0 : offset, striped ? std::optional<std::uint32_t>(std::uint32_t(i)) : std::nullopt);
        offset += size;
      }
    }
    g.volumes.push_back(std::move(vol));
    resolve(g);
    return g.volumes.size() - 1;
  });
}

void set_drive_hint(Group& g, std::size_t vi, std::optional<std::string> hint) {
  if (vi >= g.volumes.size()) throw UsageError("no such volume");
  check_drive_hint(hint);
  VolumeRecord& v = g.volumes[vi].record;
  // Record flag 0x02 says the hint field is present (see encode_record(VolumeRecord)).
  if (hint) v.flags |= 0x02;
  else v.flags &= std::uint8_t(~0x02);
  v.drive_hint = hint;
}

void add_mirror(Group& group, std::size_t vi, std::size_t di, std::uint64_t start) {
  transaction(group, [&](Group& g) {
    if (vi >= g.volumes.size() || di >= g.disks.size()) throw UsageError("no such volume or disk");
    GroupVolume& vol = g.volumes[vi];
    if (vol.layout != Layout::simple && vol.layout != Layout::mirrored)
      throw UsageError(fmt::format("'{}' is {}: only simple volumes and mirrors take another plex", escape_bytes(vol.record.name),
                                   layout_name(vol.layout)));
    const GroupDisk& d = g.disks[di];
    if (d.device < 0) throw UsageError(fmt::format("{} is missing", escape_bytes(d.record.name)));
    for (std::size_t pi : vol.partitions)
      if (g.partitions[pi].disk_id == d.record.id)
        throw UsageError(fmt::format("'{}' already has a plex on {}", escape_bytes(vol.record.name), escape_bytes(d.record.name)));
    if (d.sector_size != sector_size(g, vi)) throw UsageError("The disks of a volume must have the same sector size.");
    const std::uint64_t size = vol.record.size;
    if (!fits_in_free_space(g, di, start, size)) throw UsageError("There is not enough usable space for this operation.");
    std::uint32_t id = next_id(g);
    ComponentRecord c;
    c.id = id++;
    c.name = next_name(vol.record.name, [&](const std::string& n) {
      for (const auto& x : g.components)
        if (x.name == n) return true;
      return false;
  });
  c.state = "ACTIVE";
  c.type = 2;
  c.partition_count = 1;
  c.volume_id = vol.record.id;
  PartitionRecord p;
  p.id = id++;
  p.name = next_name(d.record.name, [&](const std::string& n) {
    for (const auto& x : g.partitions)
      if (x.name == n) return true;
    return false;
  });
  p.start = start;
  p.size = size;
  p.component_id = c.id;
  p.disk_id = d.record.id;
  g.components.push_back(c);
  g.partitions.push_back(p);
  vol.record.component_count += 1;
  resolve(g);
  });
}

void remove_volume(Group& group, std::size_t vi) {
  transaction(group, [&](Group& g) {
    if (vi >= g.volumes.size()) throw UsageError(fmt::format("no volume {} in the group", vi));
    std::uint32_t vid = g.volumes[vi].record.id;
    std::set<std::uint32_t> comps;
    for (const auto& c : g.components)
      if (c.volume_id == vid) comps.insert(c.id);
    std::erase_if(g.partitions, [&](const PartitionRecord& p) { return comps.count(p.component_id) > 0; });
    std::erase_if(g.components, [&](const ComponentRecord& c) { return c.volume_id == vid; });
    g.volumes.erase(g.volumes.begin() + long(vi));
    resolve(g);
  });
}

void break_mirror(Group& group, std::size_t vi, std::size_t di) {
  transaction(group, [&](Group& g) {
    if (vi >= g.volumes.size() || di >= g.disks.size()) throw UsageError("no such volume or disk");
    GroupVolume& vol = g.volumes[vi];
    if (vol.layout != Layout::mirrored) throw UsageError(fmt::format("'{}' is not a mirror", escape_bytes(vol.record.name)));
    std::uint32_t disk_id = g.disks[di].record.id;
    std::set<std::uint32_t> plex;
    for (std::size_t ci : vol.components)
      for (const auto& p : g.partitions)
        if (p.component_id == g.components[ci].id && p.disk_id == disk_id) plex.insert(p.component_id);
    if (plex.empty())
      throw UsageError(fmt::format("'{}' has no plex on {}", escape_bytes(vol.record.name), escape_bytes(g.disks[di].record.name)));
    std::erase_if(g.partitions, [&](const PartitionRecord& p) { return plex.count(p.component_id) > 0; });
    std::erase_if(g.components, [&](const ComponentRecord& c) { return plex.count(c.id) > 0; });
    vol.record.component_count -= std::uint32_t(plex.size());
    resolve(g);
  });
}

void remove_disk(Group& group, std::size_t di) {
  transaction(group, [&](Group& g) {
    if (di >= g.disks.size()) throw UsageError(fmt::format("no disk {} in the group", di));
    if (g.disks[di].device >= 0)
      throw UsageError("The disk is not missing. Only a missing disk can be deleted from the disk group.");
    // By id, not by reference: break_mirror below replaces g's vectors.
    const std::uint32_t disk_id = g.disks[di].record.id;
    for (std::size_t vi = 0; vi < g.volumes.size(); ++vi) {
      const GroupVolume& vol = g.volumes[vi];
      bool on_disk = false;
      for (std::size_t pi : vol.partitions) on_disk |= g.partitions[pi].disk_id == disk_id;
      if (!on_disk) continue;
      if (vol.layout != Layout::mirrored)
        throw UsageError(fmt::format("The disk cannot be deleted: it holds the only copy of volume {} ({}). Delete the volume first.",
                                     vol.record.number, escape_bytes(vol.record.name)));
    }
    // Plexes of mirrors on the missing disk go with it.
    for (std::size_t vi = 0; vi < g.volumes.size(); ++vi) {
      bool on_disk = false;
      for (std::size_t pi : g.volumes[vi].partitions) on_disk |= g.partitions[pi].disk_id == disk_id;
      if (on_disk) break_mirror(g, vi, di);
    }
    g.disks.erase(g.disks.begin() + long(di));
    resolve(g);
  });
}

}  // namespace bootmirror::ldm
