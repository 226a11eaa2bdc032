// FAT codecs and engine: boot sector, FSInfo, directory entries and long names round-trip; names
// follow Windows' rules; geometry matches Windows' tables; the FAT table encodes 12/16/32 bits;
// bad input is a FormatError.
#include <gtest/gtest.h>

#include "bootmirror/fat.h"
#include "bootmirror/fat_commands.h"
#include "fat/boot_sector.h"
#include "fat/dir_entry.h"
#include "fat/fat_table.h"
#include "fat/names.h"

using namespace bootmirror;
using namespace bootmirror::fat;

namespace {

ShortName sn(const char* eleven) {
  ShortName s;
  std::copy(eleven, eleven + 11, s.begin());
  return s;
}

}  // namespace

TEST(FatGeometry, SeedNumbersFor204MiB) {
  Geometry g = plan_format(204ull << 20, 512, FormatOptions{});
  EXPECT_EQ(g.type, FatType::fat16);
  EXPECT_EQ(g.cluster_size(), 4096u);
  EXPECT_EQ(g.cluster_count, 52168u);
  EXPECT_EQ(g.sectors_per_fat, 204u);
  EXPECT_EQ(g.data_bytes(), 213680128ull);
}

TEST(FatGeometry, DefaultClusterSizesFollowWindows) {
  EXPECT_EQ(default_cluster_size(20ull << 20, false), 512u);
  EXPECT_EQ(default_cluster_size(128ull << 20, false), 2048u);
  EXPECT_EQ(default_cluster_size(2048ull << 20, false), 32768u);
  EXPECT_EQ(default_cluster_size(300ull << 20, true), 4096u);
  EXPECT_EQ(default_cluster_size(20ull << 30, true), 16384u);
  EXPECT_THROW(default_cluster_size(5ull << 30, false), UsageError);
}

TEST(FatBootSector, RoundTripsFat16AndFat32) {
  for (bool is32 : {false, true}) {
    BootSector b;
    b.fat32 = is32;
    b.sectors_per_cluster = 8;
    b.reserved_sectors = is32 ? 32 : 1;
    b.root_entries = is32 ? 0 : 512;
    b.total_sectors = is32 ? 1'000'000 : 417'792;
    b.sectors_per_fat = is32 ? 1000 : 204;
    b.root_cluster = is32 ? 2 : 0;
    b.fsinfo_sector = is32 ? 1 : 0;
    b.backup_boot_sector = is32 ? 6 : 0;
    b.serial = 0xEA3403C7;
    b.label = "BOOTMIRROR ";
    b.hidden_sectors = 34;
    ByteVector s(512);
    b.encode(s, is32 ? FatType::fat32 : FatType::fat16);
    BootSector d = BootSector::decode(s);
    EXPECT_EQ(d.fat32, is32);
    EXPECT_EQ(d.total_sectors, b.total_sectors);
    EXPECT_EQ(d.sectors_per_fat, b.sectors_per_fat);
    EXPECT_EQ(d.serial, b.serial);
    EXPECT_EQ(d.label, b.label);
    EXPECT_EQ(d.hidden_sectors, 34u);
    ByteVector again(512);
    d.encode(again, is32 ? FatType::fat32 : FatType::fat16);
    EXPECT_EQ(again, s);
  }
}

TEST(FatBootSector, AbsurdValuesAreFormatErrors) {
  BootSector b;
  b.total_sectors = 65536;
  b.sectors_per_fat = 256;
  ByteVector s(512);
  b.encode(s, FatType::fat16);
  ByteVector bad = s;
  bad[13] = std::byte{3};
  EXPECT_THROW(BootSector::decode(bad), FormatError);
  bad = s;
  store_le<std::uint16_t>(bad, 11, 100);
  EXPECT_THROW(BootSector::decode(bad), FormatError);
  // A FAT too small for the clusters, and a volume larger than its device.
  BootSector small = BootSector::decode(s);
  small.sectors_per_fat = 1;
  EXPECT_THROW(geometry_of(small, 65536ull * 512), FormatError);
  EXPECT_THROW(geometry_of(BootSector::decode(s), 1000ull * 512), FormatError);
}

