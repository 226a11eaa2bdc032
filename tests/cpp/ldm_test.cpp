// LDM engine tests: the 19 real Windows images decode and re-encode byte for byte; bad input gives
// FormatError; our own groups round-trip and survive power cuts at every write.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "bootmirror/crc32.h"
#include "bootmirror/gpt.h"
#include "bootmirror/identity.h"
#include "bootmirror/ldm.h"
#include "ldm/codec.h"
#include "ldm/fields.h"
#include "test_data.h"

using namespace bootmirror;
using namespace bootmirror::ldm;
namespace fs = std::filesystem;

namespace {

// Removes the unpacked images when the test binary ends.
struct TempFolder {
  fs::path path;
  ~TempFolder() {
    std::error_code ignored;
    if (!path.empty()) fs::remove_all(path, ignored);
  }
};

// Unpacks the Windows images of the test data folder once into a temporary folder; a test that
// reads them fails, naming the missing file and the variable to set, when the data is not there.
const fs::path& images() {
  static TempFolder folder;
  static fs::path dir = [] {
    fs::path tar = test_data::file(test_data::kWindowsImages);
    fs::path out = fs::temp_directory_path() / fmt::format("bootmirror-ldm-test-{}", ::getpid());
    fs::create_directories(out);
    std::string cmd = fmt::format("tar -xJf '{}' -C '{}'", tar.string(), out.string());
    folder.path = out;
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot unpack " + tar.string());
    return out;
  }();
  return dir;
}

std::vector<fs::path> image_set(const std::string& prefix) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(images()))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

DevicePtr load(const fs::path& p) {
  auto img = ImageFile::open(p.string());
  auto mem = std::make_shared<MemoryDisk>(img->size());
  mem->write(0, img->read(0, img->size()));
  return mem;
}

}  // namespace

TEST(ldm_images, EveryImageDecodesAndReencodesByteForByte) {
  auto all = image_set("ldm-");
  ASSERT_EQ(all.size(), 19u);
  for (const auto& p : all) {
    SCOPED_TRACE(p.filename().string());
    auto dev = load(p);
    DiskDatabase db = read_database(*dev);
    ByteVector original = dev->read(db.privhead.config_start * 512, db.privhead.config_size * 512);
    ByteVector again = encode_config(db);
    ASSERT_EQ(again.size(), original.size());
    for (std::size_t i = 0; i < again.size(); ++i)
      ASSERT_EQ(again[i], original[i]) << "first difference at config byte " << i << " (sector " << i / 512 << ")";
  }
}

TEST(ldm_images, GroupsAssemble) {
  for (std::string set : {"ldm-2003r2-", "ldm-2008r2-"}) {
    std::vector<DevicePtr> devs;
    for (auto& p : image_set(set)) devs.push_back(load(p));
    Group g = read_group(devs);
    EXPECT_FALSE(g.volumes.empty());
    for (auto& d : g.disks) EXPECT_GE(d.device, 0) << d.record.name;
  }
}

namespace {

// `db` (its headers read) with the slots of its config bitmap given to a VblkDecoder `per` at a time.
void decode_in_pieces(BlockDevice& dev, DiskDatabase& db, std::uint32_t per) {
  const TocBitmap& cfg = std::find_if(db.tocs.begin(), db.tocs.end(), [](const auto& t) { return t.has_value(); })->value().bitmaps[0];
  const std::uint64_t area = (db.privhead.config_start + cfg.start) * db.sector_size;
  const ByteVector bytes = dev.read(area, cfg.size * db.sector_size);
  const Vmdb& v = db.vmdb;
  ldm::detail::VblkDecoder decoder(db, area);
  while (decoder.slots_left() > 0) {
    const std::uint32_t n = std::min(per, decoder.slots_left());
    decoder.add(ByteSpan(bytes).subspan(std::size_t(decoder.next_slot()) * v.vblk_size, std::size_t(n) * v.vblk_size));
  }
  decoder.finish();
}

std::string first_problem(const std::function<void()>& decode) {
  try {
    decode();
  } catch (const FormatError& e) {
    return fmt::format("{} at {}", e.what(), e.offset().value_or(0));
  }
  return "";
}

}  // namespace

