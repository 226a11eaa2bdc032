// Disks left behind by an interrupted commit (see ldm.h, stale_disks), and finishing the
// conversion of a disk whose commit stopped part way (resume_disk).
#include <fmt/format.h>

#include "bootmirror/gpt.h"
#include "bootmirror/ldm.h"
#include "bootmirror/unicode.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

namespace {

// Records in the VBLK area beyond the committed configuration: new versions written before a
// switch that never came, or old ones a finished switch had not yet blanked. Our reader hides them
// by commit id; libldm counts every record and refuses the disk until they are gone.
bool holds_leftovers(BlockDevice& device) {
  const DiskDatabase db = read_database(device);
  const std::size_t found[4] = {db.volumes.size(), db.components.size(), db.partitions.size(), db.disks.size()};
  for (int i = 0; i < 4; ++i)
    if (found[i] != db.vmdb.committed[i]) return true;
  return false;
}

}  // namespace

std::vector<std::size_t> stale_disks(const Group& group, const std::vector<DevicePtr>& devices) {
  std::vector<std::size_t> stale;
  for (std::size_t i = 0; i < group.disks.size(); ++i) {
    const GroupDisk& d = group.disks[i];
    if (d.device < 0 || std::size_t(d.device) >= devices.size() || !devices[std::size_t(d.device)]) continue;
    BlockDevice& device = *devices[std::size_t(d.device)];
    bool behind = d.committed_seq != group.committed_seq;
    try {
      behind = behind || holds_leftovers(device);
      if (!behind && d.scheme == Scheme::gpt) {
        gpt::Table table = gpt::read(device);
        behind = detail::sync_gpt_data_partitions(table, d, group.partitions);
      }
    } catch (const Error&) {
      behind = true;  // an unreadable database or table is rewritten whole by the next commit
    }
    if (behind) stale.push_back(i);
  }
  return stale;
}

void resume_disk(Group& group, std::size_t disk_index, const DevicePtr& device, int device_index) {
  if (!device) throw UsageError("resume_disk: no disk");
  if (disk_index >= group.disks.size()) throw UsageError(fmt::format("the group has no disk {}", disk_index));
  GroupDisk& d = group.disks[disk_index];
  if (d.device >= 0) throw UsageError(fmt::format("{} is present already", escape_bytes(d.record.name)));
  detail::refuse_member(group, device_index);
  // The disk is still the basic disk it was (its own database and table are written last), so
  // the plan made now is the one the interrupted conversion made.
  const detail::DiskPlan plan = detail::plan_disk(*device);
  for (const auto& p : group.partitions)
    if (p.disk_id == d.record.id && (p.start > plan.data_size || plan.data_size - p.start < p.size))
      throw UsageError(fmt::format("{} does not hold the extents the group gives {}", device->name(), escape_bytes(d.record.name)));
  detail::place(d, plan, device_index);
}

}  // namespace bootmirror::ldm
