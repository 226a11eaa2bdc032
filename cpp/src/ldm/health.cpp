// What the records and the disks found say about each plex and volume. A record may point outside
// its disk (a damaged start or size) without making the group unreadable: the plex that holds it
// cannot serve, and its volume shows "Failed Rd" or "Failed", as diskpart shows a volume whose
// plexes are gone. Sizes are checked without overflow: starts and sizes are up to 64 bits.
#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

namespace {

const GroupVolume* volume_of(const Group& g, const ComponentRecord& c) {
  for (const auto& v : g.volumes)
    if (v.record.id == c.volume_id) return &v;
  return nullptr;
}

std::vector<const PartitionRecord*> partitions_of(const Group& g, const ComponentRecord& c) {
  std::vector<const PartitionRecord*> out;
  for (const auto& p : g.partitions)
    if (p.component_id == c.id) out.push_back(&p);
  return out;
}

// A striped component's chunk in sectors: its record's, or 128 (64 KiB, Windows' only value) when
// the record gives none.
std::uint64_t chunk_sectors(const ComponentRecord& c) { return c.stripe && c.stripe->first ? c.stripe->first : 128; }

const GroupVolume& volume_at(const Group& g, std::size_t vi) {
  if (vi >= g.volumes.size()) throw UsageError(fmt::format("no volume {} in the group", vi));
  return g.volumes[vi];
}

}  // namespace

bool detail::inside_data_area(const PartitionRecord& p, std::uint64_t data_size) {
  return p.start <= data_size && p.size <= data_size - p.start;
}

std::string detail::capacity_problem(const Group& g, std::size_t ci) {
  const ComponentRecord& c = g.components.at(ci);
  const GroupVolume* v = volume_of(g, c);
  if (!v) return fmt::format("its volume {} is not in the group", c.volume_id);
  const auto parts = partitions_of(g, c);
  if (parts.empty()) return "it has no partitions";
  std::uint64_t sum = 0, smallest = std::numeric_limits<std::uint64_t>::max();
  for (const PartitionRecord* p : parts) sum = saturating_add(sum, p->size), smallest = std::min(smallest, p->size);
  // libldm's layouts (_parse_vblks): type 2 concatenates (simple, spanned, a mirror's plex);
  // type 1 stripes over every partition; type 3 (RAID-5) keeps one column's worth of parity.
  std::uint64_t holds = sum;
  if (c.type == 1) {
    // A stripe is laid out a whole chunk per column (VolumeDevice maps it so; the kernel's
    // dm-stripe refuses a column that is not whole chunks), so a column's tail short of a chunk
    // holds nothing. The chunk comes from disk: one larger than a column (or than any disk, which
    // keeps chunk * sector size inside 64 bits) serves nothing.
    const std::uint64_t chunk = chunk_sectors(c);
    if (chunk > smallest || chunk > std::numeric_limits<std::uint64_t>::max() / 4096)
      return fmt::format("its chunk of {} sectors is larger than its smallest partition ({} sectors)", chunk, smallest);
    holds = saturating_mul(smallest / chunk * chunk, parts.size());
  }
  if (c.type == 3) holds = parts.size() < 2 ? 0 : saturating_mul(smallest, parts.size() - 1);
  if (holds >= v->record.size) return "";
  return fmt::format("its partitions hold {} sectors, its volume '{}' needs {}", holds, escape_bytes(v->record.name), v->record.size);
}

namespace {

// Why a partition cannot give its bytes: its disk is not in the group or missing, or it lies
// outside its disk's data area; "" when it can.
std::string partition_problem(const Group& g, const PartitionRecord& p) {
  const GroupDisk* d = g.find_disk(p.disk_id);
  if (!d) return fmt::format("partition '{}' is on disk {}, which is not in the group", escape_bytes(p.name), p.disk_id);
  if (d->device < 0) return fmt::format("{} is missing", escape_bytes(d->record.name));
  if (!detail::inside_data_area(p, d->data_size))
    return fmt::format("partition '{}' (sectors {}+{}) lies outside the {}-sector data area of {}", escape_bytes(p.name), p.start, p.size,
                       d->data_size, escape_bytes(d->record.name));
  return "";
}

}  // namespace

std::string plex_problem(const Group& g, std::size_t ci) {
  if (ci >= g.components.size()) throw UsageError(fmt::format("no component {} in the group", ci));
  for (const PartitionRecord* p : partitions_of(g, g.components[ci]))
    if (std::string problem = partition_problem(g, *p); !problem.empty()) return problem;
  return detail::capacity_problem(g, ci);
}

