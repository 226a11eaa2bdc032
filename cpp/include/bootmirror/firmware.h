// The machine's firmware: its NVRAM (an OVMF variable store, bootmirror/nvram.h) and what the
// boot entries in it lead to on the machine's disks. nvram speaks of device paths and GUIDs; this
// layer turns them into disks, partitions and volumes, decides which ESP and which Windows volume
// the running system came from (list volume's System and Boot), and gives Windows' names for them
// (bootcfg's \Device\HarddiskVolumeN paths).
//
// machine.json keeps this module's part in the section "firmware": {"nvram": "<file in the
// folder>", "boot_current": <Boot#### number of the running boot>}. BootCurrent lives here, not in
// the store, because firmware keeps it only in volatile memory: OVMF never writes it to its VARS
// file, so the machine records which entry it last started.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bootmirror/gpt.h"
#include "bootmirror/machine.h"
#include "bootmirror/nvram.h"
#include "bootmirror/qemu.h"

namespace bootmirror::firmware {

// ---- The store ---------------------------------------------------------------------------------

// The machine's NVRAM, opened read-only on first use (nullptr when the machine has none).
std::shared_ptr<nvram::Store> store(Machine& machine);
// The same, for a change: takes the folder's write lock and reopens the store for writing.
// UsageError when the machine has no NVRAM.
std::shared_ptr<nvram::Store> writable_store(Machine& machine);
// Gives the machine NVRAM: a copy of `template_path` (Debian's OVMF_VARS_4M.fd by default) as
// nvram.fd in its folder (in memory for a machine without one), with the boot entries the firmware
// of the runbook's machine makes for its own devices (LS120, CDROM, EFI Shell) in BootOrder and a
// 30-second Timeout. UsageError when it has NVRAM already or the template is missing (naming the
// Debian package ovmf).
std::shared_ptr<nvram::Store> create_store(Machine& machine, const std::string& template_path = nvram::kDefaultTemplate);

// ---- What-ifs ------------------------------------------------------------------------------------

// Machine::scratch_copy with a copy of the NVRAM in memory: a machine on which anything may be
// tried (a disk pulled, a command run) without writing a byte of this one.
std::shared_ptr<Machine> scratch_copy(Machine& machine);
// What a scratch copy wrote that the machine it came from would have: per disk image and the
// NVRAM, the byte ranges whose contents differ; machine.json, whether its text would change.
struct PlannedWrite {
  std::string target;  // "disk 0 (disk0.img)", "nvram (nvram.fd)", "machine.json"
  std::vector<Extent> ranges;  // empty for machine.json
};
std::vector<PlannedWrite> planned_writes(Machine& machine, Machine& copy);

// ---- Where device paths lead -------------------------------------------------------------------

// A GPT partition of a present disk.
struct PartitionPlace {
  int disk = 0;
  std::uint32_t entry = 0;    // its place in the table from 1: the Hard Drive node's partition number
  std::size_t number = 0;     // list partition's number (offset order)
  gpt::Partition partition;
  std::uint32_t sector_size = 512;
  std::uint64_t offset() const { return partition.first_lba * sector_size; }
  std::uint64_t size() const { return partition.sector_span() * sector_size; }
};

// Every GPT partition of the present disks, disk by disk in offset order.
std::vector<PartitionPlace> partitions(Machine& machine);
// The partition a Hard Drive node names, matched as OVMF matches it: partition number and unique
// GUID, on any present disk (start and size are not compared: measured under QEMU with Debian's
// OVMF, as tests/python/interop/test_machine_boots_qemu.py checks). nullopt when none has both.
std::optional<PartitionPlace> find_partition(Machine& machine, const nvram::HardDrive& node);
std::optional<PartitionPlace> partition_by_guid(Machine& machine, const Guid& unique);
// The Hard Drive node Windows writes for a partition: HD(entry,GPT,guid,start,size).
nvram::HardDrive hard_drive_of(const PartitionPlace& place);

// The volume an OS load path names: a basic partition, or the dynamic volume one of whose plexes
// lies on the partition (an LDM data partition) in the machine's own disk group.
struct OsVolume {
  std::optional<PartitionPlace> partition;    // the partition named (absent: a dynamic volume whose
                                              // named plex's disk is gone)
  std::optional<std::size_t> dynamic_volume;  // its index in the disk group (list volume's number)
};
std::optional<OsVolume> os_volume(Machine& machine, const nvram::DevicePath& os_load_path);

// What a boot entry leads to, as far as it resolves: the partition its loader is on and the
// loader's path; for a Windows entry its OS volume and the path there ("\WINDOWS").
struct EntryTargets {
  std::optional<PartitionPlace> loader_partition;
  std::u16string loader_path;
  bool windows = false;  // the optional data holds Windows' OS options
  std::u16string os_load_options;
  std::optional<OsVolume> os_volume;
  std::u16string os_path;
};
// FormatError when the entry's Windows options are damaged.
EntryTargets targets_of(Machine& machine, const nvram::BootEntry& entry);

// ---- Windows' names ----------------------------------------------------------------------------

// \Device\HarddiskVolumeN of a partition, or nullopt for a partition that is no volume to Windows.
//
// The rule, consistent with every bootcfg transcript of KB 814070: Windows numbers the partitions
// of the present disks from 1, disk by disk in disk order and partition by partition in offset
// order, skipping the LDM metadata and LDM data partitions of dynamic disks (dmio owns those; their
// volumes are BlockVolumes). So with both disks dynamic, disk 0's ESP is HarddiskVolume1, its MSR
// HarddiskVolume2 and disk 1's ESP HarddiskVolume3 (the clone's BootFilePath); on the replacement
// disk 0 that setup partitioned, ESP, MSR and Windows are HarddiskVolume1, 2 and 3 (setup's
// OsFilePath \Device\HarddiskVolume3\WINDOWS).
std::optional<int> harddisk_volume_number(Machine& machine, const PartitionPlace& place);
// \Device\HarddiskDmVolumes\PhysicalDmVolumes\BlockVolumeN of a dynamic volume: N is the number
// in its LDM name ("Volume1"), as dmio names its devices; its place in the group from 1 otherwise.
int block_volume_number(Machine& machine, std::size_t dynamic_volume);
// The NT path of an OS volume ("\Device\HarddiskVolume3"), nullopt when it has none.
std::optional<std::string> nt_device(Machine& machine, const OsVolume& volume);

// ---- The running system ------------------------------------------------------------------------

// The Boot#### the machine last started (BootCurrent).
std::optional<std::uint16_t> boot_current(Machine& machine);

// What the running boot came from: the ESP its loader was on (list volume's "System") and the
// volume holding the Windows it names (list volume's "Boot"). A boot records them by their GUIDs
// (the partitions', and a dynamic volume's), so that Windows goes on running from its volume when
// a disk dies under it: a dynamic boot volume stays the boot volume while its group has it. Empty
// when nothing was started; each part nullopt when it is gone.
struct RunningSystem {
  std::optional<std::uint16_t> entry;
  std::optional<PartitionPlace> system_partition;
  std::optional<OsVolume> boot_volume;
};
RunningSystem running_system(Machine& machine);

// ---- Windows' boot entries ---------------------------------------------------------------------

// A Windows boot entry as Windows Server 2003 writes one: the loader on `esp` at `loader_path`,
// Windows' OS options naming `os_partition`'s `os_path` (both as Hard Drive nodes).
nvram::LoadOption windows_entry(const std::u16string& description, const PartitionPlace& esp, const std::u16string& loader_path,
                                const PartitionPlace& os_partition, const std::u16string& os_path,
                                const std::u16string& os_load_options = u"");
// Adds `option` as a new Boot#### (the lowest free number) at the end of BootOrder, or first;
// returns its number.
std::uint16_t add_boot_entry(Machine& machine, const nvram::LoadOption& option, bool first = false);

// ---- The boot menu as Windows shows it (bootcfg) -----------------------------------------------

// bootcfg numbers the entries of BootOrder from 1 in their order (its "Boot entry ID").
struct EntryView {
  int id = 0;
  std::uint16_t number = 0;  // Boot####
  std::string description;
  bool windows = false;      // Windows' OS options are in the optional data
  std::string os_load_options;
  // \Device\HarddiskVolume1\EFI\...\ia64ldr.efi; nullopt where the path no longer leads to a
  // present partition or a volume of this Windows (bootcfg's "(null)").
  std::optional<std::string> boot_file_path, os_file_path;
};
struct BootOptions {
  std::optional<std::uint16_t> timeout;
  std::optional<std::string> default_os_path;  // the first entry's OsFilePath (bootcfg's Default)
  std::optional<int> current_id;               // the running boot's ID (CurrentBootEntryID)
  std::vector<EntryView> entries;
};
BootOptions boot_options(Machine& machine);
// The Boot#### number of bootcfg ID `id`; UsageError when there is none.
std::uint16_t entry_number(Machine& machine, int id);

// bootcfg /clone: every Windows entry whose loader is on partition `source` (by GUID) is copied to
// the end of BootOrder with its loader on partition `target` (number, place and GUID), its
// description with `suffix` appended after a space (or replaced by it). Returns the IDs cloned.
std::vector<int> clone_entries(Machine& machine, const Guid& source, const Guid& target, const std::u16string& text,
                               bool replace_description);
// bootcfg /mirror /add: a Windows entry whose loader is the running boot's and whose Windows is
// on the partition with GUID `os_partition`, at the end of BootOrder. Returns its Boot####.
std::uint16_t add_mirror_entry(Machine& machine, const Guid& os_partition, const std::u16string& description);
// bootcfg /delete, /default (first in BootOrder), /timeout, /raw (Windows' OsLoadOptions).
void delete_entry(Machine& machine, int id);
void make_default(Machine& machine, int id);
void set_timeout(Machine& machine, std::uint16_t seconds);
void set_os_load_options(Machine& machine, int id, const std::u16string& options, bool append);

// What diskpart's add disk=N does to the boot menu when the volume it mirrors is the running
// Windows': an entry "Boot Mirror C: - secondary plex" with the running entry's loader and the
// new plex's partition as its OS load path, at the end of BootOrder. Nothing for other volumes.
void add_plex_entry(Machine& machine, std::size_t dynamic_volume, int plex_disk);

// The boot-menu changes a disk-group change owes, made crash-safe: recorded in machine.json before
// the group's commit (expect_*), made after it (settle_boot_entries), and made by the next restart
// when a crash came in between. settle_boot_entries checks the disks first, so a change whose
// commit never happened is dropped: the menu always matches the group.
// - add disk=N on the running Windows' volume: the new plex's entry;
void expect_plex_entry(Machine& machine, std::size_t dynamic_volume, int plex_disk);
// - break: the entries of the plex that goes (those whose Windows is no longer on the running
//   Windows' volume once the break is committed).
void expect_entries_gone(Machine& machine, const std::vector<std::uint16_t>& numbers);
void settle_boot_entries(Machine& machine);

// What diskpart's break disk=N does to the boot menu: when the volume is the running Windows', the
// entries whose OS load path names its plex on disk N go, and Windows says nothing; when that disk
// is missing it cannot tell which entries those are and leaves them all ("The service did not
// update the bootfile."). Asked before the break (the plex must still be known), applied after.
struct PlexEntries {
  bool boot_volume = false;  // the volume is the running Windows'
  bool reachable = false;    // the plex's disk is present
  std::vector<std::uint16_t> entries;
};
PlexEntries plex_entries(Machine& machine, std::size_t dynamic_volume, int plex_disk);
// What Windows does to its boot entries when it rewrites a partition table (converting a disk to
// dynamic renumbers its partitions): every Hard Drive node that names a present partition by GUID
// gets that partition's number, start and size, so that firmware, which matches number and GUID,
// still finds it. Nothing is written when every node is current.
void refresh_hard_drive_nodes(Machine& machine);
// Deletes Boot#### entries and their places in BootOrder (BootOrder first).
void delete_entries(Machine& machine, const std::vector<std::uint16_t>& numbers);

// ---- Windows installations -------------------------------------------------------------------

// Each Windows has its own disk group (its registry names it): a Windows on a dynamic volume runs
// with that volume's group, and one that setup put on a basic partition with the group it made
// itself, if any (none when new: the other Windows' dynamic disks are Foreign to it). Starting a
// Windows makes its group the machine's own (dynamic::own_group). Setup records its new
// installation here by the partition it is on.
void record_installation(Machine& machine, const Guid& os_partition);

// ---- Booting ------------------------------------------------------------------------------------

// What a boot did, as firmware and Windows' loader would: the entries tried, what each step found,
// and the text the firmware printed.
struct BootResult {
  bool ok = false;                         // an entry's loader ran and, for Windows, found its Windows
  std::optional<std::uint16_t> entry;      // the Boot#### that started (BootCurrent after the boot)
  std::string description;                 // its description
  std::vector<std::string> steps;          // each step, in order ("Boot0000 ...: partition 1 of disk 0 ...")
  std::string console;                     // what the firmware printed ("LOADING.: ...", "Load of ... failed:  Not Found")
  std::optional<PartitionPlace> loader_partition;
  std::u16string loader_path;
  std::optional<OsVolume> os_volume;
};

// How far one entry gets on the machine as it is, step by step as boot() takes them, without
// starting it (nothing is written). The stages in the order boot() meets them; the first three
// and the three failures after the loader's partition stop the entry before anything runs.
struct EntryCheck {
  enum class Stage {
    no_device_path,        // the entry has no device path
    no_media,              // a firmware device (LS120, CDROM) with nothing in it
    options_damaged,       // its Windows options do not decode
    no_partition,          // no present disk has the partition its Hard Drive node names
    no_loader,             // that partition holds no FAT file system, or no loader file
    firmware_application,  // the firmware's own application (the shell) starts
    loader_started,        // a loader that is not Windows' starts
    no_os_volume,          // Windows' loader starts; its OS load path names no volume of this Windows
    no_windows,            // ... the volume holds no NTFS, or no Windows folder
    windows_started,       // ... and Windows starts
  };
  Stage stage = Stage::no_device_path;
  std::vector<std::string> steps;  // as BootResult::steps
  EntryTargets targets;            // as far as they resolved
  bool started() const { return stage >= Stage::firmware_application; }
};
EntryCheck check_entry(Machine& machine, const nvram::BootEntry& entry);

// Starts the machine as its firmware would: BootNext (used once, then deleted) or else each active
// entry of BootOrder in turn until one starts, or only `entry` when given (a choice in the boot
// menu: when it fails, the firmware says so and pauses). An entry starts when its device path
// leads to a partition of a present disk (number and GUID, as OVMF matches) holding a FAT file
// system with its loader file; a Windows entry then needs its OS load path to lead to a volume
// (a basic partition or a dynamic volume of the machine's group, a degraded mirror too) holding an
// NTFS file system with its Windows folder. The entry that starts becomes BootCurrent; firmware
// entries for devices (LS120, CDROM) find no media. UsageError when the machine has no NVRAM or
// `entry` does not exist.
BootResult boot(Machine& machine, std::optional<std::uint16_t> entry = std::nullopt);
// A restart: Windows' start-up work on the disks (dynamic::reboot: conversions waiting for it,
// interrupted commits and copies), and the firmware's boot when the machine has NVRAM.
std::optional<BootResult> restart(Machine& machine, std::optional<std::uint16_t> entry = std::nullopt);

// A real boot of the machine: its present disks' images in disk order and its NVRAM file under
// QEMU with OVMF (bootmirror/qemu.h). `entry` is the menu's choice (set as BootNext, which OVMF
// uses once and deletes); OVMF then writes its own changes into the NVRAM file, which the machine
// reads back. The option OVMF started becomes BootCurrent, as with boot(). The loader that ran is
// whatever the ESP holds (a marker loader says which ESP it came from). UsageError when the
// machine has no NVRAM or a present disk is not an image file.
struct QemuBoot {
  qemu::BootResult qemu;
  std::optional<std::uint16_t> entry;               // the option OVMF started
  std::optional<PartitionPlace> loader_partition;   // the ESP a marker loader reported
};
QemuBoot boot_in_qemu(Machine& machine, std::optional<std::uint16_t> entry = std::nullopt,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

// Entries firmware keeps though what they point at is gone (it never prunes them): their ESP, their
// loader file or their OS volume is missing. Each with the reason.
struct StaleEntry {
  std::uint16_t number = 0;
  std::string description;
  std::string reason;
};
std::vector<StaleEntry> stale_entries(Machine& machine);

}  // namespace bootmirror::firmware
