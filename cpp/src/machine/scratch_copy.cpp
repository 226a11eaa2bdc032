// What-ifs on a machine (firmware::scratch_copy, planned_writes): a copy whose disks are overlays
// over the machine's and whose NVRAM is a copy in memory, and what it wrote that the machine would
// have. check_redundancy pulls disks on one; a dry run runs a command on one and lists the writes.
#include <cstring>

#include <fmt/format.h>

#include "bootmirror/firmware.h"

namespace bootmirror::firmware {

std::shared_ptr<Machine> scratch_copy(Machine& machine) {
  auto hold = machine.hold();
  auto copy = machine.scratch_copy();
  if (auto nv = store(machine)) {
    const ByteVector image = nv->image();
    auto device = std::make_shared<MemoryDisk>(image.size());
    device->write(0, image);
    copy->nvram_store() = nvram::Store::on_device(device);
  }
  return copy;
}

namespace {

// The 512-byte blocks where two images of the NVRAM differ, merged.
std::vector<Extent> differing(const ByteVector& before, const ByteVector& after) {
  constexpr std::size_t kBlock = 512;
  std::vector<Extent> out;
  const std::size_t size = std::min(before.size(), after.size());
  for (std::size_t at = 0; at < size; at += kBlock) {
    const std::size_t n = std::min(kBlock, size - at);
    if (std::memcmp(before.data() + at, after.data() + at, n) == 0) continue;
    if (!out.empty() && out.back().offset + out.back().length == at) out.back().length += n;
    else out.push_back(Extent{at, n});
  }
  return out;
}

}  // namespace

std::vector<PlannedWrite> planned_writes(Machine& machine, Machine& copy) {
  auto hold = machine.hold();
  auto hold_copy = copy.hold();
  std::vector<PlannedWrite> out;
  for (const auto& [number, disk] : copy.disks()) {
    auto overlay = std::dynamic_pointer_cast<OverlayDisk>(disk.device ? disk.device : disk.failed_device);
    if (!overlay) continue;  // attached to the copy: nothing of the machine's
    auto ranges = overlay->changed_extents(disk.sector_size);
    if (ranges.empty()) continue;
    out.push_back({fmt::format("disk {} ({})", number, disk.image), std::move(ranges)});
  }
  auto before = store(machine);
  auto after = copy.nvram_store();
  if (before && after) {
    auto ranges = differing(before->image(), after->image());
    if (!ranges.empty()) out.push_back({fmt::format("nvram ({})", before->path().empty() ? "in memory" : before->path()), std::move(ranges)});
  }
  if (machine.document() != copy.document()) out.push_back({"machine.json", {}});
  return out;
}

}  // namespace bootmirror::firmware