// read_records streams the slots through a small buffer: pieces of any size, a record's fragments
// in different pieces (2003 R2 keeps Disk2 in slots 7 and 27), decode as the whole area does, and
// the first damage found is the same.
TEST(ldm_vblk, SlotsGivenInPiecesDecodeAsTheWholeArea) {
  for (const auto& p : image_set("ldm-")) {
    SCOPED_TRACE(p.filename().string());
    auto dev = load(p);
    const DiskDatabase read = read_database(*dev);
    for (std::uint32_t per : {1u, 3u, 20u, 100000u}) {
      DiskDatabase db = read_database(*dev, false);
      decode_in_pieces(*dev, db, per);
      db.log = read.log;
      EXPECT_EQ(encode_config(db), encode_config(read)) << per << " slots a piece";
    }
  }
  auto dev = load(image_set("ldm-2003r2-mirrored-")[0]);
  const DiskDatabase heads = read_database(*dev, false);
  const TocBitmap& cfg = heads.tocs[1]->bitmaps[0];
  const std::uint64_t area = (heads.privhead.config_start + cfg.start) * 512;
  dev->write(area + 27 * 128 + 14, ByteVector{std::byte{0}, std::byte{3}});  // Disk2's second fragment now claims 3 parts
  dev->write(area + 40 * 128, ByteVector{std::byte{'X'}});                      // and a later slot loses its stamp
  const std::string whole = first_problem([&] { DiskDatabase db = heads; ldm::detail::decode_vblks(dev->read(area, cfg.size * 512), area, db); });
  EXPECT_NE(whole.find("VBLK record"), std::string::npos) << whole;
  for (std::uint32_t per : {1u, 7u, 30u})
    EXPECT_EQ(first_problem([&] { DiskDatabase db = heads; decode_in_pieces(*dev, db, per); }), whole) << per << " slots a piece";
  // The decoder reads each slot's 16-byte head unchecked: it refuses a VMDB that decode_vmdb would
  // not have passed (slots under 32 bytes; none at all), rather than read past a slot or divide by 0.
  for (std::uint32_t size : {0u, 16u}) {
    DiskDatabase db = heads;
    db.vmdb.vblk_size = size;
    EXPECT_THROW(ldm::detail::VblkDecoder(db, area), Error) << size << "-byte slots";
  }
}

// A record's slots are held inline, at most four (the kernel's fragment limit): a fifth is a bug
// of the caller, an Error, and leaves the list as it was.
TEST(ldm_vblk, ARecordTakesAtMostFourSlots) {
  SlotList slots{7, 27};
  EXPECT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots.front(), 7u);
  EXPECT_EQ(slots.at(1), 27u);
  EXPECT_THROW((void)slots.at(2), Error);
  EXPECT_EQ(slots, (SlotList{7, 27}));
  EXPECT_NE(slots, (SlotList{7}));
  slots.push_back(8);
  slots.push_back(9);
  EXPECT_EQ(std::vector<std::uint32_t>(slots.begin(), slots.end()), (std::vector<std::uint32_t>{7, 27, 8, 9}));
  EXPECT_THROW(slots.push_back(10), Error);
  EXPECT_EQ(slots.size(), 4u);
}

TEST(ldm_fields, VarIntsAreMinimalAndChecked) {
  ldm::detail::FieldWriter w;
  w.var_int(0x443);
  w.var_int(2);
  w.var_int(0x17800);
  w.var_string("gen");
  const ByteVector& b = w.bytes();
  ByteVector want = {std::byte{2}, std::byte{4}, std::byte{0x43}, std::byte{1}, std::byte{2}, std::byte{3}, std::byte{1},
                     std::byte{0x78}, std::byte{0}, std::byte{3}, std::byte{'g'}, std::byte{'e'}, std::byte{'n'}};
  EXPECT_EQ(b, want);
  ldm::detail::FieldReader r(b, 0, "test");
  EXPECT_EQ(r.var_u32("a"), 0x443u);
  EXPECT_EQ(r.var_u32("b"), 2u);
  EXPECT_EQ(r.var_u64("c"), 0x17800u);
  EXPECT_EQ(r.var_string("d"), "gen");
  ByteVector bad = {std::byte{5}, std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}};
  ldm::detail::FieldReader r2(bad, 100, "test");
  EXPECT_THROW(r2.var_u32("id"), FormatError);  // libldm: more than 4 bytes for a 32-bit id
  ByteVector zero = {std::byte{0}};
  ldm::detail::FieldReader r3(zero, 0, "test");
  EXPECT_THROW(r3.var_u64("size"), FormatError);  // kernel ldm_get_vnum: length 0 is illegal
  ByteVector short_string = {std::byte{9}, std::byte{'a'}};
  ldm::detail::FieldReader r4(short_string, 0, "test");
  EXPECT_THROW(r4.var_string("name"), FormatError);
}

