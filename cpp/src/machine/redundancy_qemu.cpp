// One disk booted alone for real (redundancy::boot_alone_in_qemu): the disk's image and a private
// copy of the NVRAM under QEMU with OVMF, so the machine's own files are never written.
#include <fmt/format.h>

#include "bootmirror/redundancy.h"
#include "core/program.h"

namespace bootmirror::redundancy {

RealBoot boot_alone_in_qemu(Machine& machine, int disk, std::chrono::milliseconds timeout) {
  auto hold = machine.hold();
  auto nv = firmware::store(machine);
  if (!nv) throw UsageError("This machine has no NVRAM: there is nothing to boot.");
  const AttachedDisk& attached = machine.disk(disk);
  if (attached.missing()) throw UsageError(fmt::format("disk {} is missing: there is nothing of it to boot", disk));
  if (attached.path.empty()) throw UsageError(fmt::format("disk {} is no image file: QEMU boots image files", disk));

  // The store as the machine holds it, less BootNext (one boot's choice; the check is about every
  // boot after it), in a file of its own that OVMF may write.
  const ByteVector image = nv->image();
  auto device = std::make_shared<MemoryDisk>(image.size());
  device->write(0, image);
  auto copy = nvram::Store::on_device(device);
  if (copy->boot_next()) copy->set_boot_next(std::nullopt);
  TemporaryFolder folder("check");
  const std::string vars = (folder.path() / "nvram.fd").string();
  {
    auto file = ImageFile::create(vars, image.size());
    file->write(0, copy->image());
    file->flush();
  }

  qemu::BootOptions options;
  options.disks.push_back({attached.path, attached.sector_size});
  options.vars = vars;
  options.timeout = timeout;
  RealBoot out;
  out.qemu = qemu::boot(options);
  for (const qemu::BootAttempt& a : out.qemu.attempts)
    if (a.outcome == qemu::BootAttempt::Outcome::started) out.entry = a.option;
  for (const qemu::Marker& m : out.qemu.markers)
    if (m.partition) out.loader_partition = firmware::partition_by_guid(machine, *m.partition);
  return out;
}

}  // namespace bootmirror::redundancy
