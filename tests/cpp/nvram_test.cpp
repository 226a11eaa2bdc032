#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "bootmirror/nvram.h"
#include "bootmirror/unicode.h"
#include "nvram/codec.h"

using namespace bootmirror;
using namespace bootmirror::nvram;
namespace fs = std::filesystem;

namespace {

constexpr const char* kTemplate2M = "/usr/share/OVMF/OVMF_VARS.fd";

ByteVector read_file(const std::string& path) {
  auto image = ImageFile::open(path);
  return image->read(0, image->size());
}

// The template's bytes on a disk in memory.
std::shared_ptr<MemoryDisk> template_disk(const char* path = kDefaultTemplate) {
  const ByteVector bytes = read_file(path);
  auto disk = std::make_shared<MemoryDisk>(bytes.size());
  disk->write(0, bytes);
  return disk;
}

ByteVector bytes_of(std::string_view text) { return ByteVector(as_bytes(text).begin(), as_bytes(text).end()); }

const Guid kVendor = Guid::parse("11111111-2222-3333-4444-555555555555");

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / fmt::format("nvram-test-{}-{}", ::getpid(), counter_++);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::vector<Record> copies(const Store& store, std::u16string_view name) {
  std::vector<Record> out;
  for (const Record& r : store.records())
    if (r.variable.name == name) out.push_back(r);
  return out;
}

}  // namespace

TEST(NvramLayout, DebianTemplatesDecodeAsMeasured) {
  auto store4 = Store::on_device(template_disk());
  const StoreLayout& l = store4->layout();
  EXPECT_EQ(l.fv_length, 0x84000u);
  EXPECT_EQ(l.fv_header_length, 0x48u);
  EXPECT_EQ(l.store_offset, 0x48u);
  EXPECT_EQ(l.store_size, 0x3ffb8u);
  EXPECT_EQ(l.store_end(), 0x40000u);
  EXPECT_TRUE(l.authenticated);
  EXPECT_EQ(l.variables_offset, 0x64u);
  EXPECT_EQ(l.variables_end, 0x64u);
  ASSERT_EQ(l.block_map.size(), 1u);
  EXPECT_EQ(l.block_map[0], std::make_pair(132u, 0x1000u));
  EXPECT_TRUE(store4->records().empty());
  EXPECT_EQ(store4->free_bytes(), 0x3ffb8u - 28 - kHardwareErrorReserve);

  auto store2 = Store::on_device(template_disk(kTemplate2M));
  EXPECT_EQ(store2->layout().store_end(), 0xe000u);
  EXPECT_EQ(store2->layout().fv_length, 0x20000u);
}

TEST(NvramStore, SetGetReplaceDeleteFollowEdk2States) {
  auto disk = template_disk();
  auto store = Store::on_device(disk);
  const ByteVector before = disk->read(0, disk->size());
  store->set(u"Test", kVendor, bytes_of("one"));
  auto v = store->get(u"Test", kVendor);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->data, bytes_of("one"));
  EXPECT_EQ(v->attributes, kDefaultAttributes);
  // Only the record's bytes changed; the rest of the file is as it was.
  const ByteVector after = disk->read(0, disk->size());
  const auto first_change = std::mismatch(before.begin(), before.end(), after.begin()).first - before.begin();
  EXPECT_EQ(first_change, 0x64);
  // 60-byte header, "Test" and its NUL (10 bytes), 3 bytes of data.
  EXPECT_TRUE(std::equal(before.begin() + 0x64 + 73, before.end(), after.begin() + 0x64 + 73));

  store->set(u"Test", kVendor, bytes_of("two!"));
  auto both = copies(*store, u"Test");
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].state, 0x3C);
  EXPECT_EQ(both[0].kind, RecordState::deleted);
  EXPECT_EQ(both[1].state, 0x3F);
  EXPECT_TRUE(both[1].live);
  EXPECT_EQ(store->get(u"Test", kVendor)->data, bytes_of("two!"));
  // The same value again writes nothing.
  const ByteVector stable = disk->read(0, disk->size());
  store->set(u"Test", kVendor, bytes_of("two!"));
  EXPECT_EQ(disk->read(0, disk->size()), stable);

  EXPECT_TRUE(store->remove(u"Test", kVendor));
  EXPECT_FALSE(store->get(u"Test", kVendor));
  EXPECT_FALSE(store->remove(u"Test", kVendor));
  // Another open of the same bytes reads the same.
  EXPECT_FALSE(Store::on_device(disk)->get(u"Test", kVendor));
}