TEST(ldm_write, MirrorCommitsAndSurvivesPowerCuts) {
  IdentitySource::configure({7, 1700000000});
  auto make = [] { return std::make_shared<MemoryDisk>(8u << 20); };
  std::vector<DevicePtr> disks = {make(), make()};
  Group g = new_group("WIN-CPP-Dg0");
  add_disk(g, disks[0], 0);
  add_disk(g, disks[1], 1);
  add_volume(g, "Volume1", Layout::mirrored, {{0, 0, 4096}, {1, 0, 4096}}, 128, std::string("C:"));
  commit(g, disks);
  Group back = read_group(disks);
  ASSERT_EQ(back.volumes.size(), 1u);
  EXPECT_EQ(back.volumes[0].layout, Layout::mirrored);
  EXPECT_EQ(back.committed_seq, 1u);

  // Add a striped volume under power cuts at every write of the first disk.
  auto snapshot = [](const DevicePtr& d) {
    auto copy = std::make_shared<MemoryDisk>(d->size());
    copy->write(0, d->read(0, d->size()));
    return copy;
  };
  std::uint64_t total = 0;
  {
    auto a = std::make_shared<FaultyDisk>(snapshot(disks[0]));
    Group h = read_group({a});
    add_volume(h, "Volume2", Layout::simple, {{0, 4096, 1024}});
    commit(h, {a});
    total = a->writes_seen();
  }
  ASSERT_GE(total, 2u);  // the new records (one run of slots), then the VMDB switch
  for (std::uint64_t k = 0; k <= total; ++k) {
    auto inner = snapshot(disks[0]);
    auto a = std::make_shared<FaultyDisk>(inner);
    a->cut_power_after(k);
    Group h = read_group({a});
    add_volume(h, "Volume2", Layout::simple, {{0, 4096, 1024}});
    try {
      commit(h, {a});
    } catch (const Error&) {
    }
    Group after = read_group({inner});
    ASSERT_TRUE(after.volumes.size() == 1 || after.volumes.size() == 2) << k;
    EXPECT_EQ(after.volumes.size() == 2, after.committed_seq == 2) << k;
  }
  IdentitySource::configure_from_environment();
}

TEST(ldm_write, FourKnSectors) {
  auto d = std::make_shared<MemoryDisk>(32u << 20, 4096);
  Group g = new_group("WIN-4KN-Dg0");
  add_disk(g, d, 0);
  add_volume(g, "Volume1", Layout::simple, {{0, 0, 1000}});
  commit(g, {d});
  DiskDatabase db = read_database(*d);
  EXPECT_EQ(db.sector_size, 4096u);
  EXPECT_EQ(db.privhead.config_size, 256u);
  EXPECT_EQ(encode_config(db), d->read(db.privhead.config_start * 4096, 256 * 4096));
  EXPECT_EQ(read_group({d}).volumes.at(0).record.size, 1000u);
}

// A basic GPT disk laid out as Windows does (ESP, 32 MiB MSR, basic data) converts with the LDM
// metadata partition carved from the MSR, on 512- and 4096-byte sectors alike.
TEST(ldm_write, GptConversionOnBothSectorSizes) {
  for (std::uint32_t ss : {512u, 4096u}) {
    SCOPED_TRACE(ss);
    const std::uint64_t MiB = 1u << 20;
    auto d = std::make_shared<MemoryDisk>(256 * MiB, ss);
    gpt::Table t = gpt::Table::create(d->sector_count(), ss);
    auto add = [&](gpt::Kind kind, std::uint64_t first, std::uint64_t bytes, const char* name) {
      auto slot = std::find_if(t.entries.begin(), t.entries.end(), [](auto& e) { return !e.used(); });
      slot->type = gpt::type_of(kind);
      slot->unique = IdentitySource::new_guid();
      slot->first_lba = first;
      slot->last_lba = bytes ? first + bytes / ss - 1 : t.last_usable_lba;
      slot->set_name(name);
      return slot->last_lba + 1;
    };
    std::uint64_t next = add(gpt::Kind::efi_system, MiB / ss, 100 * MiB, "EFI system partition");
    std::uint64_t msr = next;
    next = add(gpt::Kind::microsoft_reserved, next, 32 * MiB, "Microsoft reserved partition");
    add(gpt::Kind::basic_data, next, 0, "Basic data partition");
    gpt::write(*d, t);

    Group g = new_group("WIN-GPT-Dg0");
    add_disk(g, d, 0);
    commit(g, {d});
    gpt::Table after = gpt::read(*d);
    std::vector<gpt::Partition> parts = after.in_offset_order();
    ASSERT_EQ(parts.size(), 4u);
    EXPECT_EQ(parts[1].kind(), gpt::Kind::ldm_metadata);
    EXPECT_EQ(parts[1].first_lba, msr);
    EXPECT_EQ(parts[1].sector_span() * ss, MiB);
    EXPECT_EQ(parts[2].kind(), gpt::Kind::microsoft_reserved);
    EXPECT_EQ(parts[2].sector_span() * ss, 31 * MiB);
    EXPECT_EQ(parts[3].kind(), gpt::Kind::ldm_data);
    EXPECT_EQ(parts[0].kind(), gpt::Kind::efi_system);
    Group back = read_group({d});
    ASSERT_EQ(back.volumes.size(), 1u);
    EXPECT_EQ(back.disks[0].data_start, parts[3].first_lba);
    EXPECT_EQ(back.partitions[0].start, 0u);
    EXPECT_EQ(back.volumes[0].record.size, parts[3].sector_span());
  }
}

