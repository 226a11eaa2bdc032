// What the disk and partition commands share: the selected disk and partition, and the messages
// diskpart gives when there is none.
#pragma once

#include <string_view>

#include "bootmirror/dynamic.h"
#include "bootmirror/machine.h"
#include "bootmirror/shell.h"
#include "shell/table_text.h"

namespace bootmirror::shell {

inline constexpr std::string_view kNoDisk = "There is no disk selected.\nPlease select a disk and try again.";
inline constexpr std::string_view kNoPartition = "There is no partition selected.\nPlease select a partition and try again.";

// The selected disk, or CommandFailed(`none`).
const AttachedDisk& selected_disk(Machine& machine, std::string_view none = kNoDisk);
// Its device, or CommandFailed when the disk is missing.
BlockDevice& device_of(const AttachedDisk& disk);
// diskpart's name for a disk: "Disk 1", or "Disk M0" for a missing one (missing disks are
// numbered apart, M0, M1, ...: Machine::missing_index).
std::string disk_label(const Machine& machine, const AttachedDisk& disk);
// The machine disk a diskpart disk number names: "1" a present disk, "m0" (or "M0") a missing one;
// nullopt when there is no such disk.
std::optional<int> disk_number(const Machine& machine, std::string_view text);
// One line of list disk (and of detail volume): Status, Size, Free, Dyn and Gpt as diskpart shows
// them, dynamic disks of the machine's group (`group`) included, missing ones as "Disk M<n>".
Row disk_row(Machine& machine, const AttachedDisk& disk, const std::optional<dynamic::MachineGroup>& group);
// The columns of those lines.
std::vector<Column> disk_columns();
// The machine's disk group, or nullopt (a damaged database shows as no group here; commands that
// change it report the damage).
std::optional<dynamic::MachineGroup> machine_group(Machine& machine);
// list volume's table of the dynamic volumes (those with a plex on disk `on_disk` when given);
// empty when there are none.
std::string volume_table(Machine& machine, const dynamic::MachineGroup& group, std::optional<int> on_disk);
// Its rows and columns, for list volume's table of basic and dynamic volumes together. Dynamic
// volumes are numbered first (their index in the group), basic volumes after them.
std::vector<Row> dynamic_volume_rows(Machine& machine, const dynamic::MachineGroup& group, std::optional<int> on_disk);
std::vector<Column> volume_columns();
// A number given to select: digits only.
std::optional<std::uint64_t> parse_number(std::string_view text);

}  // namespace bootmirror::shell