TEST(NvramStore, TransitionCopyIsLiveAloneAndLosesToAnAddedOne) {
  auto disk = template_disk();
  auto store = Store::on_device(disk);
  store->set(u"V", kVendor, bytes_of("old"));
  store->set(u"V", kVendor, bytes_of("new"));
  auto both = copies(*store, u"V");
  // Old copy back to "in deleted transition": the new added copy still wins.
  disk->write(both[0].offset + 2, ByteVector{std::byte{0x3E}});
  auto reread = Store::on_device(disk);
  EXPECT_EQ(reread->get(u"V", kVendor)->data, bytes_of("new"));
  // New copy only header-valid: the transition copy is live.
  disk->write(both[1].offset + 2, ByteVector{std::byte{0x7F}});
  reread = Store::on_device(disk);
  EXPECT_EQ(reread->get(u"V", kVendor)->data, bytes_of("old"));
  EXPECT_EQ(reread->variables().size(), 1u);
  // A set now marks the transition copy deleted and adds a new one.
  reread->set(u"V", kVendor, bytes_of("third"));
  int live = 0;
  for (const Record& r : reread->records()) live += r.live;
  EXPECT_EQ(live, 1);
  EXPECT_EQ(reread->get(u"V", kVendor)->data, bytes_of("third"));
}

// EDK2's own writes never leave two added copies of a variable, or several in deleted transition;
// a store another writer made may. The first added copy is live, and a set or a deletion must not
// let any other copy surface in its place.
TEST(NvramStore, SetAndDeleteLeaveNoOtherCopyToFallBackTo) {
  // Three copies of V: "one" and "two" deleted by the sets, "three" added.
  auto made = template_disk();
  auto store = Store::on_device(made);
  for (const char* value : {"one", "two", "three"}) store->set(u"V", kVendor, bytes_of(value));
  const auto three = copies(*store, u"V");
  ASSERT_EQ(three.size(), 3u);
  const ByteVector start = made->read(0, made->size());
  auto with_states = [&](std::uint8_t first, std::uint8_t second) {
    auto disk = std::make_shared<MemoryDisk>(start.size());
    disk->write(0, start);
    disk->write(three[0].offset + 2, ByteVector{std::byte{first}});
    disk->write(three[1].offset + 2, ByteVector{std::byte{second}});
    return disk;
  };
  auto live_copies = [](const Store& s) {
    int live = 0;
    for (const Record& r : s.records()) live += r.live && r.variable.name == u"V";
    return live;
  };
  // Every copy added (the first is live), or two older copies in transition beside the added one.
  for (const auto& [first, second] : {std::pair{0x3F, 0x3F}, std::pair{0x3E, 0x3E}, std::pair{0x3E, 0x3F}}) {
    const std::string states = fmt::format("states {:#x} {:#x} 0x3f", first, second);
    auto disk = with_states(std::uint8_t(first), std::uint8_t(second));
    EXPECT_EQ(Store::on_device(disk)->get(u"V", kVendor)->data, bytes_of(first == 0x3F ? "one" : second == 0x3F ? "two" : "three"))
        << states;
    EXPECT_TRUE(Store::on_device(disk)->remove(u"V", kVendor)) << states;
    EXPECT_FALSE(Store::on_device(disk)->get(u"V", kVendor)) << states;

    disk = with_states(std::uint8_t(first), std::uint8_t(second));
    Store::on_device(disk)->set(u"V", kVendor, bytes_of("four"));
    auto after = Store::on_device(disk);
    EXPECT_EQ(after->get(u"V", kVendor)->data, bytes_of("four")) << states;
    EXPECT_EQ(live_copies(*after), 1) << states;

    // A power cut at any write of the set leaves the old value or the new one, in one live copy.
    const ByteVector old_value = Store::on_device(with_states(std::uint8_t(first), std::uint8_t(second)))->get(u"V", kVendor)->data;
    for (std::uint64_t n = 0; n < 12; ++n) {
      auto faulty = std::make_shared<FaultyDisk>(with_states(std::uint8_t(first), std::uint8_t(second)));
      faulty->cut_power_after(n);
      Store::on_device(faulty)->set(u"V", kVendor, bytes_of("four"));
      auto cut = Store::on_device(faulty->inner());
      const auto value = cut->get(u"V", kVendor);
      ASSERT_TRUE(value) << states << ", power cut after " << n;
      EXPECT_TRUE(value->data == old_value || value->data == bytes_of("four")) << states << ", power cut after " << n;
      EXPECT_EQ(live_copies(*cut), 1) << states << ", power cut after " << n;
    }
  }
  // Only copies in transition: the last is live; a deletion leaves none.
  auto disk = with_states(0x3E, 0x3E);
  disk->write(three[2].offset + 2, ByteVector{std::byte{0x3E}});
  EXPECT_EQ(Store::on_device(disk)->get(u"V", kVendor)->data, bytes_of("three"));
  // A reclaim keeps the copy that is read (it kept the first in transition: "one").
  {
    auto read = Store::on_device(disk);
    auto image = codec::reclaimed_image(read->image(), read->layout(), read->records(), {}, {});
    ASSERT_TRUE(image);
    auto reclaimed = std::make_shared<MemoryDisk>(image->size());
    reclaimed->write(0, *image);
    EXPECT_EQ(Store::on_device(reclaimed)->get(u"V", kVendor)->data, bytes_of("three"));
    EXPECT_EQ(live_copies(*Store::on_device(reclaimed)), 1);
  }
  EXPECT_TRUE(Store::on_device(disk)->remove(u"V", kVendor));
  EXPECT_EQ(live_copies(*Store::on_device(disk)), 0);
}

