// Dynamic disks on a Machine: the machine's one disk group (Windows Server 2003), which of its
// disks are dynamic, missing dynamic disks (M0, M1, ...), conversions waiting for a reboot, and the
// volume operations diskpart offers on them. The LDM engine (bootmirror/ldm.h) does the on-disk
// work; this layer ties its disks to the machine's disk numbers and keeps its part of machine.json
// in the "ldm" section: {"group": guid, "disks": {"<number>": "<ldm disk guid>"}, "pending": [n]}.
#pragma once

#include <chrono>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bootmirror/ldm.h"
#include "bootmirror/machine.h"
#include "bootmirror/mirror.h"

namespace bootmirror::dynamic {

struct MachineGroup {
  ldm::Group group;
  std::vector<DevicePtr> devices;  // GroupDisk::device indexes this; one per attached disk
  std::vector<int> numbers;        // the machine disk number of each device
  std::vector<int> foreign;        // machine disks of another group ("Foreign", left alone)

  // The machine number of group disk `i`: its attached number, or the number its missing image had.
  std::optional<int> number_of(std::size_t disk_index, const Machine& machine) const;
  std::optional<std::size_t> disk_index_of(int number, const Machine& machine) const;
};

// The machine's disk group as its disks hold it now (nullopt when no disk is dynamic).
std::optional<MachineGroup> group_of(Machine& machine);
// The GUID of the running Windows' disk group ("" when it has none): the group group_of reads;
// every other group on the disks is foreign. Each Windows installation has its own (kept in its
// registry): starting another installation switches it (bootmirror/firmware.h does).
std::string own_group(Machine& machine);
void set_own_group(Machine& machine, const std::string& guid);
// The group GUID in disk `number`'s LDM database, "" for a disk that holds none (or a missing one).
std::string group_on_disk(Machine& machine, int number);
// Whether disk `number` is a present dynamic disk of the machine's group; foreign disks too count.
bool is_dynamic(Machine& machine, int number);
bool is_foreign(Machine& machine, int number);
bool is_pending(const Machine& machine, int number);
// The disk Windows runs from: a GPT disk with an EFI system partition and a basic data partition
// (the Windows volume), or an MBR disk with an active partition. Converting it needs a reboot.
bool is_system_disk(BlockDevice& device);

// diskpart "convert dynamic": true when done now, false when it waits for reboot().
bool convert_dynamic(Machine& machine, int number);
// A restart: the firmware restores damaged GPT copies, Windows completes the conversions waiting
// for it, brings disks left behind by an interrupted commit up to date, and resumes interrupted
// mirror resynchronisations.
void reboot(Machine& machine);
// Writes the group to its present disks and records the disk numbers in machine.json.
void commit(Machine& machine, MachineGroup& group);

// The size diskpart shows for a missing dynamic disk: the extents the group knows on it.
std::uint64_t known_bytes(const MachineGroup& group, std::size_t disk_index);
// diskpart's convert basic: the dynamic GPT disk `number` leaves the group and becomes basic.
// Without `keep_data` it must hold no volume ("The disk is not empty."). With it (our extension),
// each simple volume wholly on it and its plex of each mirror become basic data partitions at
// the same extents (ldm::kept_extents says what is refused: spanned, striped and RAID-5 volumes,
// MBR disks), the LDM metadata partition goes back to the MSR, the other disks' databases drop
// it, and the simple volumes' drive letters stay with their partitions. Crash-safe: recorded in
// machine.json first, so a restart finishes what a power cut interrupted (convert_basic.cpp).
void convert_basic(Machine& machine, int number, bool keep_data);
// A restart's part: finishes a conversion to basic that machine.json records.
void finish_conversion_to_basic(Machine& machine);
// ldm repair: each present disk of the machine's group whose database is damaged or behind the
// group's gets it rewritten whole from the newest consistent copy (ldm::repair), in one commit.
// Returns the disks (machine numbers) with why. UsageError when the machine has no disk group.
std::vector<std::pair<int, std::vector<std::string>>> repair_databases(Machine& machine);
// Volume `volume_index` as a block device over all its plexes (bootmirror/mirror.h): a plex on a
// missing disk is failed, the plex a rebuild is copying into serves no reads. nullptr when no plex
// has a layout the records can describe.
std::shared_ptr<mirror::VolumeDevice> open_volume(Machine& machine, const MachineGroup& group, std::size_t volume_index);
// The dynamic volume a user names: a drive letter ("c", "C:", "C:\\") from its drive hint, or its
// number as list volume shows it ("0"); nullopt when there is none. UsageError for other text.
std::optional<std::size_t> volume_index(const MachineGroup& group, std::string_view which);
// diskpart's status of a volume: "Healthy", "Rebuild" (a plex still being copied), "Failed Rd" (a
// plex cannot serve, another can) or "Failed".
std::string volume_status(Machine& machine, const MachineGroup& group, std::size_t volume_index);
// "FAT32", "FAT" or "NTFS" and the label, as list volume shows them; empty when unknown.
std::pair<std::string, std::string> file_system_of(Machine& machine, const MachineGroup& group, std::size_t volume_index);

// "delete disk" on a missing dynamic disk: drops it from the group and detaches it.
void delete_missing_disk(Machine& machine, int number);
// "add disk=N" on a volume: a new plex on disk N, recorded in every disk's database; its bytes are
// copied from a healthy plex in the background (the volume shows Rebuild until then).
void add_mirror(Machine& machine, std::size_t volume_index, int number);
// Whether a mirror's new plex is still being copied (or waits to be: interrupted, or its disk is
// missing).
bool is_rebuilding(Machine& machine, const std::string& volume_guid);
// Starts (or wakes) the machine's background copy of every recorded rebuild, from each one's last
// checkpoint; returns at once. reboot() and add_mirror() call it.
void start_rebuilds(Machine& machine);
// start_rebuilds(), then blocks until no rebuild can make progress or `timeout` passed (true when
// idle). Rethrows the first error a rebuild hit. Call without holding the machine's lock.
bool wait_for_rebuilds(Machine& machine, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
// The background copy's speed limit in bytes per second; 0 holds every copy where it is, nullopt
// (the default) lifts the limit. Not recorded: it lasts as long as the Machine object.
void set_rebuild_speed_limit(Machine& machine, std::optional<std::uint64_t> bytes_per_second);
std::optional<std::uint64_t> rebuild_speed_limit(Machine& machine);
// A recorded rebuild as it stands: the volume (its number in list volume), the machine number of
// the disk receiving the copy (nullopt while that disk is missing) and the bytes copied so far
// (the live cursor while it runs, else the last checkpoint) of the volume's size.
struct RebuildStatus {
  std::size_t volume = 0;
  std::optional<int> disk;
  std::uint64_t done = 0, total = 0;
};
std::vector<RebuildStatus> rebuild_status(Machine& machine);
// The disk vanishes under the running machine (Machine::fail_disk): its plexes fail, the volumes
// they belong to show Failed Rd and go on from their other plexes, and each of those plexes is
// recorded as needing a full copy when the disk comes back.
void fail_disk(Machine& machine, int number);
// A new disk (blank, or holding a fresh Windows) takes number `number`, as a replacement put in
// the dead disk's slot; the old disk fails if it had not, and stays as a missing disk (M<k>, under
// the machine number returned) until break and delete disk drop it. Refused for the old disk's
// own image: attaching that brings the old disk back instead.
int replace_disk(Machine& machine, int number, DevicePtr device);
// diskpart's clean of disk `number`: its partitioning is wiped. A disk of the machine's group was
// wiped under the group, which still lists it: as Windows shows it then, the group's disk is a
// missing disk of its own (M<k>, under the machine number returned, with no image: its bytes are
// gone), its plexes fail, and `number` is the blank disk left in the slot.
std::optional<int> clean_disk(Machine& machine, int number);
// At a restart: the wipe of a clean that a crash interrupted (machine.json recorded it first).
void finish_interrupted_clean(Machine& machine);
// Windows' "Reactivate Disk": a missing disk whose image (or device) the machine still knows is
// connected again, and the plexes on the disk that failed (I/O errors; they are otherwise left
// alone until the machine restarts) are copied back in: only what each one missed.
void reactivate_disk(Machine& machine, int number);
// A missing disk was attached again: the volumes take its plexes back, and the copies recorded
// for them start.
void disk_returned(Machine& machine);
// Finishes every interrupted resynchronisation, as Windows does when it next starts: brings disks
// an interrupted commit left behind up to date, then copies from each one's last checkpoint and
// waits for the copies.
void resync(Machine& machine);
// resync's part before the copies: the commit catch-up and the failed plexes tried again.
void prepare_resync(Machine& machine);
// What the mirror copies still to run would write, by machine disk: each copy's plex on its
// target disk from the copy's cursor to the volume's end, in byte ranges of the disk (a copy from
// a write-intent bitmap writes only the marked regions inside them). For dry runs.
std::vector<std::pair<int, std::vector<Extent>>> pending_copy_ranges(Machine& machine);
// "break disk=N [nokeep]": removes the plex on disk N; with keep it becomes a simple volume.
// Returns whether the boot entries were brought up to date (false: "The service did not update
// the bootfile.").
bool break_mirror(Machine& machine, std::size_t volume_index, int number, bool keep);

}  // namespace bootmirror::dynamic