TEST(FatFsInfo, RoundTrips) {
  ByteVector s(512);
  FsInfo f{1234, 56};
  f.encode(s);
  ASSERT_TRUE(FsInfo::valid(s));
  EXPECT_EQ(FsInfo::decode(s).free_count, 1234u);
  EXPECT_EQ(FsInfo::decode(s).next_free, 56u);
}

TEST(FatDirEntry, ShortAndLongEntriesRoundTrip) {
  ShortEntry e;
  e.name = sn("README  TXT");
  e.attributes = attr::archive | attr::hidden;
  e.case_flags = 0x18;
  e.first_cluster = 0x12345;
  e.size = 99;
  e.stamp_created(Timestamp{1'700'000'001, 500'000'000});
  ByteVector slot(32);
  e.encode(slot);
  ShortEntry d = ShortEntry::decode(slot);
  EXPECT_EQ(d.name, e.name);
  EXPECT_EQ(d.first_cluster, 0x12345u);
  EXPECT_EQ(d.created_tenths, 150);  // one odd second and a half
  Timestamp t = from_fat_time(d.created_date, d.created_time, d.created_tenths);
  EXPECT_EQ(t.seconds, 1'700'000'001);
  EXPECT_EQ(t.nanoseconds, 500'000'000u);

  std::u16string name = u"A rather long name.txt";  // 22 characters: two entries
  auto longs = long_entries_for(name, lfn_checksum(e.name));
  ASSERT_EQ(longs.size(), 2u);
  EXPECT_TRUE(longs[0].last);
  EXPECT_EQ(longs[0].ordinal, 2);
  for (const LongEntry& l : longs) {
    ByteVector s(32);
    l.encode(s);
    EXPECT_EQ(std::to_integer<int>(s[11]), 0x0F);
    LongEntry back = LongEntry::decode(s);
    EXPECT_EQ(back.chars, l.chars);
    EXPECT_EQ(back.ordinal, l.ordinal);
    EXPECT_EQ(back.last, l.last);
  }
  EXPECT_EQ(longs[0].chars[22 - 13], 0);       // terminator
  EXPECT_EQ(longs[0].chars[12], char16_t(0xFFFF));  // padding
}

TEST(FatNames, ChecksumMatchesSpecification) {
  // fatgen103's algorithm, computed by hand for "README  TXT".
  std::uint8_t sum = 0;
  for (char c : std::string("README  TXT")) sum = std::uint8_t(((sum & 1) << 7) + (sum >> 1) + std::uint8_t(c));
  EXPECT_EQ(lfn_checksum(sn("README  TXT")), sum);
}

TEST(FatNames, WindowsShortNameRules) {
  auto exact = exact_short_name(u"readme.txt");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->name, sn("README  TXT"));
  EXPECT_EQ(exact->case_flags, 0x18);
  EXPECT_FALSE(exact->needs_long_name);
  EXPECT_TRUE(exact_short_name(u"Readme.txt")->needs_long_name);
  EXPECT_FALSE(exact_short_name(u"toolongname.txt"));
  EXPECT_FALSE(exact_short_name(u"a.b.c"));
  auto none = [](const ShortName&) { return false; };
  EXPECT_EQ(generate_short_name(u"A much longer name.html", none), sn("AMUCHL~1HTM"));
  EXPECT_EQ(generate_short_name(u".bashrc", none), sn("BASHRC~1   "));
  EXPECT_EQ(generate_short_name(u"a+b=c.tar.gz", none), sn("A_B_CT~1GZ "));  // embedded dots are dropped from the basis
  int calls = 0;
  auto first_taken = [&](const ShortName&) { return calls++ == 0; };
  EXPECT_EQ(generate_short_name(u"A much longer name.html", first_taken), sn("AMUCHL~2HTM"));
  EXPECT_EQ(display_short_name(sn("README  TXT"), 0x08), "readme.TXT");
  EXPECT_THROW(check_long_name(u"con.txt"), UsageError);
  EXPECT_THROW(check_long_name(u"a:b"), UsageError);
  EXPECT_NO_THROW(check_long_name(u"Grüße ☃.txt"));
  EXPECT_EQ(fold(u"grüße"), std::u16string(u"GRÜßE"));  // ß has no single-letter upper case
}

TEST(FatNames, PathsAndUtf) {
  EXPECT_EQ(split_path("\\EFI/Microsoft\\\\Boot/"), (std::vector<std::string>{"EFI", "Microsoft", "Boot"}));
  EXPECT_EQ(split_path("a/./b/../c"), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(split_path("trailing. . "), (std::vector<std::string>{"trailing"}));
  std::string s = "snow ☃ 𝄞";
  EXPECT_EQ(utf16_to_utf8(utf8_to_utf16(s)), s);
  EXPECT_THROW(utf8_to_utf16("\xff"), UsageError);
}

TEST(FatTable, EncodesEveryWidthAndWalksChains) {
  for (FatType type : {FatType::fat12, FatType::fat16, FatType::fat32}) {
    auto disk = std::make_shared<MemoryDisk>(64ull << 20);
    FormatOptions o;
    o.file_system = type == FatType::fat12 ? "FAT12" : type == FatType::fat16 ? "FAT16" : "FAT32";
    FormatResult r = format(disk, o);
    ASSERT_EQ(r.geometry.type, type);
    FatTable t(*disk, r.geometry);
    std::vector<fat::Run> runs = t.allocate(5, 0);
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].count, 5u);
    t.flush();
    FatTable again(*disk, r.geometry, 1);  // the second copy
    auto chain = again.chain(runs[0].first, 100);
    ASSERT_EQ(chain.size(), 1u);
    EXPECT_EQ(chain[0].count, 5u);
    // A loop is a FormatError, not a hang.
    t.set(runs[0].first + 4, runs[0].first);
    EXPECT_THROW(t.chain(runs[0].first, 1000000), FormatError);
  }
}

TEST(FatVolume, FormatFilesAndCheckOnMemoryDisk) {
  auto disk = std::make_shared<MemoryDisk>(32ull << 20, 4096);
  FormatOptions o;
  o.label = "esp";
  o.serial = 0x12345678;
  format(disk, o);
  auto v = Volume::open(disk);
  EXPECT_EQ(v->label(), "ESP");
  EXPECT_EQ(v->serial(), 0x12345678u);
  v->makedirs("EFI/Boot");
  std::string text = "hello";
  v->write_file("EFI/Boot/Hello World.txt", as_bytes(text));
  ByteVector back = v->read_file("efi\\boot\\HELLO WORLD.TXT");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(back.data()), back.size()), text);
  EXPECT_TRUE(v->check(false).clean());
  EXPECT_THROW(v->read_file("missing"), OsError);
}

TEST(FatShell, FormatSwitchesAndTexts) {
  auto c = shell::parse_format_switches("/FS:FAT32 /Q /Y /V:ESP /A:4K");
  EXPECT_EQ(c.options.file_system, "FAT32");
  EXPECT_TRUE(c.options.quick);
  EXPECT_TRUE(c.yes);
  EXPECT_EQ(c.options.label, "ESP");
  EXPECT_EQ(*c.options.cluster_size, 4096u);
  EXPECT_THROW(shell::parse_format_switches("/fs:ntfs"), UsageError);
  EXPECT_EQ(shell::with_thousands(213680128), "213,680,128");
  EXPECT_EQ(shell::serial_text(0xEA3403C7), "EA34-03C7");
  EXPECT_EQ(shell::xcopy_listing("p:\\", {"MSUtil\\fdisk.efi"}), "p:\\MSUtil\\fdisk.efi\n1 File(s) copied\n");
  EXPECT_TRUE(wildcard_match("*.efi", "BOOTX64.EFI"));
  EXPECT_FALSE(wildcard_match("*.efi", "bcd"));
  EXPECT_TRUE(wildcard_match("*.*", "bcd"));
  EXPECT_TRUE(wildcard_match("b?d", "BCD"));
}
