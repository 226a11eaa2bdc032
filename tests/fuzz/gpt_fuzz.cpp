// GPT header and entry array (UEFI 2.10, 5.3) through the engine's public API, on one disk given as
// a sparse image (support/sparse_image.h). What must hold of any disk:
//   - verify() reports damage and never throws for it; verify() and read() never write;
//   - read() succeeds exactly when verify() finds a valid copy;
//   - a table that reads, once written to a copy of the disk, reads back the same, both copies valid;
//   - repair() either fails having written nothing, or leaves a disk that verifies clean and holds
//     the table it read.
#include <memory>
#include <optional>

#include "bootmirror/gpt.h"
#include "support/harness.h"
#include "support/sparse_image.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

namespace {

// The slots as a reader sees them: unused slots are only "unused" (their other bytes are not
// written back; encode_entry zeroes them).
bool same_slots(const gpt::Table& a, const gpt::Table& b) {
  if (a.entries.size() != b.entries.size() || a.entry_size != b.entry_size) return false;
  for (std::size_t i = 0; i < a.entries.size(); ++i) {
    const gpt::Partition &x = a.entries[i], &y = b.entries[i];
    if (x.used() != y.used()) return false;
    if (x.used() && (x.type != y.type || x.unique != y.unique || x.first_lba != y.first_lba || x.last_lba != y.last_lba ||
                     x.attributes != y.attributes || x.name != y.name || x.tail != y.tail))
      return false;
  }
  return true;
}

bool same_table(const gpt::Table& a, const gpt::Table& b) {
  return same_slots(a, b) && a.disk_guid == b.disk_guid && a.first_usable_lba == b.first_usable_lba &&
         a.last_usable_lba == b.last_usable_lba && a.primary_entries_lba == b.primary_entries_lba &&
         a.backup_header_lba == b.backup_header_lba && a.backup_entries_lba == b.backup_entries_lba;
}

void write_back(const SectorOverlay& disk, const gpt::Table& table) {
  auto copy = std::make_shared<SectorOverlay>(disk);
  if (!attempt([&] { gpt::write(*copy, table); })) return;
  std::optional<gpt::Table> again;
  require(attempt([&] { again = gpt::read(*copy); }), "a table gpt::write wrote reads back");
  require(same_table(table, *again), "a table gpt::write wrote reads back unchanged");
  const gpt::Health health = gpt::verify(*copy);
  require(health.primary.valid() && health.backup.valid() && health.copies_agree && health.protective_mbr,
          "after gpt::write both copies are valid and agree, behind a protective MBR");
}

void repair_copy(const SectorOverlay& disk, const gpt::Table& table) {
  auto copy = std::make_shared<SectorOverlay>(disk);
  const std::uint64_t writes = copy->writes();
  if (!attempt([&] { gpt::repair(*copy); })) {
    require(copy->writes() == writes, "a gpt::repair that fails writes nothing");
    return;
  }
  const gpt::Health health = gpt::verify(*copy);
  require(health.clean(), "after gpt::repair the disk verifies clean");
  const gpt::Table repaired = gpt::read(*copy);
  require(same_slots(table, repaired) && repaired.disk_guid == table.disk_guid,
          "gpt::repair keeps the partitions of the copy it trusted");
  require(gpt::repair(*copy).actions.empty(), "a second gpt::repair finds nothing to do");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  SparseImage image = decode_sparse_image({reinterpret_cast<const std::byte*>(data), size}, 1);
  SectorOverlay& disk = *image.disks[0];
  const std::uint64_t writes = disk.writes();

  const gpt::Health health = gpt::verify(disk);  // throws only for I/O errors, which memory has none of
  (void)gpt::looks_like_gpt(disk);
  std::optional<gpt::Table> table;
  attempt([&] { table = gpt::read(disk); });
  require(disk.writes() == writes, "gpt::verify and gpt::read never write");
  require(table.has_value() == (health.primary.valid() || health.backup.valid()),
          "gpt::read succeeds exactly when gpt::verify finds a valid copy");
  if (!table) return 0;

  attempt([&] { table->check(); });
  gpt::Table compacted = *table;
  compacted.compact();
  require(compacted.in_offset_order().size() == table->in_offset_order().size(), "compact keeps every partition");
  write_back(disk, *table);
  repair_copy(disk, *table);
  return 0;
}