TEST(NvramStore, PowerCutAtAnyWriteLeavesExactlyOneLiveCopy) {
  auto base = template_disk();
  Store::on_device(base)->set(u"Keep", kVendor, bytes_of("kept"));
  Store::on_device(base)->set(u"V", kVendor, bytes_of("old value"));
  const ByteVector start = base->read(0, base->size());
  for (std::uint64_t n = 0; n < 12; ++n) {
    auto copy = std::make_shared<MemoryDisk>(start.size());
    copy->write(0, start);
    auto faulty = std::make_shared<FaultyDisk>(copy);
    faulty->cut_power_after(n);
    Store::on_device(faulty)->set(u"V", kVendor, bytes_of("a new value, longer"));
    auto after = Store::on_device(copy);
    int live = 0;
    for (const Record& r : after->records()) live += r.live && r.variable.name == u"V";
    EXPECT_EQ(live, 1) << "power cut after " << n << " writes";
    const auto v = after->get(u"V", kVendor);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->data == bytes_of("old value") || v->data == bytes_of("a new value, longer"));
    EXPECT_EQ(after->get(u"Keep", kVendor)->data, bytes_of("kept"));
  }
}

TEST(NvramStore, ReclaimReplacesTheFileAndKeepsLiveVariables) {
  TempDir dir;
  const std::string path = dir.file("vars.fd");
  auto store = Store::create(path, kTemplate2M);
  const ByteVector value(2000, std::byte{0x5A});
  store->set(u"Keep", kVendor, bytes_of("kept"));
  std::uint64_t rounds = 0;
  const ByteVector first = store->image();
  const ByteVector outside(first.begin() + 0xe000, first.end());
  // Replacing one variable again and again fills the store with deleted copies until a reclaim.
  for (; rounds < 60; ++rounds) {
    ByteVector v = value;
    v[0] = std::byte(rounds);
    store->set(u"Big", kVendor, v);
  }
  EXPECT_LT(store->reclaimable_bytes(), 30u * 2100u);
  auto reread = Store::open(path);
  EXPECT_EQ(reread->get(u"Keep", kVendor)->data, bytes_of("kept"));
  EXPECT_EQ(reread->get(u"Big", kVendor)->data[0], std::byte(59));
  // Outside the store region (event log, FTW areas) nothing changed.
  const ByteVector image = reread->image();
  EXPECT_TRUE(std::equal(outside.begin(), outside.end(), image.begin() + 0xe000));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  store->reclaim();
  EXPECT_EQ(Store::open(path)->reclaimable_bytes(), 0u);
}

