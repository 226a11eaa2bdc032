#include <gtest/gtest.h>

#include "bootmirror/crc32.h"
#include "bootmirror/gpt.h"
#include "bootmirror/identity.h"
#include "bootmirror/partitioning.h"
#include "gpt/codec.h"

using namespace bootmirror;

namespace {

std::shared_ptr<MemoryDisk> disk_with_table(std::uint64_t bytes = 64ull << 20, std::uint32_t ss = 512) {
  auto disk = std::make_shared<MemoryDisk>(bytes, ss);
  gpt::Table t = gpt::Table::create(disk->sector_count(), ss);
  gpt::Partition p;
  p.type = gpt::type_of(gpt::Kind::efi_system);
  p.unique = IdentitySource::new_guid();
  p.first_lba = t.first_usable_lba;
  p.last_lba = p.first_lba + 2047;
  p.set_name("EFI system partition");
  t.entries[0] = p;
  gpt::write(*disk, t);
  return disk;
}

ByteVector snapshot(BlockDevice& d) { return d.read(0, d.size()); }

std::vector<gpt::Partition> used_entries(const gpt::Table& t) {
  std::vector<gpt::Partition> out;
  for (const auto& p : t.entries)
    if (p.used()) out.push_back(p);
  return out;
}

// Rewrites the header at `lba` with `mutate` applied and a correct CRC, so only the field is wrong.
template <typename F>
void patch_header(BlockDevice& d, std::uint64_t lba, F mutate) {
  const auto ss = d.sector_size();
  ByteVector block = d.read(lba * ss, ss);
  mutate(MutableByteSpan(block));
  const auto size = load_le<std::uint32_t>(block, 12);
  store_le<std::uint32_t>(block, 16, 0);
  store_le<std::uint32_t>(block, 16, crc32(ByteSpan(block).first(std::min<std::size_t>(size, ss))));
  d.write(lba * ss, block);
}

void patch_both_headers(BlockDevice& d, auto mutate) {
  patch_header(d, 1, mutate);
  patch_header(d, d.sector_count() - 1, mutate);
}

}  // namespace

TEST(GptCodec, HeaderRoundTrips) {
  gpt::codec::Header h;
  h.my_lba = 1;
  h.alternate_lba = 1000;
  h.first_usable_lba = 34;
  h.last_usable_lba = 966;
  h.disk_guid = Guid::parse("01234567-89ab-cdef-0123-456789abcdef");
  h.entries_lba = 2;
  h.entry_count = 128;
  h.entry_size = 128;
  h.entries_crc = 0xdeadbeef;
  ByteVector block = gpt::codec::encode_header(h, 512);
  EXPECT_TRUE(matches_ascii(block, 0, "EFI PART"));
  auto back = gpt::codec::decode_header(block, 1, 1001, 512);
  EXPECT_EQ(back.disk_guid, h.disk_guid);
  EXPECT_EQ(back.last_usable_lba, 966u);
  EXPECT_EQ(back.entries_crc, 0xdeadbeefu);
  // UEFI byte order of the disk GUID: Data1 little-endian.
  EXPECT_EQ(std::to_integer<int>(block[56]), 0x67);
}

TEST(GptCodec, EntryRoundTripsWithNameAndTail) {
  gpt::Partition p;
  p.type = Guid::parse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
  p.unique = Guid::parse("476688c5-8ebf-47d2-80e7-cf9d065edb81");
  p.first_lba = 34;
  p.last_lba = 417825;
  p.attributes = 0x8000000000000001ull;
  p.set_name("EFI system partition \xc3\xa9\xf0\x9f\x98\x80");
  p.tail = ByteVector(128, std::byte{0x5a});
  ByteVector entry(256);
  gpt::codec::encode_entry(p, entry);
  auto q = gpt::codec::decode_entry(entry);
  EXPECT_EQ(q.type, p.type);
  EXPECT_EQ(q.unique, p.unique);
  EXPECT_EQ(q.attributes, p.attributes);
  EXPECT_EQ(q.name_utf8(), p.name_utf8());
  EXPECT_EQ(q.tail, p.tail);
  EXPECT_EQ(std::to_integer<int>(entry[0]), 0x28);  // c12a7328 little-endian
}

