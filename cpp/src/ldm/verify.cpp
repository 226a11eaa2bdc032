// verify(): everything that is wrong with one disk's LDM structures, copy by copy, without writing
// and without throwing for damage (gpt::verify's counterpart). It reads as read_group does, so what
// it calls readable, read_group can read; what it lists beside that was read around.
#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

using namespace detail;

std::vector<std::string> Health::problems() const {
  std::vector<std::string> out;
  for (const Damage& d : damage) out.push_back(d.describe());
  return out;
}

namespace {

std::uint64_t record_offset(const DiskDatabase& db, const RecordHeader& r) {
  return vmdb_offset(db) + std::uint64_t(r.placement.slots.at(0)) * db.vmdb.vblk_size;
}

// The records as they bear on this disk: its own disk record, its partitions against its data area
// (the PRIVHEAD's logical disk), and every plex against its volume's size.
void check_records(const DiskDatabase& db, Health& h) {
  Group g;
  try {
    g = assemble(db);
  } catch (const FormatError& e) {
    h.damage.push_back(damage_of("VBLK", e, vmdb_offset(db)));
    h.readable = false;
    return;
  }
  const Guid own = Guid::parse(db.privhead.disk_guid);
  const GroupDisk* self = nullptr;
  for (const auto& d : g.disks)
    if (d.record.guid == own) self = &d;
  if (!self)
    h.damage.push_back({"VMDB", vmdb_offset(db),
                        fmt::format("no disk record carries this disk's GUID {}: libldm shows the disk as not present", own.to_string())});
  for (const auto& p : g.partitions)
    if (self && p.disk_id == self->record.id && !inside_data_area(p, db.privhead.logical_disk_size))
      h.damage.push_back({"partition", record_offset(db, p),
                          fmt::format("partition '{}' (sectors {}+{}) lies outside this disk's {}-sector data area", escape_bytes(p.name),
                                      p.start, p.size, db.privhead.logical_disk_size)});
  for (std::size_t ci = 0; ci < g.components.size(); ++ci) {
    std::string problem = capacity_problem(g, ci);
    if (!problem.empty())
      h.damage.push_back({"component", record_offset(db, g.components[ci]),
                          fmt::format("plex '{}': {}", escape_bytes(g.components[ci].name), problem)});
  }
}

}  // namespace

Health verify(BlockDevice& device) {
  Health h;
  DiskDatabase db;
  const char* stage = "";
  try {
    h.is_dynamic = true;
    read_database_into(device, true, db, stage);
    h.readable = true;
  } catch (const NotDynamic&) {
    h.is_dynamic = false;
    return h;
  } catch (const FormatError& e) {
    // What was read around before the failure, then the failure itself (unless it only sums up
    // copies already listed: every PRIVHEAD or TOCBLOCK copy damaged).
    h.damage = db.damage;
    const bool summary = (std::string(stage) == "PRIVHEAD" || std::string(stage) == "TOCBLOCK") && !db.damage.empty();
    if (!summary) h.damage.push_back(damage_of(stage, e, 0));
    // A GPT that cannot be read leaves open whether the disk is dynamic at all.
    if (std::string(stage) == "GPT") h.is_dynamic = false;
    return h;
  }
  h.damage = db.damage;
  check_records(db, h);
  return h;
}

}  // namespace bootmirror::ldm