TEST(NvramStore, TooBigEvenAfterReclaimWritesNothing) {
  TempDir dir;
  const std::string path = dir.file("vars.fd");
  auto store = Store::create(path, kTemplate2M);
  const ByteVector before = read_file(path);
  EXPECT_THROW(store->set(u"Huge", kVendor, ByteVector(0xe000, std::byte{1})), UsageError);
  EXPECT_EQ(read_file(path), before);
}

TEST(NvramStore, StoreOnADeviceRefusesAReclaimAndWritesNothing) {
  auto disk = template_disk(kTemplate2M);
  auto store = Store::on_device(disk);
  const ByteVector value(8000, std::byte{7});
  for (int i = 0; i < 6; ++i) store->set(u"Big", kVendor, value), store->remove(u"Big", kVendor);
  const ByteVector before = disk->read(0, disk->size());
  EXPECT_THROW(store->set(u"Big", kVendor, value), UsageError);
  EXPECT_EQ(disk->read(0, disk->size()), before);
}

TEST(NvramStore, ReadOnlyStoreRefusesWrites) {
  auto store = Store::open(kDefaultTemplate);
  EXPECT_THROW(store->set(u"X", kVendor, bytes_of("x")), UsageError);
}

TEST(NvramStore, BadAttributesAndNamesAreUsageErrors) {
  auto store = Store::on_device(template_disk());
  EXPECT_THROW(store->set(u"X", kVendor, bytes_of("x"), kBootServiceAccess), UsageError);
  EXPECT_THROW(store->set(u"X", kVendor, bytes_of("x"), kDefaultAttributes | kTimeBasedAuthenticatedWriteAccess), UsageError);
  EXPECT_THROW(store->set(u"X", kVendor, {}), UsageError);
  EXPECT_THROW(store->set(std::u16string(u"A\0B", 3), kVendor, bytes_of("x")), UsageError);
  EXPECT_THROW(store->set(u"", kVendor, bytes_of("x")), UsageError);
}

namespace {

// A FormatError whose offset is `offset`.
template <typename F>
void expect_format_error_at(F f, std::uint64_t offset) {
  try {
    f();
    ADD_FAILURE() << "no FormatError";
  } catch (const FormatError& e) {
    ASSERT_TRUE(e.offset()) << e.what();
    EXPECT_EQ(*e.offset(), offset) << e.what();
  }
}

std::shared_ptr<MemoryDisk> with_one_variable() {
  auto disk = template_disk(kTemplate2M);
  Store::on_device(disk)->set(u"Name", kVendor, bytes_of("data"));
  return disk;
}

}  // namespace

TEST(NvramDecode, DamageIsAFormatErrorNamingTheOffset) {
  {
    auto disk = template_disk();
    disk->write(0x32, ByteVector{std::byte{0}, std::byte{0}});  // checksum
    expect_format_error_at([&] { Store::on_device(disk); }, 0x32);
  }
  {
    auto disk = template_disk();
    disk->write(0x28, bytes_of("_FVX"));
    expect_format_error_at([&] { Store::on_device(disk); }, 0x28);
  }
  {
    auto disk = std::make_shared<MemoryDisk>(512);
    const ByteVector whole = read_file(kTemplate2M);
    disk->write(0, ByteSpan(whole).first(512));
    expect_format_error_at([&] { Store::on_device(disk); }, 0x20);  // FvLength past the 512 bytes
  }
  {
    auto disk = with_one_variable();
    ByteVector size(4);
    store_le<std::uint32_t>(size, 0, 0xFFFFFF00);  // DataSize
    disk->write(0x64 + 40, size);
    expect_format_error_at([&] { Store::on_device(disk); }, 0x64 + 36);
  }
  {
    auto disk = with_one_variable();
    ByteVector size(4);
    store_le<std::uint32_t>(size, 0, 9);  // odd NameSize
    disk->write(0x64 + 36, size);
    expect_format_error_at([&] { Store::on_device(disk); }, 0x64 + 36);
  }
  {
    auto disk = template_disk(kTemplate2M);
    // A StartId 2 bytes before the store end: its header runs past it.
    disk->write(0xe000 - 60 + 8, ByteVector{std::byte{0xAA}, std::byte{0x55}});
    // Nothing before it: the walk never reaches it, so the store reads (its tail is not free).
    auto store = Store::on_device(disk);
    EXPECT_EQ(store->free_bytes(), 0u);
  }
}