TEST(GptCodec, LongNamesAreRefused) {
  gpt::Partition p;
  EXPECT_THROW(p.set_name(std::string(37, 'x')), UsageError);
  p.set_name(std::string(36, 'x'));
  EXPECT_EQ(p.name.size(), 36u);
}

TEST(GptTable, WriteThenReadBothSectorSizes) {
  for (std::uint32_t ss : {512u, 4096u}) {
    auto disk = disk_with_table(64ull << 20, ss);
    auto health = gpt::verify(*disk);
    EXPECT_TRUE(health.clean()) << (health.problems.empty() ? "" : health.problems[0]);
    auto t = gpt::read(*disk);
    EXPECT_EQ(t.first_usable_lba, ss == 512 ? 34u : 6u);
    EXPECT_EQ(t.backup_header_lba, disk->sector_count() - 1);
    EXPECT_EQ(t.in_offset_order().size(), 1u);
    EXPECT_EQ(t.entries[0].name_utf8(), "EFI system partition");
  }
}

TEST(GptTable, EachDamagedStructureIsDetectedAndRepaired) {
  struct Case {
    const char* name;
    std::uint64_t (*lba)(const BlockDevice&);
  };
  const Case cases[] = {
      {"primary header", [](const BlockDevice&) -> std::uint64_t { return 1; }},
      {"primary array", [](const BlockDevice&) -> std::uint64_t { return 2; }},
      {"backup header", [](const BlockDevice& d) -> std::uint64_t { return d.sector_count() - 1; }},
      {"backup array", [](const BlockDevice& d) -> std::uint64_t { return d.sector_count() - 33; }},
  };
  for (const Case& c : cases) {
    auto disk = disk_with_table();
    const ByteVector good = snapshot(*disk);
    ByteVector garbage(512, std::byte{0x42});
    disk->write(c.lba(*disk) * 512, garbage);
    auto health = gpt::verify(*disk);
    EXPECT_FALSE(health.clean()) << c.name;
    EXPECT_EQ(gpt::read(*disk).in_offset_order().size(), 1u) << c.name;
    auto report = gpt::repair(*disk);
    EXPECT_FALSE(report.actions.empty()) << c.name;
    EXPECT_TRUE(gpt::verify(*disk).clean()) << c.name;
    EXPECT_EQ(snapshot(*disk), good) << c.name;
  }
}

// read_entries gives the used entries read gives, from the primary alone while it is valid: the
// backup's sectors are never read then, so even an unreadable backup does not stop it.
TEST(GptTable, ReadEntriesTakesThePrimaryAloneAndFallsBackAsReadDoes) {
  auto disk = disk_with_table();
  {  // a second partition five slots on: the unused slots between are left out
    gpt::Table t = gpt::read(*disk);
    gpt::Partition p = t.entries[0];
    p.unique = IdentitySource::new_guid();
    p.first_lba = t.entries[0].last_lba + 1;
    p.last_lba = p.first_lba + 99;
    p.set_name("second");
    t.entries[5] = p;
    gpt::write(*disk, t);
  }
  const gpt::Table table = gpt::read(*disk);
  ASSERT_EQ(used_entries(table).size(), 2u);
  auto faulty = std::make_shared<FaultyDisk>(disk);
  faulty->fail_range((disk->sector_count() - 33) * 512, 33 * 512, FaultyDisk::Access::read);
  const gpt::EntryArray primary = gpt::read_entries(*faulty);
  EXPECT_EQ(primary.lba, 2u);
  ASSERT_EQ(primary.used.size(), used_entries(table).size());
  for (std::size_t i = 0; i < primary.used.size(); ++i) {
    EXPECT_EQ(primary.used[i].first_lba, used_entries(table)[i].first_lba);
    EXPECT_EQ(primary.used[i].name, used_entries(table)[i].name);
    EXPECT_EQ(primary.used[i].unique, used_entries(table)[i].unique);
  }
  EXPECT_THROW(gpt::read(*faulty), OsError);  // read looks at both copies

  // A damaged primary header or array: the backup's entries, as read takes them.
  for (std::uint64_t lba : {1, 2}) {
    auto damaged = disk_with_table();
    const gpt::Table before = gpt::read(*damaged);
    damaged->write(lba * 512, ByteVector(512, std::byte{0x42}));
    const gpt::EntryArray backup = gpt::read_entries(*damaged);
    ASSERT_EQ(backup.used.size(), used_entries(before).size()) << "LBA " << lba;
    EXPECT_EQ(backup.used[0].unique, used_entries(before)[0].unique) << "LBA " << lba;
    EXPECT_EQ(backup.lba, gpt::read(*damaged).primary_entries_lba) << "LBA " << lba;
  }
  // Neither copy: read's FormatError.
  disk->write(512, ByteVector(512, std::byte{0x42}));
  disk->write((disk->sector_count() - 1) * 512, ByteVector(512, std::byte{0x42}));
  EXPECT_THROW(gpt::read_entries(*disk), FormatError);
}