// -- damage (issue 9): copies, offsets, health, refused edits -----------------------------------

namespace {

// Two 8 MiB disks holding a mirror (Volume1) and a simple volume (Volume2) on disk 0.
std::vector<DevicePtr> mirror_pair(Group& g) {
  std::vector<DevicePtr> disks = {std::make_shared<MemoryDisk>(8u << 20), std::make_shared<MemoryDisk>(8u << 20)};
  g = new_group("WIN-DAMAGE-Dg0");
  add_disk(g, disks[0], 0);
  add_disk(g, disks[1], 1);
  add_volume(g, "Volume1", Layout::mirrored, {{0, 0, 4096}, {1, 0, 4096}});
  add_volume(g, "Volume2", Layout::simple, {{0, 4096, 2048}});
  commit(g, disks);
  return disks;
}

constexpr std::uint64_t kConfig = (16384 - 2048) * 512;  // the last MiB of an 8 MiB disk

}  // namespace

TEST(ldm_copies, TocblockCopiesAreAbsentValidOrDamaged) {
  ByteVector sector(512);
  EXPECT_FALSE(ldm::detail::decode_tocblock(sector, 1000, 2048).has_value());  // all zeros: absent
  TocBlock t;
  t.bitmaps[0] = {"config", 0, 17, 1481, 0};
  t.bitmaps[1] = {"log", 0, 1498, 224, 0};
  ldm::detail::encode_tocblock(t, sector);
  EXPECT_TRUE(ldm::detail::decode_tocblock(sector, 1000, 2048).has_value());
  try {
    ldm::detail::decode_tocblock(sector, 1000, 1500);  // the log bitmap ends past a 1500-sector area
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.offset(), 1000u + 0x50);
  }
  t.bitmaps[0].start = ~std::uint64_t(0);  // start + size overflows
  ldm::detail::encode_tocblock(t, sector);
  EXPECT_THROW(ldm::detail::decode_tocblock(sector, 1000, 2048), FormatError);
  sector[0x24] = std::byte{0xFF};
  try {
    ldm::detail::decode_tocblock(sector, 1000, 2048);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.offset(), 1000u + 0x24);
    EXPECT_NE(std::string(e.what()).find("\\xff"), std::string::npos);  // quoted escaped
  }
}

TEST(ldm_copies, PrivheadCopiesStandInForADamagedPrimary) {
  Group g;
  auto disks = mirror_pair(g);
  disks[0]->write(6 * 512, as_bytes("PRIVHEAX"));
  auto found = ldm::detail::find_privhead(*disks[0]);
  ASSERT_TRUE(found.privhead.has_value());
  EXPECT_EQ(found.lba * 512, kConfig + 1856 * 512);
  ASSERT_EQ(found.damage.size(), 1u);
  EXPECT_EQ(found.damage[0].offset, 6u * 512);
  EXPECT_EQ(found.damage[0].structure, "PRIVHEAD");
  Health h = verify(*disks[0]);
  EXPECT_TRUE(h.readable);
  EXPECT_FALSE(h.clean());
  EXPECT_EQ(read_group({disks[0]}).volumes.size(), 2u);
  // All three damaged: no PRIVHEAD says which group the disk is in.
  for (std::uint64_t at : {kConfig + 1856 * 512, kConfig + 2047 * 512}) disks[0]->write(at, as_bytes("PRIVHEAX"));
  EXPECT_THROW(read_group({disks[0]}), FormatError);
  EXPECT_FALSE(is_dynamic(*disks[0]));
}