TEST(NvramDecode, AHeaderCutShortIsSkippedAsEdk2Does) {
  auto disk = template_disk(kTemplate2M);
  auto store = Store::on_device(disk);
  store->set(u"A", kVendor, bytes_of("a"));
  const std::uint64_t next = store->layout().variables_end;
  // Header of a new record written, State still 0xFF, name and data not yet.
  Variable v;
  v.name = u"B";
  v.vendor = kVendor;
  v.data = bytes_of("b");
  const ByteVector record = codec::encode_record(v, true);
  disk->write(next, ByteSpan(record).first(60));
  auto reread = Store::on_device(disk);
  ASSERT_EQ(reread->records().size(), 2u);
  EXPECT_EQ(reread->records()[1].kind, RecordState::unwritten);
  EXPECT_FALSE(reread->get(u"B", kVendor));
  EXPECT_EQ(reread->variables().size(), 1u);
  // Torn the other way at a sector boundary: the StartId lost, the rest of the header there. The
  // walk ends before it, and the space after the records is no longer free (a reclaim comes first).
  disk->write(next, ByteVector{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}});
  reread = Store::on_device(disk);
  EXPECT_EQ(reread->records().size(), 1u);
  EXPECT_EQ(reread->layout().variables_end, next);
  EXPECT_EQ(reread->free_bytes(), 0u);
  EXPECT_THROW(reread->set(u"C", kVendor, bytes_of("c")), UsageError);  // on a device: no reclaim
}

// ---- device paths -----------------------------------------------------------------------------

TEST(NvramDevicePath, SpecExampleRoundTrips) {
  const std::string text = R"(HD(1,GPT,476688C5-8EBF-47D2-80E7-CF9D065EDB81,0x22,0x66000)/\EFI\Microsoft\WINNT50\ia64ldr.efi)";
  const DevicePath path = DevicePath::parse(text);
  ASSERT_EQ(path.nodes.size(), 2u);
  const auto hd = path.hard_drive();
  ASSERT_TRUE(hd);
  EXPECT_EQ(hd->partition_number, 1u);
  EXPECT_EQ(hd->start_lba, 0x22u);
  EXPECT_EQ(hd->size_lba, 0x66000u);
  EXPECT_EQ(hd->partition_guid()->to_string(), "476688c5-8ebf-47d2-80e7-cf9d065edb81");
  EXPECT_EQ(*path.file_path(), u"\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi");
  EXPECT_EQ(path.to_text(), text);
  const ByteVector bytes = path.encode();
  EXPECT_EQ(bytes.size(), 42u + 4 + 2 * 35 + 4);
  EXPECT_EQ(DevicePath::decode(bytes), path);
}

