// list volume, select volume, assign, remove: basic volumes and their drive letters.
#include <fmt/format.h>

#include "bootmirror/fat_commands.h"
#include "bootmirror/firmware.h"
#include "bootmirror/volumes.h"
#include "shell/focus.h"
#include "shell/table_text.h"

namespace bootmirror::shell {

namespace {

constexpr std::string_view kNoVolume = "There is no volume selected.\nPlease select a volume and try again.";

// The selected basic volume: the partition in focus (select volume on a basic volume puts the
// focus on its partition; on a dynamic one it clears the partition focus).
std::pair<int, std::size_t> selected_partition_of(Machine& machine) {
  const auto& focus = machine.focus();
  if (focus.disk && focus.partition) return {*focus.disk, *focus.partition};
  if (focus.volume)
    throw CommandFailed("Drive letters of dynamic volumes are kept in the disk group; this command does not change them.");
  throw CommandFailed(std::string(kNoVolume));
}

// list volume: the machine's dynamic volumes (numbered by their place in the disk group), then its
// basic volumes (numbered after them).
std::string list_volume(Machine& machine, const Arguments&) {
  std::vector<Row> rows;
  if (auto group = machine_group(machine)) rows = dynamic_volume_rows(machine, *group, std::nullopt);
  // "System": the EFI system partition the running boot's loader came from; "Boot": the volume
  // holding its Windows (bootmirror/firmware.h decides both).
  const firmware::RunningSystem running = firmware::running_system(machine);
  auto is = [](const std::optional<firmware::PartitionPlace>& place, const BasicVolume& v) {
    return place && place->disk == v.disk && place->number == v.partition;
  };
  // CD-ROM drives, empty: numbered between the dynamic volumes and the basic ones.
  int number = int(rows.size());
  for (char letter : cdrom_drives(machine))
    rows.push_back(Row{{fmt::format("Volume {}", number++), std::string(1, letter), "", "", "CD-ROM", "0 B", "Healthy", ""},
                       machine.focus().volume == number - 1});
  for (const BasicVolume& v : basic_volumes(machine)) {
    // Windows mounts a basic volume (and so knows its file system and label) when it has a drive
    // letter; one without shows neither, as the runbook's list volume shows the new Windows
    // partition and the ESP after the recovery.
    std::string fs, label;
    if (v.letter) {
      fs = "RAW";
      try {
        if (auto found = file_system_on(machine, volume_device(machine, v))) fs = found->name, label = found->label;
      } catch (const Error&) {
      }
    }
    const bool boot = running.boot_volume && !running.boot_volume->dynamic_volume && is(running.boot_volume->partition, v);
    const std::string info = is(running.system_partition, v) ? "System" : boot ? "Boot" : "";
    rows.push_back(Row{{fmt::format("Volume {}", v.number), v.letter ? std::string(1, *v.letter) : "", label, fs,
                        "Partition", format_size(v.size), "Healthy", info},
                       machine.focus().volume == v.number});
  }
  if (rows.empty()) return "There are no volumes.";
  return render_table(volume_columns(), rows);
}

// select volume N or select volume <letter>: a basic volume's letter (from assign), else a
// dynamic volume's drive letter hint.
std::string select_volume(Machine& machine, const Arguments& args) {
  if (args.words.empty()) {
    if (machine.focus().volume) return fmt::format("Volume {} is the selected volume.", *machine.focus().volume);
    return "There is no volume selected.";
  }
  const std::string& word = args.words.front();
  const auto group = machine_group(machine);
  const std::size_t dynamic_count = group ? group->group.volumes.size() : 0;
  std::optional<int> number;
  std::optional<BasicVolume> basic;
  if (auto n = parse_number(word)) {
    if (*n < dynamic_count) number = int(*n);
    for (const BasicVolume& v : basic_volumes(machine))
      if (std::uint64_t(v.number) == *n) basic = v;
  } else if (word.size() == 1 || (word.size() == 2 && word[1] == ':')) {
    try {
      basic = volume_by_letter(machine, word);
    } catch (const UsageError&) {
    }
    if (!basic && group)
      for (std::size_t i = 0; i < dynamic_count; ++i) {
        const auto letter = ldm::drive_letter(group->group.volumes[i].record);
        if (letter && *letter == std::toupper(static_cast<unsigned char>(word[0]))) number = int(i);
      }
  }
  if (basic) {
    // Selecting a basic volume also puts the focus on its disk and partition.
    number = basic->number;
    machine.focus().disk = basic->disk;
    machine.focus().partition = basic->partition;
  } else if (number) {
    machine.focus().partition.reset();
  }
  if (!number) {
    machine.focus().volume.reset();
    throw CommandFailed("The volume you selected is not valid or does not exist.");
  }
  machine.focus().volume = *number;
  // The seed's answers: "Select volume P" (a basic volume) names the letter, "Select volume C" (a
  // dynamic one) its number.
  if (!basic) return fmt::format("Volume {} is the selected volume.", *number);
  std::string shown = word;
  for (char& c : shown) c = char(std::toupper(static_cast<unsigned char>(c)));
  if (!shown.empty() && shown.back() == ':') shown.pop_back();
  return fmt::format("Volume {} is the selected volume.", shown);
}

std::string assign(Machine& machine, const Arguments& args) {
  selected_partition_of(machine);
  const auto& focus = machine.focus();
  char letter;
  if (auto text = args.option("letter")) {
    if (text->size() != 1 && !(text->size() == 2 && (*text)[1] == ':'))
      throw CommandFailed("The arguments you specified for this command are not valid.");
    letter = char(std::toupper(static_cast<unsigned char>((*text)[0])));
    if (letter < 'A' || letter > 'Z') throw CommandFailed("The arguments you specified for this command are not valid.");
  } else {
    letter = next_free_letter(machine);
  }
  bool taken = dynamic_volume_letters(machine).count(letter) != 0;
  for (const BasicVolume& v : basic_volumes(machine))
    taken |= v.letter == letter && !(v.disk == *focus.disk && v.partition == *focus.partition);
  if (taken)
      throw CommandFailed(
          "The specified drive letter is not free to be assigned.\n"
          "Please ensure that the drive letter specified is not in use, or not reserved.");
  try {
    assign_letter(machine, *focus.disk, *focus.partition, letter);
  } catch (const UsageError&) {
    // Not diskpart's wording (the seed never shows it): MSR, LDM and unknown partitions hold no volume.
    throw CommandFailed("Diskpart failed to assign the drive letter: the selected partition holds no volume.");
  }
  if (auto v = volume_of_partition(machine, *focus.disk, *focus.partition)) machine.focus().volume = v->number;
  return "Diskpart successfully assigned the drive letter or mount point.";
}

std::string remove(Machine& machine, const Arguments&) {
  auto [disk, partition] = selected_partition_of(machine);
  auto volume = volume_of_partition(machine, disk, partition);
  if (!volume) throw CommandFailed(std::string(kNoVolume));
  if (!volume->letter) throw CommandFailed("There is no drive letter or mount point to remove.");
  unmount_fat(machine, std::string(1, *volume->letter));
  remove_letter(machine, disk, partition);
  return "Diskpart successfully removed the drive letter or mount point.";
}

}  // namespace

void add_volume_commands(CommandTable& table) {
  table.add("list volume", "Display a list of volumes", list_volume);
  table.add("select volume", "Move the focus to a volume: a number or a drive letter", select_volume);
  table.add("assign", "Assign a drive letter to the selected partition: [LETTER=<D>]", assign);
  table.add("remove", "Remove the drive letter of the selected volume", remove);
}

}  // namespace bootmirror::shell