// read_group, like libldm, reads copies of the PRIVHEAD and TOCBLOCK only until one serves; the
// others are verify's to look at.
TEST(ldm_copies, ReadGroupReadsOneCopyOfEachHeaderAndVerifyReadsThemAll) {
  Group g;
  auto disks = mirror_pair(g);
  const Group before = read_group(disks);
  // Bad sectors under the PRIVHEAD copies at +1856 and +2047 and the TOCBLOCKs at +2045, +2046.
  auto faulty = std::make_shared<FaultyDisk>(disks[0]);
  faulty->fail_range(kConfig + 1856 * 512, 512, FaultyDisk::Access::read);
  faulty->fail_range(kConfig + 2045 * 512, 3 * 512, FaultyDisk::Access::read);
  const Group read = read_group({faulty, disks[1]});
  EXPECT_EQ(read.volumes.size(), before.volumes.size());
  EXPECT_EQ(read.committed_seq, before.committed_seq);
  EXPECT_THROW(verify(*faulty), OsError);  // verify reads every copy, and meets the bad sectors
  // The same copies damaged instead: the group reads the same, and verify names each of them.
  for (std::uint64_t at : {kConfig + 1856 * 512, kConfig + 2045 * 512}) disks[0]->write(at, as_bytes("BADMAGIC"));
  EXPECT_EQ(read_group(disks).volumes.size(), before.volumes.size());
  Health h = verify(*disks[0]);
  EXPECT_TRUE(h.readable);
  std::vector<std::uint64_t> offsets;
  for (const Damage& d : h.damage) offsets.push_back(d.offset);
  EXPECT_EQ(offsets, (std::vector<std::uint64_t>{kConfig + 1856 * 512, kConfig + 2045 * 512}));
}

// A commit writes the disk group record's GUID into every disk it rewrites: a record naming another
// group than its VMDB is damage, read around from another disk, never committed from.
TEST(ldm_copies, AGroupRecordNamingAnotherGroupIsDamage) {
  Group g;
  auto disks = mirror_pair(g);
  const std::string guid = g.record.guid;
  DiskDatabase db = read_database(*disks[0]);
  std::string other = guid;
  other.back() = other.back() == '0' ? '1' : '0';
  db.group->guid = other;
  disks[0]->write(db.privhead.config_start * 512, encode_config(db));
  try {
    read_group({disks[0]});
    FAIL() << "the group record's GUID went unchecked";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("the disk group record names group " + other + " but the VMDB " + guid), std::string::npos) << e.what();
    EXPECT_TRUE(e.offset().has_value());
  }
  const Group read = read_group(disks);  // from disk 1's database
  EXPECT_EQ(read.record.guid, guid);
  EXPECT_EQ(read.volumes.size(), 2u);
  EXPECT_FALSE(verify(*disks[0]).clean());
}

TEST(ldm_copies, OnDeviceKeepsTheOffset) {
  FormatError e = ldm::detail::on_device("d0.img", FormatError("bad VMDB", 0x1234));
  EXPECT_EQ(e.offset(), 0x1234u);
  EXPECT_EQ(std::string(e.what()), "d0.img: bad VMDB (at byte 0x1234)");
}

// read_database_into moves the PRIVHEAD it is given into the database: the database holds it,
// and asking the emptied answer for it is an Error, not a read of a moved-from value.
TEST(ldm_copies, AGivenPrivheadIsMovedIntoTheDatabase) {
  DevicePtr disk = load(image_set("ldm-2003r2-").front());
  ldm::detail::FoundPrivHead found = ldm::detail::find_privhead(*disk, ldm::detail::Copies::first_valid);
  const PrivHead expected = found.usable();
  DiskDatabase db;
  const char* stage = "";
  ldm::detail::read_database_into(*disk, false, db, stage, &found, ldm::detail::Copies::first_valid);
  EXPECT_EQ(db.privhead.disk_guid, expected.disk_guid);
  EXPECT_EQ(db.privhead.config_start, expected.config_start);
  try {
    (void)found.usable();
    ADD_FAILURE() << "usable() gave a PRIVHEAD it no longer holds";
  } catch (const FormatError& e) {
    ADD_FAILURE() << "a moved-out PRIVHEAD is not damage: " << e.what();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("moved"), std::string::npos) << e.what();
  }
}