TEST(NvramDevicePath, CommonNodesPrintAndParse) {
  for (const char* text : {"PciRoot(0x0)/Pci(0x2,0x0)", "PcieRoot(0x1)/Pci(0x1f,0x2)/Sata(0x0,0xffff,0x0)",
                           "PciRoot(0x0)/Pci(0x3,0x0)/Scsi(0x1,0x0)", "Acpi(PNP0C0A,0x1)", "Serial(0x0)", "Acpi(0x12345678,0x2)",
                           "PciRoot(0x0)/Pci(0x4,0x0)/NVMe(0x1,01-02-03-04-05-06-07-08)", "USB(0x2,0x0)",
                           "VenHw(93E34C7E-B50E-11DF-9223-2443DFD72085,00)", "VenMedia(11111111-2222-3333-4444-555555555555)",
                           "CDROM(0x1,0x10,0x20)", "FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)",
                           "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(462CAA21-7614-4503-836E-8AB6F4662331)",
                           "MAC(525400123456,0x1)", "Uri(http://example.com/boot/x.efi)",
                           "HD(2,MBR,0x12345678,0x800,0x1000)", "Path(9,3,ABCD)", "Path(3,99)", "\\EFI\\BOOT\\BOOTX64.EFI",
                           "IPv4(192.168.1.2,TCP,Static,10.0.0.1,10.0.0.254,255.255.255.0)",
                           "PciRoot(0x0)/Pci(0x2,0x0),PciRoot(0x1)"}) {
    const DevicePath path = DevicePath::parse(text);
    EXPECT_EQ(path.to_text(), text);
    EXPECT_EQ(DevicePath::decode(path.encode()), path) << text;
  }
}

TEST(NvramDevicePath, NodesWithoutAFaithfulStandardFormPrintGenerically) {
  // A file name with a '/' cannot be its own text: it prints as Path(4,4,...) and parses back.
  const DevicePath odd({file_path_node(u"a/b")});
  EXPECT_EQ(odd.to_text().rfind("Path(4,4,", 0), 0u);
  EXPECT_EQ(DevicePath::parse(odd.to_text()), odd);
  // A Hard Drive node of GPT format with an MBR signature type.
  HardDrive hd = HardDrive::gpt(1, 2, 3, kVendor);
  hd.partition_format = 1;
  const DevicePath mixed({hd.node()});
  EXPECT_EQ(DevicePath::parse(mixed.to_text()), mixed);
  // Nodes built by hand that do not fit their kind still print.
  const DevicePath broken({{kMediaPath, kMediaHardDrive, ByteVector(3)}, {kMediaPath, kMediaFilePath, ByteVector(3)}});
  EXPECT_EQ(broken.to_text(), "Path(4,1,000000)/Path(4,4,000000)");
}

TEST(NvramDevicePath, BadBytesAreFormatErrors) {
  const ByteVector no_end{std::byte{4}, std::byte{4}, std::byte{6}, std::byte{0}, std::byte{'a'}, std::byte{0}};
  expect_format_error_at([&] { DevicePath::decode(no_end, 100); }, 106);
  const ByteVector short_node{std::byte{1}, std::byte{1}, std::byte{2}, std::byte{0}};
  expect_format_error_at([&] { DevicePath::decode(short_node, 0); }, 2);
  const ByteVector past{std::byte{1}, std::byte{1}, std::byte{40}, std::byte{0}, std::byte{0}, std::byte{0}};
  expect_format_error_at([&] { DevicePath::decode(past, 0); }, 2);
  ByteVector bad_hd = HardDrive::gpt(1, 2, 3, kVendor).node().data;
  bad_hd.pop_back();
  EXPECT_THROW(DevicePath::decode(DevicePath({{kMediaPath, kMediaHardDrive, bad_hd}}).encode()), FormatError);
  EXPECT_THROW(DevicePath::decode(DevicePath({{kMediaPath, kMediaFilePath, ByteVector(3)}}).encode()), FormatError);
}

TEST(NvramDevicePath, BadTextIsAUsageError) {
  EXPECT_THROW(DevicePath::parse("HD(1,GPT,not-a-guid,0x1,0x2)"), UsageError);
  EXPECT_THROW(DevicePath::parse("Pci(0x1)"), UsageError);
  EXPECT_THROW(DevicePath::parse("Pci(0x100,0x0)"), UsageError);
  EXPECT_THROW(DevicePath::parse("Path(127,255)"), UsageError);
  EXPECT_THROW(DevicePath::parse("Path(1,1,ABC)"), UsageError);
}

// ---- load options, Windows' options, global variables -----------------------------------------