TEST(GptTable, BothCopiesDamagedIsAFormatErrorAndNothingIsWritten) {
  auto disk = disk_with_table();
  ByteVector garbage(512, std::byte{0x42});
  disk->write(512, garbage);
  disk->write((disk->sector_count() - 1) * 512, garbage);
  const ByteVector before = snapshot(*disk);
  try {
    gpt::repair(*disk);
    FAIL() << "repair of a disk with no good copy succeeded";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("primary"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("backup"), std::string::npos);
  }
  EXPECT_THROW(partitioning::create_partition(*disk, {}), FormatError);
  EXPECT_EQ(snapshot(*disk), before);
}

TEST(GptTable, GrownDiskIsReportedAndFixed) {
  auto small = disk_with_table(32ull << 20);
  auto big = std::make_shared<MemoryDisk>(48ull << 20);
  big->write(0, small->read(0, small->size()));
  auto health = gpt::verify(*big);
  EXPECT_FALSE(health.backup_at_end);
  EXPECT_TRUE(health.primary.valid());
  gpt::repair(*big);
  EXPECT_TRUE(gpt::verify(*big).clean());
  EXPECT_EQ(gpt::read(*big).last_usable_lba, big->sector_count() - 34);
}

TEST(GptTable, BadHeadersAreFormatErrorsAndLeaveTheDiskAlone) {
  using Mutation = void (*)(MutableByteSpan);
  const Mutation mutations[] = {
      [](MutableByteSpan b) { store_le<std::uint32_t>(b, 12, 40); },                // header size too small
      [](MutableByteSpan b) { store_le<std::uint32_t>(b, 12, 4000); },              // header size past the block
      [](MutableByteSpan b) { store_le<std::uint32_t>(b, 80, 0xFFFFFFFFu); },       // count x size overflows
      [](MutableByteSpan b) { store_le<std::uint32_t>(b, 84, 0x80000000u); },       // absurd entry size
      [](MutableByteSpan b) { store_le<std::uint64_t>(b, 72, 0xFFFFFFFFFFFFull); },  // array beyond the disk
      [](MutableByteSpan b) { store_le<std::uint64_t>(b, 48, 1ull << 40); },         // usable range beyond the disk
  };
  for (Mutation m : mutations) {
    auto disk = disk_with_table();
    patch_both_headers(*disk, m);
    const ByteVector before = snapshot(*disk);
    EXPECT_THROW(gpt::read(*disk), FormatError);
    EXPECT_THROW(gpt::repair(*disk), FormatError);
    EXPECT_THROW(partitioning::delete_partition(*disk, 1, true), FormatError);
    EXPECT_EQ(snapshot(*disk), before);
  }
}

