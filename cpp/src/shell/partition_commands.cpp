// list partition, select partition, detail partition, create partition efi|msr|primary,
// delete partition.
#include <fmt/format.h>

#include "bootmirror/gpt.h"
#include "bootmirror/partitioning.h"
#include "shell/focus.h"
#include "shell/table_text.h"

namespace bootmirror::shell {

namespace {

using gpt::Kind;
using partitioning::PartitioningError;
using Reason = PartitioningError::Reason;

constexpr std::uint64_t kKiB = 1024, kMiB = 1024 * 1024;
constexpr std::string_view kBadArguments = "The arguments you specified for this command are not valid.";

// The Type column of list partition.
std::string type_label(Kind kind) {
  switch (kind) {
    case Kind::efi_system: return "System";
    case Kind::microsoft_reserved: return "Reserved";
    case Kind::basic_data: return "Primary";
    case Kind::ldm_metadata: return "Dynamic Reserved";
    case Kind::ldm_data: return "Dynamic Data";
    default: return "Unknown";
  }
}

std::vector<gpt::Partition> partitions_of(BlockDevice& device) { return partitioning::partitions(device); }

std::string list_partition(Machine& machine, const Arguments&) {
  const AttachedDisk& disk =
      selected_disk(machine, "There is no disk selected to list partitions.\nSelect a disk and try again.");
  BlockDevice& device = device_of(disk);
  const auto parts = partitions_of(device);
  if (parts.empty()) return "There are no partitions on this disk to show.";
  std::vector<Row> rows;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::uint64_t ss = device.sector_size();
    rows.push_back(Row{{fmt::format("Partition {}", i + 1), type_label(parts[i].kind()),
                        format_size(parts[i].sector_span() * ss), format_size(parts[i].first_lba * ss)},
                       machine.focus().partition == i + 1});
  }
  return render_table({{"Partition ###", 13}, {"Type", 16}, {"Size", 7, Column::Align::right},
                       {"Offset", 7, Column::Align::right}},
                      rows);
}

std::string select_partition(Machine& machine, const Arguments& args) {
  const AttachedDisk& disk =
      selected_disk(machine, "There is no disk selected to set the partition.\nSelect a disk and try again.");
  BlockDevice& device = device_of(disk);
  if (args.words.empty()) {
    if (machine.focus().partition) return fmt::format("Partition {} is now the selected partition.", *machine.focus().partition);
    return "There is no partition selected.";
  }
  const auto number = parse_number(args.words.front());
  const auto count = partitions_of(device).size();
  if (!number || *number < 1 || *number > count) {
    machine.focus().partition.reset();
    throw CommandFailed("The specified partition is not valid.\nPlease select a valid partition.\n\nThere is no partition selected.");
  }
  machine.focus().partition = std::size_t(*number);
  return fmt::format("Partition {} is now the selected partition.", *number);
}

const gpt::Partition selected_partition(Machine& machine, BlockDevice& device) {
  const auto parts = partitions_of(device);
  const auto& focus = machine.focus().partition;
  if (!focus || *focus < 1 || *focus > parts.size()) throw CommandFailed(std::string(kNoPartition));
  return parts[*focus - 1];
}

std::string detail_partition(Machine& machine, const Arguments&) {
  BlockDevice& device = device_of(selected_disk(machine));
  const gpt::Partition p = selected_partition(machine, device);
  // Windows hides what it does not mount: the EFI, MSR and LDM partitions.
  const bool hidden = p.kind() != Kind::basic_data;
  return fmt::format("Partition {}\nType  : {}\nHidden: {}\nRequired: {}\nAttrib  : 0X{:016X}\nOffset in Bytes: {}\n\n"
                     "There is no volume associated with this partition.",
                     *machine.focus().partition, p.type.to_string(), hidden ? "Yes" : "No",
                     (p.attributes & 1) ? "Yes" : "No", p.attributes, p.first_lba * device.sector_size());
}

std::optional<std::uint64_t> scaled_option(const Arguments& args, std::string_view key, std::uint64_t unit) {
  auto text = args.option(key);
  if (!text) return std::nullopt;
  auto number = parse_number(*text);
  if (!number || *number > (std::uint64_t(1) << 44)) throw CommandFailed(std::string(kBadArguments));
  return *number * unit;
}

Handler create(partitioning::NewKind kind) {
  return [kind](Machine& machine, const Arguments& args) -> std::string {
    BlockDevice& device = device_of(selected_disk(machine));
    for (const auto& [key, value] : args.options)
      if (key != "size" && key != "offset" && key != "align") throw CommandFailed(std::string(kBadArguments));
    for (const auto& word : args.words)
      if (word != "noerr") throw CommandFailed(std::string(kBadArguments));
    partitioning::CreateRequest request;
    request.kind = kind;
    request.size = scaled_option(args, "size", kMiB);
    request.offset = scaled_option(args, "offset", kKiB);
    request.align = scaled_option(args, "align", kKiB);
    try {
      machine.focus().partition = partitioning::create_partition(device, request).first;
    } catch (const PartitioningError& e) {
      switch (e.reason()) {
        case Reason::not_gpt: throw CommandFailed("The selected disk is not a GPT disk.\nConvert the disk to GPT and try again.");
        case Reason::bad_offset: throw CommandFailed("The specified offset is not valid or there is not enough\nusable space at that offset.");
        default: throw CommandFailed("There is not enough usable space for this operation.");
      }
    }
    return "Diskpart succeeded in creating the specified partition.";
  };
}

std::string delete_partition(Machine& machine, const Arguments& args) {
  for (const auto& word : args.words)
    if (word != "override" && word != "noerr") throw CommandFailed(std::string(kBadArguments));
  BlockDevice& device = device_of(selected_disk(machine));
  selected_partition(machine, device);
  try {
    partitioning::delete_partition(device, *machine.focus().partition, args.has("override"));
  } catch (const PartitioningError& e) {
    if (e.reason() == Reason::protected_partition)
      throw CommandFailed("Cannot delete a protected partition without the force protected parameter set.");
    throw CommandFailed(std::string(kNoPartition));
  }
  machine.focus().partition.reset();
  return "Diskpart successfully deleted the selected partition.";
}

}  // namespace

void add_partition_commands(CommandTable& table) {
  table.add("list partition", "Display a list of partitions on the selected disk", list_partition);
  table.add("select partition", "Move the focus to a partition", select_partition);
  table.add("detail partition", "Provide details about the selected partition", detail_partition);
  table.add("create partition efi", "Create an EFI system partition: SIZE=<MB> [OFFSET=<KB>] [ALIGN=<KB>]",
            create(partitioning::NewKind::efi));
  table.add("create partition msr", "Create a Microsoft Reserved partition: SIZE=<MB> [OFFSET=<KB>] [ALIGN=<KB>]",
            create(partitioning::NewKind::msr));
  table.add("create partition primary", "Create a basic data partition: [SIZE=<MB>] [OFFSET=<KB>] [ALIGN=<KB>]",
            create(partitioning::NewKind::primary));
  table.add("delete partition", "Delete the selected partition: [OVERRIDE] for all but data partitions",
            delete_partition);
}

}  // namespace bootmirror::shell
