// list disk, select disk, detail disk, clean, convert gpt.
#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "bootmirror/gpt.h"
#include "bootmirror/partitioning.h"
#include "shell/focus.h"
#include "shell/table_text.h"

namespace bootmirror::shell {

const AttachedDisk& selected_disk(Machine& machine, std::string_view none) {
  const auto& focus = machine.focus();
  if (!focus.disk || !machine.has_disk(*focus.disk)) throw CommandFailed(std::string(none));
  return machine.disk(*focus.disk);
}

BlockDevice& device_of(const AttachedDisk& disk) {
  if (disk.missing())
    throw CommandFailed("The disk is missing or not ready.\nThe operation cannot be performed on a missing disk.");
  return *disk.device;
}

std::string disk_label(const Machine& machine, const AttachedDisk& disk) {
  if (auto m = machine.missing_index(disk.number)) return fmt::format("Disk M{}", *m);
  return fmt::format("Disk {}", disk.number);
}

std::optional<int> disk_number(const Machine& machine, std::string_view text) {
  const bool missing_form = !text.empty() && (text.front() == 'm' || text.front() == 'M');
  if (missing_form) text.remove_prefix(1);
  const auto number = parse_number(text);
  if (!number || *number > std::uint64_t(std::numeric_limits<int>::max())) return std::nullopt;
  if (missing_form) return machine.missing_disk(int(*number));
  if (!machine.has_disk(int(*number)) || machine.disk(int(*number)).missing()) return std::nullopt;
  return int(*number);
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + std::uint64_t(c - '0');
  }
  return value;
}

std::optional<dynamic::MachineGroup> machine_group(Machine& machine) {
  try {
    return dynamic::group_of(machine);
  } catch (const FormatError&) {
    return std::nullopt;
  }
}

std::vector<Column> disk_columns() {
  return {{"Disk ###", 8}, {"Status", 10}, {"Size", 7, Column::Align::right}, {"Free", 7, Column::Align::right},
          {"Dyn", 3, Column::Align::center}, {"Gpt", 3, Column::Align::center}};
}

Row disk_row(Machine& machine, const AttachedDisk& disk, const std::optional<dynamic::MachineGroup>& group) {
  Row row;
  if (disk.missing()) {
    // A missing dynamic disk keeps what the group knows of it (seed: "Disk M0  Missing  2996 MB  0 B  *").
    auto index = group ? group->disk_index_of(disk.number, machine) : std::nullopt;
    if (index) row.cells = {disk_label(machine, disk), "Missing", format_size(dynamic::known_bytes(*group, *index)), "0 B", "*", ""};
    else row.cells = {disk_label(machine, disk), "Missing", "0 B", "0 B", "", ""};
    return row;
  }
  const bool is_gpt = partitioning::style_of(*disk.device) == partitioning::Style::gpt;
  if (dynamic::is_foreign(machine, disk.number)) {
    row.cells = {disk_label(machine, disk), "Foreign", format_size(disk.device->size()), "0 B", "*", is_gpt ? "*" : ""};
    return row;
  }
  if (group) {
    if (auto index = group->disk_index_of(disk.number, machine)) {
      std::uint64_t free = 0;
      for (auto [start, size] : ldm::free_extents(group->group, *index)) free += size;
      row.cells = {disk_label(machine, disk), "Online", format_size(disk.device->size()),
                   format_size(free * disk.device->sector_size()), "*", is_gpt ? "*" : ""};
      return row;
    }
  }
  std::uint64_t free = 0;  // a table too damaged to read offers no free space
  try {
    free = partitioning::free_bytes(*disk.device);
  } catch (const FormatError&) {
  }
  row.cells = {disk_label(machine, disk), "Online", format_size(disk.device->size()), format_size(free), "", is_gpt ? "*" : ""};
  return row;
}

namespace {

using partitioning::Style;

std::string list_disk(Machine& machine, const Arguments&) {
  if (machine.disks().empty()) return "There are no fixed disks to show.";
  const auto group = machine_group(machine);
  std::vector<Row> rows;
  for (const auto& [number, disk] : machine.disks()) {
    Row row = disk_row(machine, disk, group);
    row.selected = machine.focus().disk == number;
    rows.push_back(std::move(row));
  }
  return render_table(disk_columns(), rows);
}

std::string select_disk(Machine& machine, const Arguments& args) {
  if (args.words.empty()) {
    if (machine.focus().disk && machine.has_disk(*machine.focus().disk))
      return fmt::format("{} is now the selected disk.", disk_label(machine, machine.disk(*machine.focus().disk)));
    return "There is no disk selected.";
  }
  const auto number = disk_number(machine, args.words.front());
  if (!number) {
    machine.focus() = Focus{};
    throw CommandFailed("The disk you specified is not valid.\n\nThere is no disk selected.");
  }
  machine.focus() = Focus{*number, std::nullopt, std::nullopt};
  return fmt::format("{} is now the selected disk.", disk_label(machine, machine.disk(*number)));
}

std::string detail_disk(Machine& machine, const Arguments&) {
  const AttachedDisk& disk = selected_disk(machine);
  BlockDevice& device = device_of(disk);
  std::string id = "00000000";
  if (partitioning::style_of(device) == Style::gpt) {
    std::string guid = gpt::read(device).disk_guid.to_string();
    for (char& c : guid) c = char(std::toupper(static_cast<unsigned char>(c)));
    id = "{" + guid + "}";
  }
  // A dynamic disk lists the volumes with a plex on it, as list volume shows them.
  std::string volumes;
  if (auto group = machine_group(machine)) volumes = volume_table(machine, *group, disk.number);
  return fmt::format("bootmirror image {}\nDisk ID: {}\nType   : FILE\nBus    : 0\nTarget : 0\nLUN ID : {}\n\n{}",
                     device.name(), id, disk.number, volumes.empty() ? "There are no volumes." : volumes);
}

std::string clean(Machine& machine, const Arguments&) {
  device_of(selected_disk(machine));  // refuses a missing disk
  dynamic::clean_disk(machine, *machine.focus().disk);
  machine.focus().partition.reset();
  return "Diskpart succeeded in cleaning the disk.";
}

std::string convert_gpt(Machine& machine, const Arguments&) {
  BlockDevice& device = device_of(selected_disk(machine));
  try {
    partitioning::convert_gpt(device);
  } catch (const partitioning::PartitioningError&) {
    throw CommandFailed("The specified disk is not convertible. CDROMs and DVDs\nare examples of disks that are not convertible.");
  }
  machine.focus().partition.reset();
  return "Diskpart successfully converted the selected disk to GPT format.";
}

}  // namespace

void add_disk_commands(CommandTable& table) {
  table.add("list disk", "Display a list of disks", list_disk);
  table.add("select disk", "Move the focus to a disk", select_disk);
  table.add("detail disk", "Provide details about the selected disk", detail_disk);
  table.add("clean", "Clear the configuration information off the disk", clean);
  table.add("convert gpt", "Convert an empty basic disk to GPT", convert_gpt);
}

}  // namespace bootmirror::shell