TEST(GptTable, EntriesOutsideTheUsableRangeOrOverlappingAreFormatErrors) {
  for (int variant = 0; variant < 2; ++variant) {
    auto disk = disk_with_table();
    gpt::Table t = gpt::read(*disk);
    gpt::Partition extra = t.entries[0];
    extra.unique = IdentitySource::new_guid();
    if (variant == 0) {
      extra.first_lba = t.last_usable_lba - 10;
      extra.last_lba = t.last_usable_lba + 5;  // into the backup array
    } else {
      extra.first_lba = t.entries[0].last_lba - 1;  // overlaps entry 1
      extra.last_lba = extra.first_lba + 100;
    }
    t.entries[1] = extra;
    EXPECT_THROW(gpt::write(*disk, t), UsageError);
    // Forge it on disk in both copies, with good CRCs.
    ByteVector array = gpt::codec::encode_array(t);
    const std::uint32_t crc = crc32(array);
    for (std::uint64_t lba : {std::uint64_t(2), disk->sector_count() - 33}) disk->write(lba * 512, array);
    patch_both_headers(*disk, [crc](MutableByteSpan b) { store_le<std::uint32_t>(b, 88, crc); });
    const ByteVector before = snapshot(*disk);
    EXPECT_THROW(gpt::read(*disk), FormatError);
    EXPECT_THROW(gpt::repair(*disk), FormatError);
    EXPECT_EQ(snapshot(*disk), before);
  }
}

TEST(GptTable, TruncatedImagesAreFormatErrors) {
  auto disk = disk_with_table();
  for (std::uint64_t bytes : {std::uint64_t(512), std::uint64_t(1024), std::uint64_t(8192), std::uint64_t(1) << 20}) {
    auto cut = std::make_shared<MemoryDisk>(bytes);
    cut->write(0, disk->read(0, bytes));
    EXPECT_THROW(gpt::read(*cut), FormatError) << bytes;
  }
}

TEST(GptCrashSafety, PowerCutAtEveryWriteLeavesAValidCopy) {
  // A change of the table (add a partition), cut at every write: one copy is always whole, and it
  // holds either the old or the new table.
  auto probe = std::make_shared<FaultyDisk>(disk_with_table());
  partitioning::create_partition(*probe, {partitioning::NewKind::primary, 4ull << 20, std::nullopt, std::nullopt});
  const std::uint64_t writes = probe->writes_seen();
  ASSERT_GE(writes, 4u);
  for (std::uint64_t cut = 0; cut <= writes; ++cut) {
    auto inner = disk_with_table();
    auto faulty = std::make_shared<FaultyDisk>(inner);
    faulty->cut_power_after(cut);
    partitioning::create_partition(*faulty, {partitioning::NewKind::primary, 4ull << 20, std::nullopt, std::nullopt});
    auto health = gpt::verify(*inner);
    EXPECT_TRUE(health.primary.valid() || health.backup.valid()) << "cut after " << cut;
    const auto count = gpt::read(*inner).in_offset_order().size();
    EXPECT_TRUE(count == 1 || count == 2) << "cut after " << cut;
    gpt::repair(*inner);
    EXPECT_TRUE(gpt::verify(*inner).clean()) << "cut after " << cut;
  }
}

TEST(GptCrashSafety, RepairCutAtEveryWriteNeverLosesTheGoodCopy) {
  for (std::uint64_t cut = 0; cut <= 4; ++cut) {
    auto inner = disk_with_table();
    ByteVector garbage(512, std::byte{0x42});
    inner->write(512, garbage);
    auto faulty = std::make_shared<FaultyDisk>(inner);
    faulty->cut_power_after(cut);
    gpt::repair(*faulty);
    EXPECT_NO_THROW(gpt::read(*inner)) << "cut after " << cut;
  }
}