TEST(ldm_health, APartitionOutsideItsDiskLeavesItsPlexUnusable) {
  Group g;
  auto disks = mirror_pair(g);
  Group back = read_group(disks);
  // As a damaged record would say: Disk1-01 starts near 2^64 (start + size overflows).
  back.partitions[0].start = ~std::uint64_t(0) - 100;
  ASSERT_EQ(volume_status(back, 0), std::string("Failed Rd"));
  EXPECT_NE(plex_problem(back, back.volumes[0].components[0]).find("outside"), std::string::npos);
  EXPECT_EQ(plex_problem(back, back.volumes[0].components[1]), "");
  EXPECT_FALSE(partition_location(back, 0).has_value());
  // The damaged plex has no layout; the plex on disk 1 serves.
  EXPECT_FALSE(plex_extents(back, back.volumes[0].components[0]).has_value());
  auto extent = plex_extents(back, back.volumes[0].components[1]);
  ASSERT_TRUE(extent.has_value());
  ASSERT_EQ(extent->runs.size(), 1u);
  EXPECT_EQ(extent->runs[0].device, 1);
  EXPECT_EQ(extent->runs[0].device_offset, 63u * 512);
  // free_extents clamps the damaged record instead of wrapping around.
  for (auto [start, size] : free_extents(back, 0)) EXPECT_LE(start + size, back.disks[0].data_size);
  back.volumes[1].record.size = 5000;  // more than its 2048-sector partition holds
  EXPECT_EQ(volume_status(back, 1), std::string("Failed"));
  EXPECT_FALSE(plex_extents(back, back.volumes[1].components[0]).has_value());
}

TEST(ldm_edits, ARefusedEditLeavesTheGroupAsItWas) {
  Group g;
  auto disks = mirror_pair(g);
  const std::size_t partitions = g.partitions.size(), components = g.components.size();
  // remove_disk of a missing disk that holds a simple volume's only copy breaks none of the
  // disk's mirror plexes on the way to refusing.
  Group missing = read_group({disks[1]});
  EXPECT_THROW(remove_disk(missing, 0), UsageError);
  EXPECT_EQ(missing.volumes[0].components.size(), 2u);
  EXPECT_THROW(add_volume(g, "Big", Layout::simple, {{0, ~std::uint64_t(0) - 5, 100}}), UsageError);
  EXPECT_THROW(add_volume(g, std::string(256, 'v'), Layout::simple, {{0, 6144, 100}}), UsageError);
  EXPECT_THROW(add_mirror(g, 1, 1, ~std::uint64_t(0) - 100), UsageError);
  EXPECT_EQ(g.partitions.size(), partitions);
  EXPECT_EQ(g.components.size(), components);
  EXPECT_EQ(g.volumes.size(), 2u);
}

TEST(ldm_images, EveryWindowsDiskVerifiesClean) {
  for (const auto& p : image_set("ldm-")) {
    SCOPED_TRACE(p.filename().string());
    auto dev = load(p);
    Health h = verify(*dev);
    EXPECT_TRUE(h.clean()) << (h.damage.empty() ? "" : h.damage[0].describe());
    EXPECT_TRUE(is_dynamic(*dev));
  }
}

// Which version of a record a group shows, and which clashes it refuses, on a real Windows database:
// records are versioned by commit id, ids are unique across kinds, a component lists its
// partitions by column index.
TEST(ldm_assemble, VersionsClashesAndPartitionOrder) {
  auto set = image_set("ldm-2008r2-raid5-");
  ASSERT_FALSE(set.empty());
  auto dev = load(set.front());
  const DiskDatabase db = read_database(*dev);
  const Group g = ldm::detail::assemble(db);
  // Neighbours in a striped or RAID-5 component come in column order (Windows leaves column 0
  // without an index): two in the RAID-5 volume, one in the striped.
  int columns = 0;
  for (const auto& v : g.volumes)
    for (std::size_t k = 1; k < v.partitions.size(); ++k) {
      const auto &a = g.partitions[v.partitions[k - 1]], &b = g.partitions[v.partitions[k]];
      if (a.component_id != b.component_id || !b.index) continue;
      EXPECT_LT(a.index.value_or(0), *b.index) << v.record.name;
      ++columns;
    }
  EXPECT_EQ(columns, 3);
  ASSERT_FALSE(db.volumes.empty());
  const VolumeRecord& original = db.volumes.front();

  // A newer version (still committed) replaces the older; one past the committed sequence does not.
  DiskDatabase newer = db;
  VolumeRecord v2 = original;
  v2.commit_id = db.vmdb.committed_seq;
  v2.name = "Renamed";
  newer.volumes.insert(newer.volumes.begin(), v2);
  VolumeRecord future = original;
  future.commit_id = db.vmdb.committed_seq + 1;
  future.name = "Uncommitted";
  newer.volumes.push_back(future);
  ASSERT_LT(original.commit_id, db.vmdb.committed_seq);
  const Group ng = ldm::detail::assemble(newer);
  ASSERT_NE(ng.find_volume("Renamed"), nullptr);
  EXPECT_EQ(ng.find_volume(original.name), nullptr);
  EXPECT_EQ(ng.find_volume("Uncommitted"), nullptr);
  EXPECT_EQ(ng.volumes.size(), g.volumes.size());

  // Two versions at one commit id: the first pair in database order is named, slots and all.
  DiskDatabase twice = db;
  VolumeRecord copy = original;
  copy.placement.slots = {4000};
  twice.volumes.push_back(copy);
  try {
    (void)ldm::detail::assemble(twice);
    ADD_FAILURE() << "two versions at one commit id were accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("two volume records carry id {} (slots {} and 4000)", original.id,
                                                     original.placement.slots.at(0))),
              std::string::npos)
        << e.what();
  }

  // An id shared across kinds: the record met second (components come after volumes) is named.
  DiskDatabase shared = db;
  ASSERT_FALSE(shared.components.empty());
  shared.components.back().id = original.id;
  try {
    (void)ldm::detail::assemble(shared);
    ADD_FAILURE() << "an id used by a volume and a component was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("LDM object id {} ('{}') is used twice", original.id,
                                                     shared.components.back().name)),
              std::string::npos)
        << e.what();
  }
}

