// Disks left behind by an interrupted commit (see ldm.h, stale_disks).
#include "bootmirror/gpt.h"
#include "bootmirror/ldm.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

std::vector<std::size_t> stale_disks(const Group& group, const std::vector<DevicePtr>& devices) {
  std::vector<std::size_t> stale;
  for (std::size_t i = 0; i < group.disks.size(); ++i) {
    const GroupDisk& d = group.disks[i];
    if (d.device < 0 || std::size_t(d.device) >= devices.size() || !devices[std::size_t(d.device)]) continue;
    bool behind = d.committed_seq != group.committed_seq;
    if (!behind && d.scheme == Scheme::gpt) {
      try {
        gpt::Table table = gpt::read(*devices[std::size_t(d.device)]);
        behind = detail::sync_gpt_data_partitions(table, d, group.partitions);
      } catch (const Error&) {
        behind = true;  // an unreadable table is rewritten by the next commit
      }
    }
    if (behind) stale.push_back(i);
  }
  return stale;
}

}  // namespace bootmirror::ldm
