// Reading, verifying, writing and repairing the two copies of a GPT on a block device.
#include <algorithm>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "bootmirror/crc32.h"
#include "bootmirror/gpt.h"
#include "gpt/codec.h"

namespace bootmirror::gpt {

namespace {

struct Copy {
  CopyState state;
  std::string header_problem;
  std::string array_problem;
  std::optional<codec::Header> header;
  std::optional<std::vector<Partition>> entries;
  ByteVector array;  // the entry array's bytes as read
};

struct Inspection {
  Health health;
  Copy primary;
  Copy backup;
  std::uint64_t sector_count = 0;
  std::uint32_t sector_size = 512;
  // The valid primary header's AlternateLBA lies past the disk's end: the disk shrank (or the
  // field is damaged), and its backup is looked for at the last LBA instead.
  bool alternate_past_end = false;
};

std::uint64_t array_sectors(const codec::Header& h, std::uint32_t sector_size) {
  return (h.array_bytes() + sector_size - 1) / sector_size;
}

// Whether an array of `sectors` at `entries_lba` lies inside the disk (past the protective MBR).
bool array_fits(const BlockDevice& disk, std::uint64_t entries_lba, std::uint64_t sectors) {
  return entries_lba >= 1 && entries_lba < disk.sector_count() && disk.sector_count() - entries_lba >= sectors;
}

// Reads the entry array `h` describes (possibly borrowed from the other copy, at `entries_lba`).
// `other`, the copy read already: when this array holds the same bytes and `h` describes it as
// the other's header does, it decodes to the same entries with the same checks passing, so its
// entries are taken instead of checking the CRC and decoding again (an LDM scan reads both
// arrays of every disk, and they are nearly always identical).
void inspect_array(BlockDevice& disk, const codec::Header& h, std::uint64_t entries_lba, Copy& copy,
                   const Copy* other = nullptr, const codec::Header* other_header = nullptr) {
  const std::uint32_t ss = disk.sector_size();
  const std::uint64_t sectors = array_sectors(h, ss);
  if (!array_fits(disk, entries_lba, sectors)) {
    copy.array_problem = fmt::format("entry array at LBA {} does not fit the disk", entries_lba);
    return;
  }
  copy.array = disk.read(entries_lba * ss, sectors * ss);
  if (other && other->state.array_valid && other_header && copy.array.size() == other->array.size() &&
      std::memcmp(copy.array.data(), other->array.data(), copy.array.size()) == 0 &&
      h.entries_crc == other_header->entries_crc && h.entry_count == other_header->entry_count &&
      h.entry_size == other_header->entry_size && h.first_usable_lba == other_header->first_usable_lba &&
      h.last_usable_lba == other_header->last_usable_lba) {
    copy.entries = other->entries;
    copy.state.array_valid = true;
    return;
  }
  try {
    copy.entries = codec::decode_array(copy.array, h, entries_lba * ss);
    copy.state.array_valid = true;
  } catch (const FormatError& e) {
    copy.array_problem = e.what();
  }
}

// The used entries of the array `h` describes; nullopt when the array does not fit the disk or
// does not decode, as inspect_array would find it.
std::optional<std::vector<Partition>> used_entries(BlockDevice& disk, const codec::Header& h) {
  const std::uint32_t ss = disk.sector_size();
  const std::uint64_t sectors = array_sectors(h, ss);
  if (!array_fits(disk, h.entries_lba, sectors)) return std::nullopt;
  const SectorRead array(disk, h.entries_lba * ss, sectors * ss);
  try {
    return codec::decode_array(array, h, h.entries_lba * ss, codec::Slots::used);
  } catch (const FormatError&) {
    return std::nullopt;
  }
}

Copy inspect_header(BlockDevice& disk, std::uint64_t lba) {
  Copy copy;
  copy.state.header_lba = lba;
  const std::uint32_t ss = disk.sector_size();
  if (lba >= disk.sector_count()) {
    copy.header_problem = fmt::format("LBA {} is past the end of the disk", lba);
    return copy;
  }
  const SectorRead block(disk, lba * ss, ss);
  copy.state.header_found = matches_ascii(block, 0, "EFI PART");
  try {
    copy.header = codec::decode_header(block, lba, disk.sector_count(), ss);
    copy.state.header_valid = true;
  } catch (const FormatError& e) {
    copy.header_problem = e.what();
  }
  return copy;
}

bool same_partitions(const std::vector<Partition>& a, const std::vector<Partition>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const Partition &x = a[i], &y = b[i];
    if (x.type != y.type || x.unique != y.unique || x.first_lba != y.first_lba || x.last_lba != y.last_lba ||
        x.attributes != y.attributes || x.name != y.name || x.tail != y.tail)
      return false;
  }
  return true;
}

Inspection inspect(BlockDevice& disk) {
  Inspection in;
  in.sector_size = disk.sector_size();
  in.sector_count = disk.sector_count();
  Health& health = in.health;
  const std::uint64_t n = in.sector_count;
  if (n < 4) {
    health.problems.push_back(fmt::format("{}: {} sectors are too few for a GPT", disk.name(), n));
    return in;
  }
  ByteVector block0 = disk.read(0, in.sector_size);
  health.protective_mbr = codec::is_protective_mbr(block0, n);

  in.primary = inspect_header(disk, 1);
  std::uint64_t backup_lba = n - 1;
  if (in.primary.header && in.primary.header->alternate_lba < n) backup_lba = in.primary.header->alternate_lba;
  in.alternate_past_end = in.primary.header && in.primary.header->alternate_lba >= n;
  in.backup = inspect_header(disk, backup_lba);
  if (in.backup.header && in.backup.header->alternate_lba != 1) {
    in.backup.state.header_valid = false;
    in.backup.header_problem = fmt::format("GPT header: AlternateLBA is {}, not 1", in.backup.header->alternate_lba);
    in.backup.header.reset();
  }
  health.is_gpt = in.primary.state.header_found || in.backup.state.header_found || health.protective_mbr;
  health.backup_at_end = backup_lba == n - 1;

  // Each array is checked against its own header, or against the other header when its own is bad
  // (both copies describe the same entries; the arrays sit at their standard places).
  if (in.primary.header) {
    inspect_array(disk, *in.primary.header, in.primary.header->entries_lba, in.primary);
  } else if (in.backup.header) {
    inspect_array(disk, *in.backup.header, 2, in.primary);
  }
  if (in.backup.header) {
    inspect_array(disk, *in.backup.header, in.backup.header->entries_lba, in.backup, &in.primary,
                  in.primary.header ? &*in.primary.header : nullptr);
  } else if (in.primary.header) {
    const std::uint64_t sectors = array_sectors(*in.primary.header, in.sector_size);
    if (backup_lba > sectors) inspect_array(disk, *in.primary.header, backup_lba - sectors, in.backup);
  }
  auto describe = [&](Copy& copy, const char* which) {
    if (!copy.state.header_valid) {
      if (!copy.state.header_found)
        copy.header_problem = fmt::format("no \"EFI PART\" signature at LBA {}", copy.state.header_lba);
      health.problems.push_back(fmt::format("{} header is damaged: {}", which, copy.header_problem));
    }
    if (!copy.state.array_valid) {
      if (copy.array_problem.empty()) copy.array_problem = "no valid header describes it";
      health.problems.push_back(fmt::format("{} entry array is damaged: {}", which, copy.array_problem));
    }
    copy.state.problem = !copy.state.header_valid ? "header: " + copy.header_problem
                         : !copy.state.array_valid ? "entry array: " + copy.array_problem
                                                   : std::string();
  };
  if (!health.is_gpt) {
    health.problems.push_back(fmt::format("{} holds no GPT: no \"EFI PART\" header at LBA 1 or at the last LBA", disk.name()));
    return in;
  }
  describe(in.primary, "primary");
  describe(in.backup, "backup");
  if (!health.backup_at_end)
    health.problems.push_back(fmt::format("the backup GPT header is at LBA {}, not at the last LBA {}: the disk grew",
                                          backup_lba, n - 1));
  if (in.alternate_past_end)
    health.problems.push_back(fmt::format("the primary GPT header puts its backup at LBA {}, past the disk's last LBA {}: the disk shrank",
                                          in.primary.header->alternate_lba, n - 1));
  if (in.primary.state.valid() && in.backup.state.valid()) {
    const codec::Header &p = *in.primary.header, &b = *in.backup.header;
    health.copies_agree = p.disk_guid == b.disk_guid && p.first_usable_lba == b.first_usable_lba &&
                          p.last_usable_lba == b.last_usable_lba && p.entry_size == b.entry_size &&
                          same_partitions(*in.primary.entries, *in.backup.entries);
    if (!health.copies_agree) health.problems.push_back("the primary and backup GPT describe different tables");
  } else {
    health.copies_agree = false;
  }
  if (!health.protective_mbr) health.problems.push_back("LBA 0 holds no protective MBR covering the disk");
  health.primary = in.primary.state;
  health.backup = in.backup.state;
  return in;
}

[[noreturn]] void throw_unusable(BlockDevice& disk, const Inspection& in) {
  if (!in.health.is_gpt)
    throw FormatError(fmt::format("{} holds no GPT: no \"EFI PART\" header at LBA 1 or at the last LBA", disk.name()),
                      in.sector_size);
  throw FormatError(fmt::format("{}: both GPT copies are unusable; primary: {}; backup: {}", disk.name(),
                                in.primary.state.problem, in.backup.state.problem),
                    in.sector_size);
}

Table table_from(const Inspection& in) {
  const bool from_primary = in.primary.state.valid();
  const Copy& good = from_primary ? in.primary : in.backup;
  const codec::Header& h = *good.header;
  Table t;
  t.sector_size = in.sector_size;
  t.sector_count = in.sector_count;
  t.disk_guid = h.disk_guid;
  t.revision = h.revision;
  t.first_usable_lba = h.first_usable_lba;
  t.last_usable_lba = h.last_usable_lba;
  t.entry_size = h.entry_size;
  t.entries = *good.entries;
  const std::uint64_t sectors = array_sectors(h, in.sector_size);
  if (from_primary) {
    t.primary_entries_lba = h.entries_lba;
    t.backup_header_lba = h.alternate_lba < in.sector_count ? h.alternate_lba : in.sector_count - 1;
    t.backup_entries_lba = in.backup.header ? in.backup.header->entries_lba : t.backup_header_lba - sectors;
  } else {
    t.primary_entries_lba = in.primary.header ? in.primary.header->entries_lba : 2;
    t.backup_header_lba = h.my_lba;
    t.backup_entries_lba = h.entries_lba;
  }
  return t;
}

codec::Header header_for(const Table& t, bool primary, std::uint32_t entries_crc) {
  codec::Header h;
  h.revision = t.revision;
  h.my_lba = primary ? 1 : t.backup_header_lba;
  h.alternate_lba = primary ? t.backup_header_lba : 1;
  h.first_usable_lba = t.first_usable_lba;
  h.last_usable_lba = t.last_usable_lba;
  h.disk_guid = t.disk_guid;
  h.entries_lba = primary ? t.primary_entries_lba : t.backup_entries_lba;
  h.entry_count = std::uint32_t(t.entries.size());
  h.entry_size = t.entry_size;
  h.entries_crc = entries_crc;
  return h;
}

void check_fits(BlockDevice& disk, const Table& t) {
  t.check();
  if (t.sector_size != disk.sector_size())
    throw UsageError(fmt::format("a table for {}-byte sectors cannot go on a disk of {}-byte sectors", t.sector_size,
                                 disk.sector_size()));
  const std::uint64_t n = disk.sector_count(), sectors = t.entry_array_sectors();
  // A table made for another size (Table.create(n)) would put its backup inside this disk.
  if (t.sector_count != n)
    throw UsageError(fmt::format("the table was made for a disk of {} sectors; {} has {}", t.sector_count, disk.name(), n));
  const bool fits = t.backup_header_lba < n && t.backup_entries_lba + sectors <= t.backup_header_lba &&
                    t.last_usable_lba < t.backup_entries_lba && t.primary_entries_lba >= 2 &&
                    t.primary_entries_lba + sectors <= t.first_usable_lba;
  if (!fits) throw UsageError(fmt::format("the GPT's layout does not fit {} ({} sectors)", disk.name(), n));
}

// One copy: its array, then its header (the header's CRC vouches for the array only once both are
// down), then a flush so the next copy cannot overtake it.
void write_copy(BlockDevice& disk, const Table& t, bool primary, const ByteVector& array, std::uint32_t crc) {
  const std::uint64_t ss = t.sector_size;
  const codec::Header h = header_for(t, primary, crc);
  disk.write(h.entries_lba * ss, array);
  disk.write(h.my_lba * ss, codec::encode_header(h, t.sector_size));
  disk.flush();
}

void write_protective_mbr(BlockDevice& disk) {
  ByteVector block0 = disk.read(0, disk.sector_size());
  if (codec::is_protective_mbr(block0, disk.sector_count())) return;
  disk.write(0, codec::encode_protective_mbr(block0, disk.sector_count()));
  disk.flush();
}

}  // namespace