TEST(NvramLoadOption, RoundTripsWithWindowsOptions) {
  LoadOption option;
  option.description = u"Windows Server 2003, Enterprise";
  option.file_paths.push_back(DevicePath::parse(R"(HD(1,GPT,476688C5-8EBF-47D2-80E7-CF9D065EDB81,0x22,0x66000)/\EFI\Microsoft\WINNT50\ia64ldr.efi)"));
  const WindowsOsOptions windows =
      WindowsOsOptions::efi(u"/fastdetect", DevicePath::parse(R"(HD(2,GPT,11111111-2222-3333-4444-555555555555,0x66022,0x1000)/\WINDOWS)"));
  option.optional_data = windows.encode();
  const ByteVector bytes = option.encode();
  const LoadOption back = LoadOption::decode(bytes);
  EXPECT_EQ(back, option);
  EXPECT_TRUE(back.active());
  BootEntry entry{3, kDefaultAttributes, back};
  ASSERT_TRUE(entry.windows_options());
  EXPECT_EQ(entry.windows_options()->os_load_options, u"/fastdetect");
  EXPECT_EQ(entry.windows_options()->os_load_path().to_text(),
            R"(HD(2,GPT,11111111-2222-3333-4444-555555555555,0x66022,0x1000)/\WINDOWS)");
  // The FILE_PATH starts on a 4-byte boundary: 20 + 24 bytes of "/fastdetect\0" = 44.
  EXPECT_EQ(load_le<std::uint32_t>(option.optional_data, 16), 44u);
  EXPECT_EQ(load_le<std::uint32_t>(option.optional_data, 12), option.optional_data.size());
}

TEST(NvramLoadOption, BadBytesAreFormatErrors) {
  LoadOption option;
  option.description = u"x";
  option.file_paths.push_back(DevicePath::parse("\\a.efi"));
  ByteVector bytes = option.encode();
  expect_format_error_at([&] { LoadOption::decode(ByteSpan(bytes).first(5), 1000); }, 1000);
  ByteVector longer = bytes;
  store_le<std::uint16_t>(longer, 4, 500);
  expect_format_error_at([&] { LoadOption::decode(longer, 1000); }, 1004);
  ByteVector odd(7, std::byte{0x41});  // a description of one unit and an odd byte, no NUL
  EXPECT_THROW(LoadOption::decode(odd), FormatError);
  ByteVector windows = WindowsOsOptions::efi(u"", DevicePath::parse("\\WINDOWS")).encode();
  store_le<std::uint32_t>(windows, 12, 4000);
  expect_format_error_at([&] { WindowsOsOptions::decode(windows, 50); }, 62);
}

TEST(NvramGlobal, BootNamesAndLists) {
  EXPECT_EQ(boot_variable_name(0xA), u"Boot000A");
  EXPECT_EQ(boot_number_of(u"Boot00FF"), 0xFF);
  EXPECT_FALSE(boot_number_of(u"Boot00ff"));
  EXPECT_FALSE(boot_number_of(u"BootOrder"));
  EXPECT_EQ(decode_u16_list(encode_u16_list({1, 0x1234}), "x"), (std::vector<std::uint16_t>{1, 0x1234}));
  EXPECT_THROW(decode_u16_list(ByteVector(3), "BootOrder"), FormatError);

  auto store = Store::on_device(template_disk());
  LoadOption option;
  option.description = u"bootmirror";
  option.file_paths.push_back(DevicePath::parse(R"(HD(1,GPT,476688C5-8EBF-47D2-80E7-CF9D065EDB81,0x800,0x14000)/\EFI\BOOT\BOOTX64.EFI)"));
  const auto number = store->free_boot_number();
  store->set_boot_entry(number, option);
  store->set_boot_order({number, 7});
  store->set_timeout(5);
  store->set_boot_next(number);
  ASSERT_EQ(store->boot_entries().size(), 1u);
  EXPECT_EQ(store->boot_entries()[0].option, option);
  EXPECT_EQ(store->boot_order(), (std::vector<std::uint16_t>{number, 7}));
  EXPECT_EQ(store->timeout(), 5);
  EXPECT_EQ(store->boot_next(), number);
  EXPECT_FALSE(store->boot_current());
  store->set_boot_next(std::nullopt);
  EXPECT_FALSE(store->boot_next());
  EXPECT_EQ(store->free_boot_number(), 1);
  EXPECT_TRUE(store->remove_boot_entry(number));
  EXPECT_TRUE(store->boot_entries().empty());
}
