// FAT codecs and engine: boot sector, FSInfo, directory entries and long names round-trip; names
// follow Windows' rules; geometry matches Windows' tables; the FAT table encodes 12/16/32 bits;
// bad input is a FormatError.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "bootmirror/fat.h"
#include "bootmirror/fat_commands.h"
#include "bootmirror/units.h"
#include "core/program.h"
#include "fat/boot_sector.h"
#include "fat/dir_entry.h"
#include "fat/fat_table.h"
#include "fat/names.h"
#include "fat/oem_codepage.h"

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
  const OemCodePage& cp437 = OemCodePage::default_page();
  auto exact = exact_short_name(u"readme.txt", cp437);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->name, sn("README  TXT"));
  EXPECT_EQ(exact->case_flags, 0x18);
  EXPECT_FALSE(exact->needs_long_name);
  EXPECT_TRUE(exact_short_name(u"Readme.txt", cp437)->needs_long_name);
  EXPECT_FALSE(exact_short_name(u"toolongname.txt", cp437));
  EXPECT_FALSE(exact_short_name(u"a.b.c", cp437));
  auto none = [](const ShortName&) { return false; };
  EXPECT_EQ(generate_short_name(u"A much longer name.html", none, cp437), sn("AMUCHL~1HTM"));
  EXPECT_EQ(generate_short_name(u".bashrc", none, cp437), sn("BASHRC~1   "));
  EXPECT_EQ(generate_short_name(u"a+b=c.tar.gz", none, cp437), sn("A_B_CT~1GZ "));  // embedded dots are dropped from the basis
  int calls = 0;
  auto first_taken = [&](const ShortName&) { return calls++ == 0; };
  EXPECT_EQ(generate_short_name(u"A much longer name.html", first_taken, cp437), sn("AMUCHL~2HTM"));
  EXPECT_EQ(display_short_name(sn("README  TXT"), 0x08, cp437), "readme.TXT");
  EXPECT_THROW(check_long_name(u"con.txt"), UsageError);
  EXPECT_THROW(check_long_name(u"a:b"), UsageError);
  EXPECT_NO_THROW(check_long_name(u"Grüße ☃.txt"));
  EXPECT_EQ(fold(u"grüße"), std::u16string(u"GRÜßE"));  // ß has no single-letter upper case
}

TEST(FatNames, OemCodePagesDecodeAndEncode) {
  const OemCodePage& cp437 = OemCodePage::named("cp437");
  const OemCodePage& cp850 = OemCodePage::named("CP850");
  EXPECT_EQ(&OemCodePage::named("850"), &cp850);
  EXPECT_EQ(&OemCodePage::named("ibm437"), &cp437);
  EXPECT_THROW(OemCodePage::named("cp1252"), UsageError);
  EXPECT_THROW(OemCodePage::named("utf-8"), UsageError);
  EXPECT_EQ(cp437.decode(0x99), u'Ö');
  EXPECT_EQ(cp437.decode(0xE1), u'ß');
  EXPECT_EQ(cp850.decode(0xE5), u'Õ');
  EXPECT_EQ(cp437.decode(0x41), u'A');
  EXPECT_EQ(cp437.encode(u'Ö'), std::optional<std::uint8_t>(0x99));
  EXPECT_EQ(cp437.encode(u'Õ'), std::nullopt);
  const OemCodePage& cp857 = OemCodePage::named("cp857");
  EXPECT_EQ(cp857.decode(0xD5), char16_t(0xDCD5));  // undefined in cp857: surrogateescape's stand-in
  EXPECT_EQ(cp857.encode(char16_t(0xDCD5)), std::nullopt);  // and never written for a new name
  for (const std::string& name : OemCodePage::names()) {
    const OemCodePage& page = OemCodePage::named(name);
    for (unsigned b = 0x20; b < 0x100; ++b) {
      char16_t c = page.decode(std::uint8_t(b));
      if (c >= 0xDC80 && c <= 0xDCFF) continue;
      EXPECT_EQ(page.encode(c), std::optional<std::uint8_t>(std::uint8_t(b))) << name << " byte " << b;
    }
  }
}