namespace {

// Copies of a set of Windows images in a folder of their own, opened as image files, each first
// changed by `change` (given its index).
struct ImageCopies {
  TempFolder folder;
  std::vector<DevicePtr> disks;
  ImageCopies(const std::string& set, const std::function<void(std::size_t, BlockDevice&)>& change) {
    folder.path = fs::temp_directory_path() / fmt::format("bootmirror-ldm-copies-{}-{}", ::getpid(), ++made);
    fs::create_directories(folder.path);
    for (const auto& p : image_set(set)) {
      const fs::path copy = folder.path / p.filename();
      fs::copy_file(p, copy);
      change(disks.size(), *ImageFile::open(copy.string(), true));
      disks.push_back(ImageFile::open(copy.string()));
    }
  }
  static inline int made = 0;
};

// What a group read shows, for comparing two reads: its database and which disk is which.
std::string shown(const Group& g) {
  std::string out = fmt::format("seq {} volumes {} config {} bytes:", g.committed_seq, g.volumes.size(), encode_config(g.base).size());
  for (const auto& d : g.disks) out += fmt::format(" {}@{}", d.record.name, d.device);
  const ByteVector config = encode_config(g.base);
  return out + fmt::format(" crc {:08x}", crc32(config));
}

std::string error_of(const std::vector<DevicePtr>& disks) {
  try {
    read_group(disks);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// read_group on image files: the group the same disks give in memory; the newest database when the
// first disk missed a commit; the next disk's when the first disk's records are damaged; and an
// error naming the disk that is not dynamic.
TEST(ldm_group, TheNewestDatabaseThatAssemblesIsUsed) {
  for (std::string set : {"ldm-2003r2-", "ldm-2008r2-"}) {
    SCOPED_TRACE(set);
    std::vector<DevicePtr> in_memory;
    for (const auto& p : image_set(set)) in_memory.push_back(load(p));
    const std::string plain = shown(read_group(in_memory));
    ImageCopies same(set, [](std::size_t, BlockDevice&) {});
    EXPECT_EQ(shown(read_group(same.disks)), plain);

    // Every other disk took one more commit than the first (their VMDBs say so): the first disk's
    // database, which assembles too, must not be the one used.
    const std::uint64_t seq = read_group(in_memory).committed_seq;
    ImageCopies older(set, [&](std::size_t i, BlockDevice& d) {
      if (i == 0) return;
      const DiskDatabase db = read_database(d, false);
      ByteVector newer(8);
      store_be<std::uint64_t>(newer, 0, seq + 1);
      d.write(ldm::detail::vmdb_offset(db) + 0x75, newer);
    });
    const Group from_others = read_group(older.disks);
    EXPECT_EQ(from_others.committed_seq, seq + 1);
    const auto first = std::find_if(from_others.disks.begin(), from_others.disks.end(), [](const GroupDisk& d) { return d.device == 0; });
    ASSERT_NE(first, from_others.disks.end());
    EXPECT_EQ(first->committed_seq, seq) << "disk 0 is seen older";

    // The first disk's records are damaged: the second disk's are used.
    ImageCopies damaged(set, [](std::size_t i, BlockDevice& d) {
      if (i == 0) d.write(ldm::detail::vmdb_offset(read_database(d, false)) + 10 * 128, ByteVector{std::byte{'X'}});
    });
    EXPECT_EQ(shown(read_group(damaged.disks)).substr(0, 12), plain.substr(0, 12));

    // The first disk's VMDB is damaged, so its headers do not read: the group comes from the
    // others, and the first disk is still placed, with its PRIVHEAD's fields and no sequence.
    ImageCopies no_vmdb(set, [](std::size_t i, BlockDevice& d) {
      if (i == 0) d.write(ldm::detail::vmdb_offset(read_database(d, false)), ByteVector{std::byte{'X'}});
    });
    const Group without_first = read_group(no_vmdb.disks);
    EXPECT_EQ(shown(without_first).substr(0, 12), plain.substr(0, 12));
    const Group whole = read_group(in_memory);
    const auto at0 = [](const Group& g) {
      return std::find_if(g.disks.begin(), g.disks.end(), [](const GroupDisk& d) { return d.device == 0; });
    };
    ASSERT_NE(at0(without_first), without_first.disks.end());
    ASSERT_NE(at0(whole), whole.disks.end());
    EXPECT_EQ(at0(without_first)->record.guid, at0(whole)->record.guid);
    EXPECT_EQ(at0(without_first)->data_start, at0(whole)->data_start);
    EXPECT_EQ(at0(without_first)->data_size, at0(whole)->data_size);
    EXPECT_EQ(at0(without_first)->config_start, at0(whole)->config_start);
    EXPECT_EQ(at0(without_first)->scheme, at0(whole)->scheme);
    EXPECT_EQ(at0(without_first)->disk_signature, at0(whole)->disk_signature);
    EXPECT_EQ(at0(without_first)->committed_seq, 0u) << "disk 0's database did not read";

    // Disk 3 is not dynamic any more (no partition table): the error names it, whatever else is read.
    ImageCopies basic(set, [](std::size_t i, BlockDevice& d) {
      if (i == 3) d.write(0, ByteVector(512));
    });
    const std::string error = error_of(basic.disks);
    EXPECT_NE(error.find(basic.disks[3]->name()), std::string::npos) << error;
  }
}

namespace {

// A disk that notes every range read from it.
class ReadRecorder final : public BlockDevice {
 public:
  explicit ReadRecorder(DevicePtr base) : base_(std::move(base)) {}
  std::uint64_t size() const override { return base_->size(); }
  std::uint32_t sector_size() const override { return base_->sector_size(); }
  bool writable() const override { return false; }
  std::string name() const override { return base_->name(); }
  void flush() override {}
  std::vector<Extent> reads;

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override {
    reads.push_back({offset, out.size()});
    base_->read(offset, out);
  }
  void do_write(std::uint64_t, ByteSpan) override { throw UsageError("a read recorder cannot write"); }

 private:
  DevicePtr base_;
};

bool overlaps(const Extent& a, std::uint64_t start, std::uint64_t length) {
  return a.offset < start + length && start < a.offset + a.length;
}

}  // namespace

// read_group reads no byte of any disk's KLOG, which no commit writes back (a commit reads each
// disk again), but the slots of one; read_database reads the KLOG, which re-encoding a disk's
// database whole needs.
TEST(ldm_group, TheKlogIsLeftUnread) {
  for (std::string set : {"ldm-2003r2-", "ldm-2008r2-"}) {
    SCOPED_TRACE(set);
    const std::vector<fs::path> paths = image_set(set);
    std::vector<std::shared_ptr<ReadRecorder>> recorders;
    std::vector<DevicePtr> disks;
    for (const auto& p : paths) {
      recorders.push_back(std::make_shared<ReadRecorder>(load(p)));
      disks.push_back(recorders.back());
    }
    const Group g = read_group(disks);
    EXPECT_TRUE(g.base.log.empty());
    std::uint64_t slot_bytes = 0;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      const std::string name = paths[i].filename().string();
      const DiskDatabase db = read_database(*load(paths[i]), true);
      ASSERT_FALSE(db.log.empty()) << name;
      const TocBlock& toc = **std::find_if(db.tocs.begin(), db.tocs.end(), [](const auto& t) { return t.has_value(); });
      const std::uint64_t ss = db.sector_size;
      const std::uint64_t klog = (db.privhead.config_start + toc.bitmaps[1].start) * ss;
      const std::uint64_t slots = ldm::detail::vmdb_offset(db) + ss;
      for (const Extent& e : recorders[i]->reads) {
        EXPECT_FALSE(overlaps(e, klog, toc.bitmaps[1].size * ss)) << name << ": " << e.offset << "+" << e.length << " reads the KLOG";
        if (overlaps(e, slots, std::uint64_t(db.vmdb.vblk_last) * db.vmdb.vblk_size - ss)) slot_bytes += e.length;
      }
    }
    EXPECT_GE(slot_bytes, 512u << 10) << "one disk's slots were read";
  }
}
