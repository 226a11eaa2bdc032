// Where a volume byte lies on a plex. LDM's type-2 component concatenates its partitions in volume
// order; its type-1 component stripes them: with C columns and a chunk of S bytes, volume chunk k
// lies on column k mod C, at byte (k div C) * S of that column's partition (libldm's
// ldm_volume_dm_table, the kernel's dm-stripe target that ldmtool's tables drive).
#include <fmt/format.h>

#include "bootmirror/error.h"
#include "bootmirror/mirror.h"

namespace bootmirror::mirror {

Run PlexLayout::locate(std::uint64_t offset, std::uint64_t length) const {
  if (striped) {
    const std::uint64_t columns = runs.size();
    const std::uint64_t chunk = offset / stripe_bytes, within = offset % stripe_bytes;
    const Run& column = runs[std::size_t(chunk % columns)];
    const std::uint64_t at = (chunk / columns) * stripe_bytes + within;
    return Run{column.device, column.device_offset + at, offset, std::min(length, stripe_bytes - within)};
  }
  for (const Run& r : runs)
    if (offset >= r.volume_offset && offset - r.volume_offset < r.length) {
      const std::uint64_t within = offset - r.volume_offset;
      return Run{r.device, r.device_offset + within, offset, std::min(length, r.length - within)};
    }
  throw UsageError(fmt::format("plex {} holds no byte {} of its volume", name, offset));
}

const char* plex_state_name(PlexState state) {
  switch (state) {
    case PlexState::in_sync: return "in sync";
    case PlexState::rebuilding: return "rebuilding";
    case PlexState::failed: return "failed";
  }
  return "?";
}

}  // namespace bootmirror::mirror