const char* volume_status(const Group& g, std::size_t vi) {
  const GroupVolume& v = volume_at(g, vi);
  // RAID-5 keeps a column's worth of parity: with one column lost it still holds the volume, and
  // Windows shows it "Failed Rd" (Failed Redundancy); with two it is lost.
  if (v.components.size() == 1 && g.components[v.components[0]].type == 3) {
    const ComponentRecord& c = g.components[v.components[0]];
    if (!detail::capacity_problem(g, v.components[0]).empty()) return "Failed";
    const auto parts = partitions_of(g, c);
    const auto lost = std::count_if(parts.begin(), parts.end(), [&](const PartitionRecord* p) { return !partition_problem(g, *p).empty(); });
    return lost == 0 ? "Healthy" : lost == 1 ? "Failed Rd" : "Failed";
  }
  std::size_t serving = 0;
  for (std::size_t ci : v.components) serving += plex_problem(g, ci).empty();
  if (serving == v.components.size() && serving > 0) return "Healthy";
  return serving ? "Failed Rd" : "Failed";
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> partition_location(const Group& g, std::size_t pi) {
  if (pi >= g.partitions.size()) throw UsageError(fmt::format("no partition {} in the group", pi));
  const PartitionRecord& p = g.partitions[pi];
  const GroupDisk* d = g.find_disk(p.disk_id);
  if (!d || d->device < 0 || !detail::inside_data_area(p, d->data_size)) return std::nullopt;
  // data_start + data_size lies on the device (copies.cpp checks the PRIVHEAD so): no overflow.
  return std::pair{(d->data_start + p.start) * d->sector_size, p.size * d->sector_size};
}

std::optional<PlexExtents> plex_extents(const Group& g, std::size_t ci) {
  if (ci >= g.components.size()) throw UsageError(fmt::format("no component {} in the group", ci));
  const ComponentRecord& c = g.components[ci];
  if (c.type == 3 || !detail::capacity_problem(g, ci).empty()) return std::nullopt;
  const std::uint64_t ss = sector_size(g, std::size_t(volume_of(g, c) - g.volumes.data()));
  PlexExtents out;
  out.name = c.name;
  out.striped = c.type == 1;
  auto parts = partitions_of(g, c);
  if (out.striped) {
    out.stripe_bytes = chunk_sectors(c) * ss;  // capacity_problem bounded the chunk
    std::stable_sort(parts.begin(), parts.end(), [](auto* a, auto* b) { return a->index.value_or(0) < b->index.value_or(0); });
  } else {
    std::stable_sort(parts.begin(), parts.end(), [](auto* a, auto* b) { return a->volume_offset < b->volume_offset; });
  }
  std::uint64_t next = 0;
  for (const PartitionRecord* p : parts) {
    const GroupDisk* d = g.find_disk(p->disk_id);
    // A missing disk's data area is unknown (its PRIVHEAD is on it); its runs are never read, but
    // the plex is listed, so that a volume knows which of its plexes is missing.
    if (!d || (d->device >= 0 && !detail::inside_data_area(*p, d->data_size))) return std::nullopt;
    if (!out.striped && p->volume_offset != next) return std::nullopt;
    next = saturating_add(next, p->size);
    // inside_data_area and the PRIVHEAD's checks keep these products on the device.
    out.runs.push_back(PlexRun{d->device, (d->data_start + p->start) * ss, out.striped ? 0 : p->volume_offset * ss, p->size * ss});
  }
  return out;
}

std::uint32_t sector_size(const Group& g) {
  for (const auto& d : g.disks)
    if (d.device >= 0) return d.sector_size;
  return 512;
}

std::uint32_t sector_size(const Group& g, std::size_t vi) {
  // The sectors of a volume's records are those of the disks it lies on (one size: add_mirror and
  // add_volume refuse to mix); a volume with every disk missing falls back to the group's.
  for (std::size_t pi : volume_at(g, vi).partitions)
    if (const GroupDisk* d = g.find_disk(g.partitions[pi].disk_id); d && d->device >= 0) return d->sector_size;
  return sector_size(g);
}

std::uint64_t size_bytes(const Group& g, std::size_t vi) {
  // records.cpp bounds a volume's size to 2^52 sectors: at most 2^64 bytes of 4096-byte sectors.
  return saturating_mul(volume_at(g, vi).record.size, sector_size(g, vi));
}

}  // namespace bootmirror::ldm
