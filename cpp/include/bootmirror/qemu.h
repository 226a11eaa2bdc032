// Real boots of disk images under QEMU and OVMF, the proof that firmware finds what bootmirror
// writes: a marker loader (GRUB, which prints which ESP it was loaded from) goes on the ESPs, the
// images boot with an NVRAM variable store that OVMF reads and writes back, and the serial console
// says which Boot#### entries firmware tried and which loader ran. QEMU, OVMF and GRUB are GPL
// programs run through core/program.h, never linked. What was measured while writing this, and
// what OVMF prints in each case: docs/qemu-boots.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/bytes.h"
#include "bootmirror/guid.h"

namespace bootmirror::qemu {

// An x86_64 EFI program (GRUB 2.06 from grub-mkstandalone, Debian's grub-efi-amd64-bin) that
// prints on the first serial port, one short line each (GRUB wraps lines at 80 columns):
//   BOOTMIRROR-LOADED <tag>
//   BOOTMIRROR-PART <unique GUID of the partition it was loaded from>
//   BOOTMIRROR-FS <that partition's FAT serial number, as XXXX-XXXX>
//   BOOTMIRROR-PATH <GRUB's $cmdpath: (hdN,gptM)/folder of the program>
//   BOOTMIRROR-END
// and then powers the machine off. The partition is probed when the program runs, so the same
// file copied to another disk's ESP (as xcopy does) names that ESP. `tag`: 1 to 40 characters of
// A-Z a-z 0-9 . _ - (UsageError otherwise). Built once per tag in a process (builds of one tag
// differ in their embedded time stamps, so a process keeps its first).
ByteVector build_marker_loader(std::string_view tag);

// What one marker loader printed; a field GRUB could not probe is empty.
struct Marker {
  std::string tag;
  std::optional<Guid> partition;
  std::optional<std::uint32_t> fat_serial;
  std::string path;
};

// One Boot#### option as OVMF's BdsDxe reports it on the console ("BdsDxe: loading Boot0000
// "title" from HD(...)/\EFI\...", then "starting ..." or "failed to load ...: Not Found").
struct BootAttempt {
  enum class Outcome {
    loading,       // a load began and nothing followed (the run ended first)
    load_failed,   // firmware gave up on it: device or file not found, or not an EFI program
    started,       // the program was loaded and started
    start_failed,  // it was loaded and StartImage failed
  };
  std::uint16_t option = 0;  // the #### of Boot####
  std::string description;
  std::string device_path;  // OVMF's text of the option's device path (its full HD() node)
  Outcome outcome = Outcome::loading;
  std::string status;  // EFI_STATUS text of a failure ("Not Found")
};
std::string_view outcome_name(BootAttempt::Outcome outcome);  // "loading", "load failed", ...

// The serial console as text: terminal escape sequences and carriage returns removed, bytes that
// are not UTF-8 (the firmware's box drawing in code page 437) as U+FFFD.
std::string clean_console(std::string_view raw);
// The markers and boot attempts in a cleaned console, in order.
std::vector<Marker> find_markers(std::string_view console);
std::vector<BootAttempt> find_boot_attempts(std::string_view console);

// A raw disk image attached as a virtio disk with this logical (and physical) sector size.
struct DiskImage {
  std::string path;
  std::uint32_t sector_size = 512;  // 512 or 4096
};

struct BootOptions {
  std::vector<DiskImage> disks;  // in PCI slot order: the first is the first disk firmware sees
  // An OVMF variable store file (a copy of Debian's OVMF_VARS_4M.fd or OVMF_VARS.fd, or one
  // bootmirror wrote). OVMF writes it during the boot: that is how its changes are read back.
  std::string vars;
  std::string firmware_code;  // empty: the OVMF code that matches the store's size
  std::chrono::milliseconds timeout{30000};
};

struct BootResult {
  int exit_status = 0;     // QEMU's: 0 when the guest powered off
  bool timed_out = false;  // QEMU was stopped at BootOptions::timeout
  // QEMU was stopped because what firmware started sat waiting (a shell at its prompt, a program
  // that neither prints nor powers off): quiet for a few seconds after a start.
  bool stopped_idle = false;
  double seconds = 0;      // from QEMU's start to its exit
  std::string firmware_code;
  std::string console;          // cleaned (clean_console)
  std::string qemu_messages;    // QEMU's own output (warnings), not the guest's
  std::vector<Marker> markers;  // find_markers(console)
  std::vector<BootAttempt> attempts;  // find_boot_attempts(console)
};

// The OVMF code file that pairs with variable store `vars`, chosen by the store's size
// (540,672 bytes: OVMF_CODE_4M.fd, 131,072 bytes: OVMF_CODE.fd) in /usr/share/OVMF. UsageError
// for another size, and naming the Debian package ovmf when the file is not installed.
std::string firmware_code_for(const std::string& vars);

// Boots the disks under qemu-system-x86_64 (q35, TCG: KVM does not work here) with OVMF and the
// variable store, until the guest powers off or the timeout passes. The disk images are never
// written (each is attached with snapshot=on: the guest may write, the writes are dropped); the
// variable store is. UsageError for a missing program (naming its Debian package), a missing or
// unwritable file, a sector size other than 512 or 4096, or an image whose size is not a whole
// number of sectors; Error when QEMU itself fails.
BootResult boot(const BootOptions& options);

}  // namespace bootmirror::qemu
