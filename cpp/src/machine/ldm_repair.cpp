// ldm repair on a machine (dynamic::repair_databases): the group's damaged or stale databases
// rewritten from the newest consistent copy, through the machine's own commit.
#include <fmt/format.h>

#include "bootmirror/dynamic.h"

namespace bootmirror::dynamic {

std::vector<std::pair<int, std::vector<std::string>>> repair_databases(Machine& machine) {
  auto hold = machine.hold();
  auto mg = group_of(machine);
  if (!mg) throw UsageError("There are no dynamic disks on this machine: there is no LDM database to repair.");
  const std::vector<ldm::DiskRepair> repairs = ldm::repairs_needed(mg->group, mg->devices);
  std::vector<std::pair<int, std::vector<std::string>>> out;
  for (const ldm::DiskRepair& r : repairs)
    out.emplace_back(mg->numbers[std::size_t(mg->group.disks[r.disk].device)], r.reasons);
  if (repairs.empty()) return out;
  machine.prepare_write();
  for (const ldm::DiskRepair& r : repairs) mg->group.disks[r.disk].rewrite = true;
  commit(machine, *mg);
  return out;
}

}  // namespace bootmirror::dynamic
