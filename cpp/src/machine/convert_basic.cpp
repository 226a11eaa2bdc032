// diskpart's convert basic on a machine (dynamic::convert_basic), with our keepdata: a dynamic GPT
// disk becomes basic again, its simple volumes and mirror plexes basic data partitions at the
// same extents, and the group goes on without it.
//
// Crash safety. The decision is recorded first, in machine.json ("ldm"/"to_basic": the disk's
// number, its LDM GUID, and the letters its simple volumes had); then the disk's GPT is rewritten
// (gpt::write: the backup copy, then the primary: the disk reads as dynamic or as basic, never
// between); then the other disks' databases drop it (a crash-safe commit); then the letters move
// and the record goes. Each step can be done again, so the next restart finishes whatever a power
// cut interrupted. No step writes the volumes' data.
#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/dynamic.h"
#include "bootmirror/firmware.h"
#include "bootmirror/partitioning.h"
#include "bootmirror/unicode.h"
#include "bootmirror/volumes.h"
#include "machine/ldm_section.h"

namespace bootmirror::dynamic {

namespace {

constexpr const char* kRecord = "to_basic";

// The group disk whose LDM GUID is `guid`.
std::optional<std::size_t> group_disk(const MachineGroup& mg, const std::string& guid) {
  for (std::size_t i = 0; i < mg.group.disks.size(); ++i)
    if (mg.group.disks[i].record.guid.to_string() == guid) return i;
  return std::nullopt;
}

bool has_ldm_metadata(BlockDevice& device) {
  try {
    const gpt::Table t = gpt::read(device);
    return std::any_of(t.entries.begin(), t.entries.end(),
                       [](const gpt::Partition& e) { return e.used() && e.kind() == gpt::Kind::ldm_metadata; });
  } catch (const FormatError&) {
    return false;
  }
}

// Every remaining step of a recorded conversion, each skipped when done already.
void finish(Machine& machine, const Json& record) {
  const int number = int(record["disk"].integer("to_basic disk", 0, INT32_MAX));
  const std::string guid = record["guid"].string("to_basic guid");
  const AttachedDisk& disk = machine.disk(number);
  if (!disk.missing() && has_ldm_metadata(*disk.device)) {
    auto mg = group_of(machine);
    const auto di = mg ? group_disk(*mg, guid) : std::nullopt;
    if (!mg || !di || mg->group.disks[*di].device < 0) throw FormatError(fmt::format("disk {}: its conversion to basic cannot go on", number));
    gpt::write(*disk.device, ldm::basic_gpt(*disk.device, ldm::kept_extents(mg->group, *di)));
    disk.device->flush();
  }
  if (auto mg = group_of(machine)) {
    if (const auto di = group_disk(*mg, guid)) {
      ldm::leave_group(mg->group, *di);
      Json::Object& s = ldm_section(machine);
      if (s.count("disks") && s["disks"].is_object()) {
        Json::Object disks = s["disks"].object();
        disks.erase(std::to_string(number));
        s["disks"] = Json(std::move(disks));
      }
      commit(machine, *mg);
    }
  }
  if (!disk.missing()) {
    const auto parts = partitioning::partitions(*disk.device);
    for (const Json& pair : record["letters"].array("to_basic letters")) {
      const Json::Array& fields = pair.array("a to_basic letter");
      if (fields.size() != 2) throw FormatError("machine.json: a to_basic letter should be [first LBA, letter]");
      const std::uint64_t first = std::uint64_t(fields[0].integer("a to_basic letter's first LBA", 0, INT64_MAX));
      const std::string letter = fields[1].string("a to_basic letter");
      if (letter.size() != 1 || letter[0] < 'A' || letter[0] > 'Z')
        throw FormatError(fmt::format("machine.json: to_basic letter {} is not a drive letter", escape_bytes(letter)));
      for (std::size_t i = 0; i < parts.size(); ++i)
        if (parts[i].first_lba == first) assign_letter(machine, number, i + 1, letter[0]);
    }
  }
  // Windows renumbered the disk's GPT entries: the boot entries that name its partitions follow,
  // before the record goes (a restart after a cut here refreshes them again).
  firmware::refresh_hard_drive_nodes(machine);
  ldm_section(machine).erase(kRecord);
  machine.save();
}

}  // namespace

void convert_basic(Machine& machine, int number, bool keep_data) {
  auto hold = machine.hold();
  const AttachedDisk& disk = machine.disk(number);
  if (disk.missing()) throw UsageError("The disk is missing.");
  auto mg = group_of(machine);
  const auto at = mg ? mg->disk_index_of(number, machine) : std::nullopt;
  if (!at) throw UsageError("The disk is not dynamic: it is basic already.");
  const std::uint32_t id = mg->group.disks[*at].record.id;
  const bool empty = std::none_of(mg->group.partitions.begin(), mg->group.partitions.end(),
                                  [&](const ldm::PartitionRecord& p) { return p.disk_id == id; });
  if (!keep_data && !empty) throw UsageError("The disk is not empty.");
  const std::vector<ldm::KeptExtent> kept = ldm::kept_extents(mg->group, *at);
  // Checked now, so that nothing the steps below do can be refused half-way.
  (void)ldm::basic_gpt(*disk.device, kept);
  Json::Array letters;
  for (const ldm::KeptExtent& k : kept)
    if (!k.mirror_plex)
      if (const auto letter = ldm::drive_letter(mg->group.volumes[k.volume].record))
        letters.push_back(Json(Json::Array{Json(std::int64_t(k.first_lba)), Json(std::string(1, *letter))}));
  machine.prepare_write();
  ldm_section(machine)[kRecord] = Json(Json::Object{
      {"disk", number}, {"guid", mg->group.disks[*at].record.guid.to_string()}, {"letters", Json(std::move(letters))}});
  machine.save();
  finish(machine, ldm_section(machine)[kRecord]);
}

void finish_conversion_to_basic(Machine& machine) {
  auto hold = machine.hold();
  Json::Object& s = ldm_section(machine);
  if (!s.count(kRecord) || !s[kRecord].is_object()) return;
  const Json record = s[kRecord];
  finish(machine, record);
}

}  // namespace bootmirror::dynamic
