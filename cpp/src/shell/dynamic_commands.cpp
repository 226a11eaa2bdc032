// Dynamic disks and their volumes in diskpart: convert dynamic, list/select/detail volume,
// add disk=N (mirror), break disk=N [nokeep], delete disk (a missing one). Texts from KB 814070's
// transcripts (steps "Convert the Primary and Shadow Drives to Dynamic", "Establish a Mirror" and
// "Re-Establish the Primary Boot Drive Mirror").
#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/firmware.h"

#include "bootmirror/dynamic.h"
#include "shell/focus.h"
#include "shell/table_text.h"

namespace bootmirror::shell {

namespace {

constexpr std::string_view kNoVolume = "There is no volume selected.\nPlease select a volume and try again.";
constexpr std::string_view kBadArguments = "The arguments you specified for this command are not valid.";

template <typename F>
auto guarded(F f) {
  try {
    return f();
  } catch (const UsageError& e) {
    throw CommandFailed(e.what());
  }
}

dynamic::MachineGroup require_group(Machine& machine) {
  auto mg = dynamic::group_of(machine);
  if (!mg) throw CommandFailed("There are no volumes.");
  return std::move(*mg);
}

std::size_t selected_volume(Machine& machine, const dynamic::MachineGroup& mg) {
  const auto& v = machine.focus().volume;
  if (!v || std::size_t(*v) >= mg.group.volumes.size()) throw CommandFailed(std::string(kNoVolume));
  return std::size_t(*v);
}

// disk=N (a present disk) or disk=M<n> (a missing one): the machine disk number. Any other
// value is refused as KB 331494 shows for "break disk=0" when disk 0 is missing: the missing disk
// has only its M number.
int disk_option(Machine& machine, const Arguments& args) {
  auto value = args.option("disk");
  auto number = value ? disk_number(machine, *value) : std::nullopt;
  if (!number) throw CommandFailed(std::string(kBadArguments));
  return *number;
}

std::string convert_dynamic(Machine& machine, const Arguments&) {
  const AttachedDisk& disk = selected_disk(machine);
  device_of(disk);
  const bool done = guarded([&] { return dynamic::convert_dynamic(machine, disk.number); });
  if (!done) return "You must reboot your computer to complete this operation.";
  return "Diskpart successfully converted the selected disk to dynamic format.";
}

// convert basic [keepdata]: Windows converts an empty dynamic disk only; keepdata (ours) keeps its
// simple volumes and mirror plexes as basic partitions (dynamic::convert_basic).
std::string convert_basic(Machine& machine, const Arguments& args) {
  const AttachedDisk& disk = selected_disk(machine);
  device_of(disk);
  for (const std::string& word : args.words)
    if (word != "keepdata") throw CommandFailed(std::string(kBadArguments));
  if (!args.options.empty()) throw CommandFailed(std::string(kBadArguments));
  guarded([&] { dynamic::convert_basic(machine, disk.number, args.has("keepdata")); });
  // The disk's volumes left the group and the others were numbered again: the selected number
  // may name another volume now (an "add disk" after it mirrored a volume never selected).
  machine.focus().volume.reset();
  return "Diskpart successfully converted the selected disk to basic format.";
}

std::string detail_volume(Machine& machine, const Arguments&) {
  dynamic::MachineGroup mg = require_group(machine);
  const auto& v = mg.group.volumes[selected_volume(machine, mg)];
  std::vector<int> numbers;
  for (std::size_t pi : v.partitions) {
    const ldm::GroupDisk* d = mg.group.find_disk(mg.group.partitions[pi].disk_id);
    if (!d) continue;
    for (std::size_t i = 0; i < mg.group.disks.size(); ++i)
      if (&mg.group.disks[i] == d)
        if (auto n = mg.number_of(i, machine); n && std::find(numbers.begin(), numbers.end(), *n) == numbers.end())
          numbers.push_back(*n);
  }
  std::sort(numbers.begin(), numbers.end(), [&](int a, int b) {
    // Missing disks first, as diskpart lists M0 before Disk 1.
    bool ma = machine.disk(a).missing(), mb = machine.disk(b).missing();
    return ma != mb ? ma : a < b;
  });
  std::optional<dynamic::MachineGroup> group = std::move(mg);
  std::vector<Row> rows;
  for (int n : numbers) rows.push_back(disk_row(machine, machine.disk(n), group));
  return render_table(disk_columns(), rows);
}

std::string add_disk(Machine& machine, const Arguments& args) {
  dynamic::MachineGroup mg = require_group(machine);
  const std::size_t vi = selected_volume(machine, mg);
  const int number = disk_option(machine, args);
  if (machine.disk(number).missing()) throw CommandFailed("The disk you specified is not valid.");
  guarded([&] { dynamic::add_mirror(machine, vi, number); return 0; });
  return "Diskpart succeeded in adding a mirror to the volume.";
}

std::string break_disk(Machine& machine, const Arguments& args) {
  dynamic::MachineGroup mg = require_group(machine);
  const std::size_t vi = selected_volume(machine, mg);
  const int number = disk_option(machine, args);
  for (const auto& w : args.words)
    if (w != "nokeep" && w != "noerr") throw CommandFailed(std::string(kBadArguments));
  const bool keep = std::find(args.words.begin(), args.words.end(), "nokeep") == args.words.end();
  const bool updated = guarded([&] { return dynamic::break_mirror(machine, vi, number, keep); });
  return updated ? "Diskpart successfully broke the mirror volume."
                 : "The service did not update the bootfile.\n\nDiskpart successfully broke the mirror volume.";
}

std::string delete_disk(Machine& machine, const Arguments&) {
  const AttachedDisk& disk = selected_disk(machine);
  if (!disk.missing()) throw CommandFailed("The selected disk is not a missing disk.\nOnly a missing dynamic disk can be deleted.");
  const int number = disk.number;
  guarded([&] { dynamic::delete_missing_disk(machine, number); return 0; });
  machine.focus() = Focus{};
  return "Diskpart successfully deleted the missing disk.";
}

}  // namespace

std::string volume_type_word(ldm::Layout layout) {
  switch (layout) {
    case ldm::Layout::simple: return "Simple";
    case ldm::Layout::spanned: return "Spanned";
    case ldm::Layout::striped: return "Stripe";
    case ldm::Layout::mirrored: return "Mirror";
    case ldm::Layout::raid5: return "RAID-5";
  }
  return "";
}

std::vector<Row> dynamic_volume_rows(Machine& machine, const dynamic::MachineGroup& mg, std::optional<int> on_disk) {
  std::vector<Row> rows;
  // "Boot": the volume holding the running Windows (bootmirror/firmware.h decides which).
  const firmware::RunningSystem running = firmware::running_system(machine);
  for (std::size_t i = 0; i < mg.group.volumes.size(); ++i) {
    const auto& v = mg.group.volumes[i];
    if (on_disk) {
      bool here = false;
      for (std::size_t pi : v.partitions) {
        const auto& p = mg.group.partitions[pi];
        for (std::size_t di = 0; di < mg.group.disks.size(); ++di)
          if (mg.group.disks[di].record.id == p.disk_id && mg.number_of(di, machine) == on_disk) here = true;
      }
      if (!here) continue;
    }
    const auto hinted = ldm::drive_letter(v.record);
    const std::string letter = hinted ? std::string(1, *hinted) : std::string();
    Row row;
    row.selected = machine.focus().volume == int(i);
    auto [fs, label] = dynamic::file_system_of(machine, mg, i);
    row.cells = {fmt::format("Volume {}", i), letter, label, fs, volume_type_word(v.layout), format_size(ldm::size_bytes(mg.group, i)),
                 dynamic::volume_status(machine, mg, i),
                 running.boot_volume && running.boot_volume->dynamic_volume == i ? "Boot" : ""};
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<Column> volume_columns() {
  return {{"Volume ###", 10}, {"Ltr", 3, Column::Align::center}, {"Label", 11}, {"Fs", 5}, {"Type", 10},
          {"Size", 7, Column::Align::right}, {"Status", 9}, {"Info", 8}};
}

std::string volume_table(Machine& machine, const dynamic::MachineGroup& mg, std::optional<int> on_disk) {
  std::vector<Row> rows = dynamic_volume_rows(machine, mg, on_disk);
  if (rows.empty()) return "";
  return render_table(volume_columns(), rows);
}

void add_dynamic_commands(CommandTable& table) {
  table.add("convert dynamic", "Convert a basic disk into a dynamic disk", convert_dynamic);
  table.add("convert basic", "Convert a dynamic disk into a basic disk (keepdata: keep its simple volumes and mirror plexes)",
            convert_basic);
  // list volume and select volume cover basic and dynamic volumes together: volume_commands.cpp.
  table.add("detail volume", "Provide details about the selected volume", detail_volume);
  table.add("add", "Add a mirror to a simple volume", add_disk);
  table.add("break", "Break a mirror set", break_disk);
  table.add("delete disk", "Delete a missing disk from the disk list", delete_disk);
}

}  // namespace bootmirror::shell