Health verify(BlockDevice& disk) { return inspect(disk).health; }

bool looks_like_gpt(BlockDevice& disk) {
  Inspection in = inspect(disk);
  return in.health.is_gpt;
}

Table read(BlockDevice& disk) {
  Inspection in = inspect(disk);
  if (!in.primary.state.valid() && !in.backup.state.valid()) throw_unusable(disk, in);
  return table_from(in);
}

EntryArray read_entries(BlockDevice& disk) {
  if (disk.sector_count() >= 4) {
    Copy primary = inspect_header(disk, 1);
    if (primary.header)
      if (auto used = used_entries(disk, *primary.header)) return {std::move(*used), primary.header->entries_lba};
  }
  Table t = read(disk);
  EntryArray out{{}, t.primary_entries_lba};
  for (Partition& p : t.entries)
    if (p.used()) out.used.push_back(std::move(p));
  return out;
}

void write(BlockDevice& disk, const Table& table) {
  check_fits(disk, table);
  const ByteVector array = codec::encode_array(table);
  const std::uint32_t crc = crc32(ByteSpan(array).first(std::size_t(table.entries.size()) * table.entry_size));
  write_copy(disk, table, false, array, crc);
  write_copy(disk, table, true, array, crc);
  write_protective_mbr(disk);
}