TEST(FatNames, CaseMappingsAreInverse) {
  for (std::uint32_t c = 0; c < 0x10000; ++c) {
    auto ch = char16_t(c);
    EXPECT_EQ(upcase(downcase(ch)), upcase(ch)) << c;
    if (upcase(ch) != ch) EXPECT_EQ(downcase(upcase(ch)), ch) << c;
  }
}

TEST(FatNames, ShortNamesInTheOemCodePage) {
  const OemCodePage& cp437 = OemCodePage::named("cp437");
  const OemCodePage& cp850 = OemCodePage::named("cp850");
  auto exact = exact_short_name(u"GRÖSSEC.TXT", cp437);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->name, sn("GR\x99SSEC TXT"));
  EXPECT_FALSE(exact->needs_long_name);
  auto lower = exact_short_name(u"åäö.txt", cp437);  // lower case in the page: case flags, as mtools writes
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->name, sn("\x8F\x8E\x99     TXT"));
  EXPECT_EQ(lower->case_flags, 0x18);
  EXPECT_EQ(short_name_text(lower->name, lower->case_flags, cp437), u"åäö.txt");
  EXPECT_FALSE(exact_short_name(u"Õ.TXT", cp437));  // cp437 has no Õ
  auto none = [](const ShortName&) { return false; };
  EXPECT_EQ(generate_short_name(u"Õ.TXT", none, cp437), sn("_~1     TXT"));
  auto o850 = exact_short_name(u"ÕPEN.TXT", cp850);  // Õ is 0xE5 in cp850: stored as 0x05
  ASSERT_TRUE(o850);
  EXPECT_EQ(o850->name, sn("\x05PEN    TXT"));
  EXPECT_EQ(display_short_name(o850->name, 0, cp850), "ÕPEN.TXT");
  EXPECT_EQ(encode_label("grösse", cp437), sn("GR\x99SSE     "));
  EXPECT_EQ(decode_label("GR\x99SSE     ", cp437), "GRÖSSE");
  EXPECT_THROW(encode_label("a.b", cp437), UsageError);
  EXPECT_THROW(encode_label("Õ", cp437), UsageError);
  EXPECT_THROW(encode_label("twelve chars", cp437), UsageError);
}