TEST(Partitioning, SeedShadowDiskLayout) {
  auto disk = std::make_shared<MemoryDisk>(512ull << 20);
  partitioning::convert_gpt(*disk);
  auto parts = partitioning::partitions(*disk);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].first_lba * 512, 17408u);
  EXPECT_EQ(parts[0].sector_span() * 512, 32ull << 20);
  EXPECT_THROW(partitioning::delete_partition(*disk, 1, false), partitioning::PartitioningError);
  partitioning::delete_partition(*disk, 1, true);
  EXPECT_EQ(partitioning::create_partition(*disk, {partitioning::NewKind::efi, 204ull << 20, {}, {}}).first, 1u);
  EXPECT_EQ(partitioning::create_partition(*disk, {partitioning::NewKind::msr, 32ull << 20, {}, {}}).first, 2u);
  parts = partitioning::partitions(*disk);
  EXPECT_EQ(parts[0].first_lba * 512, 17408u);
  EXPECT_EQ(parts[0].sector_span() * 512, 213909504u);
  EXPECT_EQ(parts[1].first_lba * 512, 213926912u);
  EXPECT_EQ(parts[1].name_utf8(), "Microsoft reserved partition");
  EXPECT_THROW(partitioning::convert_gpt(*disk), partitioning::PartitioningError);
  partitioning::clean(*disk);
  EXPECT_EQ(partitioning::style_of(*disk), partitioning::Style::raw);
}

TEST(GptTable, LargerEntriesKeepTheirTailsAndOtherCounts) {
  auto disk = std::make_shared<MemoryDisk>(16ull << 20);
  gpt::Table t = gpt::Table::create(disk->sector_count(), 512);
  t.entry_size = 256;
  t.entries.resize(20);  // 20 x 256 bytes: 10 sectors
  t.first_usable_lba = 2 + t.entry_array_sectors();
  t.backup_entries_lba = t.backup_header_lba - t.entry_array_sectors();
  t.last_usable_lba = t.backup_entries_lba - 1;
  gpt::Partition p;
  p.type = Guid::parse("0fc63daf-8483-4772-8e79-3d69d8477de4");  // not one bootmirror knows
  p.unique = IdentitySource::new_guid();
  p.first_lba = t.first_usable_lba;
  p.last_lba = p.first_lba + 99;
  p.attributes = (1ull << 62) | 4;
  p.tail = ByteVector(128, std::byte{0x77});
  t.entries[5] = p;
  gpt::write(*disk, t);
  EXPECT_TRUE(gpt::verify(*disk).clean());
  gpt::Table back = gpt::read(*disk);
  EXPECT_EQ(back.entry_size, 256u);
  EXPECT_EQ(back.entries.size(), 20u);
  EXPECT_EQ(back.entries[5].tail, p.tail);
  EXPECT_EQ(back.entries[5].kind(), gpt::Kind::other);
  EXPECT_EQ(back.first_usable_lba, 12u);
  // A Windows-style change compacts the slots and keeps the unknown entry whole.
  partitioning::create_partition(*disk, {partitioning::NewKind::efi, 1ull << 20, std::nullopt, std::nullopt});
  back = gpt::read(*disk);
  EXPECT_EQ(back.entries[0].unique, p.unique);
  EXPECT_EQ(back.entries[0].tail, p.tail);
  EXPECT_EQ(back.entries[0].attributes, p.attributes);
  EXPECT_EQ(back.entries[0].type, p.type);
}

TEST(GptCrashSafety, DeleteAndGrowCutAtEveryWrite) {
  for (std::uint64_t cut = 0; cut <= 6; ++cut) {
    auto inner = disk_with_table();
    auto faulty = std::make_shared<FaultyDisk>(inner);
    faulty->cut_power_after(cut);
    partitioning::delete_partition(*faulty, 1, true);
    EXPECT_NO_THROW(gpt::read(*inner)) << "delete, cut after " << cut;
  }
  for (std::uint64_t cut = 0; cut <= 6; ++cut) {
    auto small = disk_with_table(32ull << 20);
    auto inner = std::make_shared<MemoryDisk>(48ull << 20);
    inner->write(0, small->read(0, small->size()));
    auto faulty = std::make_shared<FaultyDisk>(inner);
    faulty->cut_power_after(cut);
    gpt::repair(*faulty);
    auto health = gpt::verify(*inner);
    EXPECT_TRUE(health.primary.valid() || health.backup.valid()) << "grow, cut after " << cut;
    EXPECT_EQ(gpt::read(*inner).in_offset_order().size(), 1u) << "grow, cut after " << cut;
  }
}