RepairReport repair(BlockDevice& disk, bool fix_grown) {
  Inspection in = inspect(disk);
  if (!in.primary.state.valid() && !in.backup.state.valid()) throw_unusable(disk, in);
  Table t = table_from(in);
  RepairReport report;
  const bool primary_bad = !in.primary.state.valid();
  // Two valid copies that disagree: the primary wins, as UEFI firmware reads it first. (copies_agree
  // is also false when one copy is invalid; that case is primary_bad alone.)
  bool backup_bad = !in.backup.state.valid() || (!primary_bad && !in.health.copies_agree);
  bool moved = false;
  // A grown disk's backup moves to its end when asked (sgdisk -e); a shrunk disk's must (the
  // primary points past the end): the same new layout, the usable range ending before the backup.
  const bool shrank = in.alternate_past_end;
  if ((fix_grown && !in.health.backup_at_end) || shrank) {
    const std::uint64_t sectors = t.entry_array_sectors();
    const std::uint64_t n = in.sector_count;
    if (n < t.first_usable_lba + sectors + 2)
      throw FormatError(fmt::format("{} ({} sectors) is too small for its GPT's backup after LBA {}", disk.name(), n, t.first_usable_lba),
                        n * t.sector_size);
    t.backup_header_lba = n - 1;
    t.backup_entries_lba = n - 1 - sectors;
    const std::uint64_t last_usable = t.backup_entries_lba - 1;
    for (const Partition& p : t.entries)
      if (p.used() && p.last_lba > last_usable)
        throw FormatError(fmt::format("{} shrank below its partitions: entry ends at LBA {}, the disk has {} sectors",
                                      disk.name(), p.last_lba, n), n * t.sector_size);
    t.last_usable_lba = last_usable;
    t.sector_count = n;
    moved = backup_bad = true;
  }
  check_fits(disk, t);
  const ByteVector array = codec::encode_array(t);
  const std::uint32_t crc = crc32(ByteSpan(array).first(std::size_t(t.entries.size()) * t.entry_size));
  // The damaged copy first; the good one is rewritten only when its header must point elsewhere.
  if (primary_bad) {
    write_copy(disk, t, true, array, crc);
    report.actions.push_back("rewrote the primary GPT header and entry array from the backup");
  }
  if (backup_bad) {
    write_copy(disk, t, false, array, crc);
    report.actions.push_back(moved ? fmt::format("wrote the backup GPT at the end of the {} disk (LBA {})", shrank ? "shrunk" : "grown",
                                                 t.backup_header_lba)
                                   : std::string("rewrote the backup GPT header and entry array from the primary"));
  }
  if (moved && !primary_bad) {
    write_copy(disk, t, true, array, crc);
    report.actions.push_back(shrank ? fmt::format("pointed the primary GPT header at the backup at LBA {}; the usable range ends at LBA {}",
                                                  t.backup_header_lba, t.last_usable_lba)
                                    : fmt::format("extended the usable range to LBA {}", t.last_usable_lba));
  }
  if (!in.health.protective_mbr) {
    write_protective_mbr(disk);
    report.actions.push_back("rewrote the protective MBR");
  }
  return report;
}

}  // namespace bootmirror::gpt