TEST(FatNames, PathsAndUtf) {
  EXPECT_EQ(split_path("\\EFI/Microsoft\\\\Boot/"), (std::vector<std::string>{"EFI", "Microsoft", "Boot"}));
  EXPECT_EQ(split_path("a/./b/../c"), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(split_path("trailing. . "), (std::vector<std::string>{"trailing"}));
  std::string s = "snow ☃ 𝄞";
  EXPECT_EQ(utf16_to_utf8(utf8_to_utf16(s)), s);
  EXPECT_THROW(utf8_to_utf16("\xff"), UsageError);
  // WTF-8 keeps a lone surrogate (as Python's surrogatepass writes it) and gives it back.
  std::u16string lone = u"a";
  lone.push_back(char16_t(0xD800));
  lone += u"b";
  std::string wtf8 = utf16_to_wtf8(lone);
  EXPECT_EQ(wtf8, "a\xED\xA0\x80" "b");
  EXPECT_EQ(wtf8_to_utf16(wtf8), lone);
  EXPECT_FALSE(is_valid_utf8(wtf8));
  EXPECT_EQ(wtf8_for_display(wtf8), "a\xEF\xBF\xBD" "b");
  EXPECT_TRUE(is_valid_utf8(wtf8_for_display(wtf8)));
  EXPECT_EQ(utf16_to_wtf8(utf8_to_utf16(s)), s);  // well-formed text is plain UTF-8
  EXPECT_EQ(wtf8_to_utf16("\xED\xA0\xBD\xED\xB8\x80"), u"\U0001F600");  // an encoded pair is the pair
  EXPECT_THROW(wtf8_to_utf16("\xff"), UsageError);
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

TEST(FatVolume, AFailedWriteChangesNothingInMemoryOrOnDisk) {
  auto disk = std::make_shared<MemoryDisk>(4ull << 20);
  FormatOptions o;
  o.file_system = "FAT12";
  o.serial = 1;
  format(disk, o);
  auto v = Volume::open(disk);
  v->makedirs("A");
  ByteVector small(5000, std::byte{1});
  v->write_file("A/keep.bin", small);
  ByteVector before = disk->read(0, disk->size());
  std::uint64_t free_before = v->free_bytes();
  ByteVector huge(v->free_bytes() + (64 << 10), std::byte{2});  // more than free space and the old file together
  EXPECT_THROW(v->write_file("A/new file with a long name.bin", huge), OsError);   // full volume
  EXPECT_THROW(v->write_file("A/keep.bin", huge), OsError);                        // replacing, too big
  EXPECT_THROW(v->write_file("A/bad:name", small), UsageError);
  EXPECT_THROW(v->mkdir("A/keep.bin"), OsError);
  EXPECT_EQ(disk->read(0, disk->size()), before);
  EXPECT_EQ(v->free_bytes(), free_before);
  EXPECT_EQ(v->list("A").size(), 1u);
  EXPECT_EQ(v->read_file("A/keep.bin"), small);
  EXPECT_TRUE(v->check(false).clean());
}

TEST(FatShell, FormatSwitchesAndTexts) {
  auto c = shell::parse_format_switches("/FS:FAT32 /Q /Y /V:ESP /A:4K");
  EXPECT_EQ(c.options.file_system, "FAT32");
  EXPECT_TRUE(c.options.quick);
  EXPECT_TRUE(c.yes);
  EXPECT_EQ(c.options.label, "ESP");
  EXPECT_EQ(*c.options.cluster_size, 4096u);
  EXPECT_TRUE(shell::parse_format_switches("/fs:ntfs").ntfs);
  EXPECT_THROW(shell::parse_format_switches("/fs:exfat"), UsageError);
  EXPECT_EQ(with_thousands(213680128), "213,680,128");
  EXPECT_EQ(shell::serial_text(0xEA3403C7), "EA34-03C7");
  EXPECT_EQ(shell::xcopy_listing("p:\\", {"MSUtil\\fdisk.efi"}), "p:\\MSUtil\\fdisk.efi\n1 File(s) copied\n");
  EXPECT_TRUE(wildcard_match("*.efi", "BOOTX64.EFI"));
  EXPECT_FALSE(wildcard_match("*.efi", "bcd"));
  EXPECT_TRUE(wildcard_match("*.*", "bcd"));
  EXPECT_TRUE(wildcard_match("b?d", "BCD"));
}

namespace {

// Reports seen by a progress callback that stops the work at report `stop_at` (0: never).
struct Recorder {
  std::vector<Progress> seen;
  std::size_t stop_at = 0;
  ProgressCallback callback() {
    return [this](const Progress& p) {
      seen.push_back(p);
      return stop_at == 0 || seen.size() < stop_at;
    };
  }
  bool ends_at_total() const { return !seen.empty() && seen.back().done == seen.back().total && seen.back().total > 0; }
  bool monotonic() const {
    for (std::size_t i = 1; i < seen.size(); ++i)
      if (seen[i].done < seen[i - 1].done || seen[i].total != seen[0].total) return false;
    return true;
  }
};

// A 32 MiB memory disk freshly formatted with `options`.
std::shared_ptr<MemoryDisk> formatted_disk(const FormatOptions& options = {}) {
  auto disk = std::make_shared<MemoryDisk>(32ull << 20);
  format(disk, options);
  return disk;
}

// A host folder of `files` files of 100 KiB each, in two subfolders.
void make_host_tree(const std::filesystem::path& root, int files) {
  std::filesystem::create_directories(root / "a" / "b");
  std::string data(100 << 10, 'x');
  for (int i = 0; i < files; ++i) {
    std::ofstream out(root / (i % 2 ? "a" : "a/b") / fmt::format("file{}.bin", i), std::ios::binary);
    data[0] = char(i);
    out << data;
  }
}

}  // namespace

TEST(FatProgress, AFullFormatReportsItsWritesAndAStopAtTheStartWritesNothing) {
  auto disk = std::make_shared<MemoryDisk>(64ull << 20);
  ByteVector pattern(disk->size(), std::byte{0x5A});
  disk->write(0, pattern);
  FormatOptions o;
  o.quick = false;
  Recorder stop_first;
  stop_first.stop_at = 1;
  EXPECT_THROW(format(disk, o, stop_first.callback()), Stopped);
  EXPECT_EQ(disk->read(0, disk->size()), pattern);

  Recorder stop_later;
  stop_later.stop_at = 3;
  EXPECT_THROW(format(disk, o, stop_later.callback()), Stopped);
  EXPECT_THROW(Volume::open(disk), FormatError);  // a cancelled format leaves no file system

  Recorder full;
  format(disk, o, full.callback());
  EXPECT_TRUE(full.monotonic());
  EXPECT_TRUE(full.ends_at_total());
  EXPECT_GE(full.seen.back().total, 60ull << 20);  // the zeroed data area is most of it
  EXPECT_GT(full.seen.size(), 10u);
  EXPECT_TRUE(Volume::open(disk)->check(false).clean());
}

TEST(FatProgress, AStoppedImportOrCopyLeavesTheVolumeAsItWas) {
  TemporaryFolder host("fat-progress");
  make_host_tree(host.path() / "in", 40);
  auto disk = std::make_shared<MemoryDisk>(64ull << 20);
  FormatOptions o;
  o.serial = 7;
  format(disk, o);
  auto v = Volume::open(disk);
  v->makedirs("keep");
  const ByteVector before = disk->read(0, disk->size());

  Recorder stop;
  stop.stop_at = 4;
  EXPECT_THROW(v->import_tree((host.path() / "in").string(), "tree", stop.callback()), Stopped);
  EXPECT_EQ(disk->read(0, disk->size()), before);
  EXPECT_FALSE(v->exists("tree"));

  Recorder full;
  CopyStats stats = v->import_tree((host.path() / "in").string(), "tree", full.callback());
  EXPECT_EQ(stats.files, 40u);
  EXPECT_TRUE(full.monotonic());
  EXPECT_TRUE(full.ends_at_total());
  EXPECT_EQ(full.seen.back().total, 40u * (100 << 10));

  const ByteVector imported = disk->read(0, disk->size());
  Recorder stop_copy;
  stop_copy.stop_at = 2;
  CopyOptions all;
  all.recurse = true;
  EXPECT_THROW(copy_tree(*v, "tree", *v, "copy", all, {}, stop_copy.callback()), Stopped);
  EXPECT_EQ(disk->read(0, disk->size()), imported);
  EXPECT_FALSE(v->exists("copy"));

  Recorder out;
  stats = v->export_tree("tree", (host.path() / "out").string(), out.callback());
  EXPECT_EQ(stats.files, 40u);
  EXPECT_TRUE(out.monotonic());
  EXPECT_TRUE(out.ends_at_total());
  EXPECT_EQ(out.seen.back().total, 40u * (100 << 10));
  EXPECT_TRUE(v->check(false).clean());
}

namespace {

// A memory disk that notes which ranges were written and which were started to the disk.
class WritebackRecorder final : public BlockDevice {
 public:
  explicit WritebackRecorder(std::uint64_t size) : memory_(size) {}
  std::uint64_t size() const override { return memory_.size(); }
  std::uint32_t sector_size() const override { return memory_.sector_size(); }
  bool writable() const override { return true; }
  std::string name() const override { return "writeback recorder"; }
  void flush() override {}
  void start_writeback(std::uint64_t offset, std::uint64_t length) override {
    std::lock_guard lock(mutex_);
    started.push_back({offset, length});
  }
  std::vector<Extent> written, started;

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override { memory_.read(offset, out); }
  void do_write(std::uint64_t offset, ByteSpan data) override {
    memory_.write(offset, data);
    std::lock_guard lock(mutex_);
    written.push_back({offset, data.size()});
  }

 private:
  MemoryDisk memory_;
  std::mutex mutex_;  // the import's worker writes too
};

// A host folder imported into a new FAT volume on a partition 1 MiB into a recording disk; the
// disk's record holds the import's writes alone (the format's are cleared).
struct RecordedImport {
  static constexpr std::uint64_t kStart = 1 << 20;
  std::shared_ptr<WritebackRecorder> disk = std::make_shared<WritebackRecorder>(80ull << 20);
  std::shared_ptr<Slice> partition = std::make_shared<Slice>(disk, kStart, 64ull << 20);
  std::shared_ptr<Volume> volume;

  explicit RecordedImport(const std::filesystem::path& host_folder) {
    FormatOptions o;
    o.serial = 7;
    format(partition, o);
    volume = Volume::open(partition);
    disk->written.clear();
    volume->import_tree(host_folder.string(), "tree");
  }
};

}  // namespace

// An import's data pass starts each buffer it wrote behind on its way to the disk (the flush at its
// end then waits for less); through a partition, at the partition's place on the disk.
TEST(FatImport, BuffersWrittenBehindAreStartedToTheDisk) {
  TemporaryFolder host("fat-writeback");
  make_host_tree(host.path() / "in", 60);  // 6 MiB: several staging buffers
  RecordedImport import(host.path() / "in");
  const auto& disk = import.disk;
  std::uint64_t started = 0;
  for (const Extent& e : disk->started) {
    EXPECT_GE(e.offset, RecordedImport::kStart);
    // Each is one write of the import's, as the disk saw it.
    EXPECT_NE(std::find(disk->written.begin(), disk->written.end(), e), disk->written.end()) << e.offset << "+" << e.length;
    started += e.length;
  }
  EXPECT_GE(started, 4ull << 20) << "most of the 6 MiB goes out in buffers written behind";
  EXPECT_TRUE(Volume::open(import.partition)->check(false).clean());
}

// A file too large to stage (over 1 MiB) is written a piece at a time, each piece started on its
// way to the disk as soon as it is written: every byte of the file's clusters, at their place on
// the disk, and nothing but the import's own writes.
TEST(FatImport, ALargeFilesPiecesAreStartedToTheDisk) {
  TemporaryFolder host("fat-writeback-large");
  std::filesystem::create_directories(host.path() / "in");
  {
    std::ofstream out(host.path() / "in" / "large.bin", std::ios::binary);
    out << std::string(20 << 20, 'L');  // 20 MiB: three 8 MiB pieces
  }
  RecordedImport import(host.path() / "in");
  const auto& disk = import.disk;
  std::uint64_t started = 0;
  for (const Extent& e : disk->started) {
    EXPECT_GE(e.offset, RecordedImport::kStart);
    const bool inside_a_write = std::any_of(disk->written.begin(), disk->written.end(), [&](const Extent& w) {
      return w.offset <= e.offset && e.offset + e.length <= w.offset + w.length;
    });
    EXPECT_TRUE(inside_a_write) << e.offset << "+" << e.length;
    started += e.length;
  }
  EXPECT_EQ(started, 20ull << 20) << "the whole file, piece by piece";
  EXPECT_GE(disk->started.size(), 3u);
  EXPECT_EQ(import.volume->read_file("tree/large.bin"), ByteVector(20 << 20, std::byte{'L'}));
}

// An import's data pass writes full staging buffers behind, from a worker thread. A write that
// fails there fails the import like any other, and the volume is left as it was.
TEST(FatImport, AWriteThatFailsBehindFailsTheImportAndTheNextOneWorks) {
  TemporaryFolder host("fat-behind");
  make_host_tree(host.path() / "in", 60);  // 6 MiB: several staging buffers
  auto memory = std::make_shared<MemoryDisk>(64ull << 20);
  FormatOptions o;
  o.serial = 7;
  format(memory, o);
  auto disk = std::make_shared<FaultyDisk>(memory);
  auto v = Volume::open(disk);
  const ByteVector before = memory->read(0, memory->size());

  // Every write fails: the first is the worker's, of the first full buffer.
  disk->fail_range(0, disk->size(), FaultyDisk::Access::write);
  EXPECT_THROW(v->import_tree((host.path() / "in").string(), "tree"), OsError);
  EXPECT_EQ(memory->read(0, memory->size()), before);
  EXPECT_FALSE(v->exists("tree"));

  disk->clear_faults();
  EXPECT_EQ(v->import_tree((host.path() / "in").string(), "tree").files, 60u);
  auto reopened = Volume::open(memory);
  EXPECT_TRUE(reopened->check(false).clean());
  for (int i = 0; i < 60; ++i) {
    ByteVector expected(100 << 10, std::byte{'x'});
    expected[0] = std::byte(i);
    EXPECT_EQ(reopened->read_file(fmt::format("tree/{}/file{}.bin", i % 2 ? "a" : "a/b", i)), expected) << i;
  }
}

TEST(FatCompareTrees, AnExactCopyHasNoDifferencesAndEachChangeIsNamed) {
  FormatOptions o;
  o.label = "ESP";
  auto a = Volume::open(formatted_disk(o)), b = Volume::open(formatted_disk(o));
  a->makedirs("EFI/Microsoft/Boot");
  a->makedirs("EFI/Empty");
  std::string loader(5000, 'L'), bcd(300, 'B');
  a->write_file("EFI/Microsoft/Boot/bootmgfw.efi", as_bytes(loader));
  a->write_file("EFI/Microsoft/Boot/BCD", as_bytes(bcd));
  a->set_attributes("EFI/Microsoft/Boot/BCD", attr::hidden | attr::system | attr::archive);
  CopyOptions all;
  all.recurse = all.empty_dirs = all.hidden = true;
  copy_tree(*a, "", *b, "", all);
  auto changes = [&] {
    std::vector<std::string> out;
    for (const TreeDifference& d : compare_trees(*a, "", *b, "")) out.push_back(d.change + " " + d.path);
    return out;
  };
  // Modification times go with the files in a copy; a fresh FAT's folders compare by attributes.
  EXPECT_EQ(changes(), std::vector<std::string>{});
  EXPECT_TRUE(compare_trees(*a, "EFI/Microsoft", *b, "efi/MICROSOFT").empty());  // names as Windows matches them

  std::string other_loader(5000, 'X');
  b->write_file("EFI/Microsoft/Boot/bootmgfw.efi", as_bytes(other_loader));  // same size, other bytes
  b->set_times("EFI/Microsoft/Boot/bootmgfw.efi", std::nullopt, a->stat("EFI/Microsoft/Boot/bootmgfw.efi").modified, std::nullopt);
  b->write_file("EFI/Microsoft/Boot/BCD", as_bytes(loader));  // another size
  b->set_times("EFI/Microsoft/Boot/BCD", std::nullopt, a->stat("EFI/Microsoft/Boot/BCD").modified, std::nullopt);
  b->set_attributes("EFI/Microsoft/Boot/BCD", attr::archive);
  b->write_file("EFI/extra.txt", as_bytes(bcd));
  b->rmdir("EFI/Empty");
  b->write_file("EFI/Empty", as_bytes(bcd));  // a file where the source has a folder
  EXPECT_EQ(changes(), (std::vector<std::string>{"kind EFI/Empty", "only-in-target EFI/extra.txt", "size EFI/Microsoft/Boot/BCD",
                                                 "attributes EFI/Microsoft/Boot/BCD", "content EFI/Microsoft/Boot/bootmgfw.efi"}));
  const auto content = compare_trees(*a, "EFI/Microsoft/Boot", *b, "EFI/Microsoft/Boot");
  ASSERT_EQ(content.size(), 3u);
  EXPECT_EQ(content[2].path, "bootmgfw.efi");
  EXPECT_EQ(content[2].source_value.size(), 32u);  // XXH3-128 in hex
  EXPECT_NE(content[2].source_value, content[2].target_value);
  EXPECT_EQ(content[0].source_value, "300 bytes");
  EXPECT_EQ(content[0].target_value, "5,000 bytes");
  EXPECT_EQ(content[1].source_value, "0x26");
  EXPECT_EQ(content[1].target_value, "0x20");
  a->write_file("EFI/only in a.txt", as_bytes(bcd));
  bool seen = false;
  for (const TreeDifference& d : compare_trees(*b, "", *a, ""))  // the other way round
    seen |= d.change == "only-in-target" && d.path == "EFI/only in a.txt" && d.target_value == "300 bytes";
  EXPECT_TRUE(seen);
}

TEST(FatSyncTree, MakesTheTargetAnExactCopyAndADryRunWritesNothing) {
  FormatOptions o;
  o.serial = 1;
  auto disk_a = formatted_disk(o);
  o.serial = 2;
  auto disk_b = formatted_disk(o);
  auto a = Volume::open(disk_a), b = Volume::open(disk_b);
  std::string loader(70000, 'L'), small(300, 's');
  a->makedirs("EFI/Microsoft/WINNT50");
  a->write_file("EFI/Microsoft/WINNT50/ia64ldr.efi", as_bytes(loader));
  a->write_file("EFI/Microsoft/WINNT50/Boot0003", as_bytes(small));
  a->set_attributes("EFI/Microsoft/WINNT50/Boot0003", attr::hidden | attr::system | attr::archive);
  a->makedirs("EFI/Boot");
  a->write_file("EFI/Boot/bootx64.efi", as_bytes(small));  // a file where the target has a folder
  // The target: an older, different tree.
  b->makedirs("efi/microsoft/winnt50");
  std::string old_loader(50000, 'O');
  b->write_file("efi/microsoft/winnt50/IA64LDR.EFI", as_bytes(old_loader));
  b->set_attributes("efi/microsoft/winnt50/IA64LDR.EFI", attr::read_only | attr::archive);  // must still be replaced
  b->makedirs("EFI/Boot/bootx64.efi/inner");
  b->write_file("EFI/Boot/bootx64.efi/inner/x.bin", as_bytes(small));
  b->makedirs("Stale/Deeper");
  b->write_file("Stale/Deeper/old.efi", as_bytes(small));
  b->set_attributes("Stale/Deeper/old.efi", attr::read_only);

  const ByteVector before = disk_b->read(0, disk_b->size());
  const auto planned = sync_tree(*a, "", *b, "", true);
  EXPECT_FALSE(planned.empty());
  EXPECT_EQ(disk_b->read(0, disk_b->size()), before);  // a dry run writes nothing

  const ByteVector source_before = disk_a->read(0, disk_a->size());
  const auto done = sync_tree(*a, "", *b, "");
  EXPECT_EQ(done.size(), planned.size());
  EXPECT_TRUE(compare_trees(*a, "", *b, "").empty());
  EXPECT_EQ(disk_a->read(0, disk_a->size()), source_before);  // the source is only read
  EXPECT_FALSE(b->exists("Stale"));
  EXPECT_EQ(b->read_file("EFI/Microsoft/WINNT50/ia64ldr.efi"), a->read_file("EFI/Microsoft/WINNT50/ia64ldr.efi"));
  EXPECT_EQ(b->stat("EFI/Microsoft/WINNT50/Boot0003").attributes, attr::hidden | attr::system | attr::archive);
  EXPECT_EQ(b->stat("efi/microsoft/winnt50/Boot0003").modified.seconds, a->stat("EFI/Microsoft/WINNT50/Boot0003").modified.seconds);
  EXPECT_EQ(b->serial(), 2u);  // the target keeps its own identity
  EXPECT_TRUE(b->check(false).clean());
  EXPECT_TRUE(sync_tree(*a, "", *b, "").empty());  // nothing left to do
}

TEST(FatSyncTree, ADamagedSourceFileIsRefusedBeforeTheTargetIsWritten) {
  FormatOptions o;
  o.file_system = "FAT16";
  auto disk_a = formatted_disk(o), disk_b = formatted_disk(o);
  {
    auto a = Volume::open(disk_a);
    std::string data(20000, 'd');
    a->write_file("good.bin", as_bytes(data));
    a->write_file("zz damaged.bin", as_bytes(data));  // copied after good.bin
    a->flush();
    // Its chain cut after the first cluster, in both FATs: shorter than its size.
    const std::uint32_t first = a->stat("zz damaged.bin").first_cluster;
    for (std::uint32_t copy = 0; copy < 2; ++copy) {
      ByteVector end(2);
      store_le<std::uint16_t>(end, 0, 0xFFFF);
      disk_a->write(a->geometry().fat_offset(copy) + 2ull * first, end);
    }
  }
  auto a = Volume::open(disk_a), b = Volume::open(disk_b);
  b->write_file("old.bin", as_bytes(std::string(100, 'o')));  // would be removed first
  const ByteVector before = disk_b->read(0, disk_b->size());
  EXPECT_THROW(sync_tree(*a, "", *b, ""), FormatError);
  EXPECT_EQ(disk_b->read(0, disk_b->size()), before);
  EXPECT_TRUE(b->exists("old.bin"));
}
