// Does every disk boot on its own? For each disk of a machine, the boot as firmware and Windows'
// loader would do it with every other disk gone, played on a scratch copy of the machine
// (Machine::scratch_copy: the disks and NVRAM are left as they were), and what to do where it
// fails. People who mirror boot disks lose redundancy silently: the shadow's ESP drifts, a boot
// entry names a partition that no longer exists, a plex is still resynchronising; this finds out
// before disk 0 dies.
//
// The verdicts come from firmware::boot itself (restart after the disks are pulled), so the check
// and a real recovery cannot disagree; the advice comes from check_entry's stages on the same copy.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bootmirror/fat.h"
#include "bootmirror/firmware.h"
#include "bootmirror/qemu.h"

namespace bootmirror::redundancy {

// A real boot of one disk alone under QEMU with OVMF: only that disk's image (snapshot=on, never
// written) and a copy of the machine's NVRAM file without BootNext (the machine's own is not
// touched). QEMU cannot run Windows; what it proves is the firmware's part: which entry starts,
// and (with a marker loader on the ESP, bootmirror/qemu.h) from which ESP.
struct RealBoot {
  qemu::BootResult qemu;
  std::optional<std::uint16_t> entry;                      // the option OVMF started (the shell too)
  std::optional<firmware::PartitionPlace> loader_partition;  // the ESP a marker loader reported
  bool agrees = false;  // the check predicted this: the same entry started, or none
};
// UsageError when the disk is missing or no image file, or the machine has no NVRAM.
RealBoot boot_alone_in_qemu(Machine& machine, int disk, std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

// One disk, with every other disk gone.
struct DiskAlone {
  int disk = 0;
  std::optional<firmware::PartitionPlace> esp;  // its EFI system partition (the first), if any
  // The loader's path the boot used or, when nothing started, the one the machine's own boot uses,
  // and whether the disk's ESP holds that file.
  std::u16string loader_path;
  bool loader_present = false;
  std::optional<std::uint16_t> entry;  // the Boot#### that starts (the firmware's shell too)
  std::string entry_description;
  std::string os_plex;   // where Windows starts from: "Volume1 (plex on disk 1)", "partition 3 of disk 1"
  bool boots = false;    // the disk alone starts Windows (or a non-Windows loader of a boot entry)
  // The machine boots without this disk (every other present disk in place). For a machine of
  // two disks, this is the other disk's `boots`.
  bool survives_loss = false;
  firmware::BootResult boot;                        // the boot with this disk alone
  std::vector<std::string> problems;                // what stops it, or what is amiss though it boots
  std::vector<std::string> advice;                  // what to do about each problem
  std::vector<fat::TreeDifference> esp_differences; // from the reference ESP (the machine's own boot's)
  std::optional<RealBoot> real;                     // with CheckOptions::qemu
};

struct Report {
  firmware::BootResult whole;                            // the boot with every present disk
  std::optional<firmware::PartitionPlace> reference_esp;  // the ESP that boot loads from
  std::vector<DiskAlone> disks;                          // the present disks, in order
  std::vector<int> missing;                              // disks missing already
  // Losing any one present disk leaves a machine that boots (false for a machine of one disk, or
  // one that does not boot at all).
  bool survives_loss_of_any_disk() const;
};

struct CheckOptions {
  bool qemu = false;  // also boot each disk alone for real (about 5 seconds a disk)
  std::chrono::milliseconds timeout{60000};  // for each real boot
};

// UsageError when the machine has no NVRAM (there is no boot to check).
Report check(Machine& machine, const CheckOptions& options = {});

}  // namespace bootmirror::redundancy
