// ldm repair (bootmirror/ldm.h): which disks' databases are damaged or behind the group's, and
// their rewrite from the group in one crash-safe commit.
#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/ldm.h"

namespace bootmirror::ldm {

std::vector<DiskRepair> repairs_needed(const Group& group, const std::vector<DevicePtr>& devices) {
  const std::vector<std::size_t> stale = stale_disks(group, devices);
  std::vector<DiskRepair> out;
  for (std::size_t i = 0; i < group.disks.size(); ++i) {
    const GroupDisk& d = group.disks[i];
    if (d.device < 0 || std::size_t(d.device) >= devices.size() || !devices[std::size_t(d.device)]) continue;
    DiskRepair r{i, {}};
    const Health health = verify(*devices[std::size_t(d.device)]);
    for (const Damage& damage : health.damage) r.reasons.push_back(damage.describe());
    if (!health.readable && r.reasons.empty()) r.reasons.push_back("its database cannot be read");
    if (health.readable && std::count(stale.begin(), stale.end(), i)) {
      r.reasons.push_back(d.committed_seq < group.committed_seq
                              ? fmt::format("its database is older than the group's (committed sequence {}, the group's {})",
                                            d.committed_seq, group.committed_seq)
                              : std::string("an interrupted commit left it behind the group (records beyond its committed "
                                            "configuration, or GPT LDM data entries that do not match its extents)"));
    }
    if (!r.reasons.empty()) out.push_back(std::move(r));
  }
  return out;
}

void repair(Group& group, const std::vector<DevicePtr>& devices, const std::vector<DiskRepair>& repairs) {
  if (repairs.empty()) return;
  Group g = group;
  for (const DiskRepair& r : repairs) {
    if (r.disk >= g.disks.size() || g.disks[r.disk].device < 0)
      throw UsageError(fmt::format("disk {} of the group is not present: there is nothing to rewrite", r.disk));
    g.disks[r.disk].rewrite = true;
  }
  commit(g, devices);
  group = std::move(g);
}

}  // namespace bootmirror::ldm
