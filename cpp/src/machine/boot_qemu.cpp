// A real boot of the machine under QEMU with OVMF (firmware::boot_in_qemu): the machine's images
// and NVRAM file handed to bootmirror/qemu.h, and what OVMF did read back into the machine.
#include <fmt/format.h>

#include "bootmirror/firmware.h"
#include "machine/running_record.h"

namespace bootmirror::firmware {

QemuBoot boot_in_qemu(Machine& machine, std::optional<std::uint16_t> entry, std::chrono::milliseconds timeout) {
  auto hold = machine.hold();
  auto nv = store(machine);
  if (!nv) throw UsageError("This machine has no NVRAM: there is nothing to boot.");
  if (entry) {
    if (!nv->boot_entry(*entry)) throw UsageError(fmt::format("There is no boot entry Boot{:04X}.", *entry));
    writable_store(machine)->set_boot_next(*entry);
  }
  qemu::BootOptions options;
  for (const auto& [number, disk] : machine.disks()) {
    if (disk.missing()) continue;  // a dead disk is not in the computer
    if (disk.path.empty()) throw UsageError(fmt::format("disk {} is no image file: QEMU boots image files", number));
    options.disks.push_back({disk.path, disk.sector_size});
  }
  // OVMF writes the store file itself: the machine takes its folder's write lock first, and
  // reads the file anew afterwards (the store it held describes the file as it was).
  machine.prepare_write();
  options.vars = writable_store(machine)->path();
  options.timeout = timeout;
  const auto menu_timeout = nv->timeout();
  machine.nvram_store().reset();
  QemuBoot out;
  out.qemu = qemu::boot(options);
  // OVMF sets Timeout from QEMU's boot-menu wait (0 unless -boot menu=on, which would make every
  // boot wait that long), not from anything on the disks; the machine's firmware setting is the
  // one it had, so it goes back.
  if (writable_store(machine)->timeout() != menu_timeout) writable_store(machine)->set_timeout(menu_timeout);
  for (const qemu::BootAttempt& a : out.qemu.attempts)
    if (a.outcome == qemu::BootAttempt::Outcome::started) out.entry = a.option;
  for (const qemu::Marker& m : out.qemu.markers)
    if (m.partition) out.loader_partition = partition_by_guid(machine, *m.partition);
  // What started is the running system, recorded as boot() records it.
  std::optional<RunningRecord> record;
  if (out.entry) {
    record = RunningRecord{*out.entry, std::nullopt, std::nullopt, std::nullopt};
    if (const auto started = store(machine)->boot_entry(*out.entry)) {
      try {
        record = running_record_of(machine, *out.entry, targets_of(machine, *started));
      } catch (const FormatError&) {
      }
    }
  }
  record_running(machine, record);
  return out;
}

}  // namespace bootmirror::firmware
