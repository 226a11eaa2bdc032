#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "bootmirror/extents.h"
#include "bootmirror/io.h"

using namespace bootmirror;
namespace fs = std::filesystem;

namespace {

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fs::path("bootmirror-io-" + std::to_string(::getpid()) + "-" +
                                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

ByteVector pattern(std::size_t n, unsigned seed) {
  ByteVector bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = std::byte((i * 31 + seed) & 0xFF);
  return bytes;
}

}  // namespace

using ImageFileTest = TempDir;

TEST_F(ImageFileTest, CreatesSparseImages) {
  auto image = ImageFile::create(path("a.img"), 10ull << 30);
  EXPECT_EQ(image->size(), 10ull << 30);
  EXPECT_EQ(image->sector_size(), 512u);
  EXPECT_TRUE(image->allocated_extents().empty());
  image->write(1 << 20, pattern(8192, 1));
  auto extents = image->allocated_extents();
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_LE(extents[0].offset, 1u << 20);
  EXPECT_GE(extents[0].offset + extents[0].length, (1u << 20) + 8192);
  EXPECT_LT(fs::file_size(path("a.img")) / 1, (10ull << 30) + 1);
}

TEST_F(ImageFileTest, ReadsBackWhatWasWritten) {
  {
    auto image = ImageFile::create(path("b.img"), 1 << 20, 4096);
    image->write(4096 * 3 + 7, pattern(10000, 2));
    image->flush();
  }
  auto image = ImageFile::open(path("b.img"), false, 4096);
  EXPECT_EQ(image->sector_size(), 4096u);
  EXPECT_FALSE(image->writable());
  EXPECT_EQ(image->read(4096 * 3 + 7, 10000), pattern(10000, 2));
  EXPECT_THROW(image->write(0, pattern(1, 0)), UsageError);
}

TEST_F(ImageFileTest, CopiesIntoAnotherImageInTheKernel) {
  auto a = ImageFile::create(path("from.img"), 8 << 20), b = ImageFile::create(path("to.img"), 8 << 20);
  a->write(1 << 20, pattern(3 << 20, 3));
  ASSERT_TRUE(a->copy_to(*b, 1 << 20, 4 << 20, 3 << 20));
  EXPECT_EQ(b->read(4 << 20, 3 << 20), pattern(3 << 20, 3));
  EXPECT_EQ(b->read(0, 4 << 20), ByteVector(4 << 20));
  // Out of either image, or into one open read-only: refused, nothing written.
  EXPECT_THROW(a->copy_to(*b, 7 << 20, 0, 2 << 20), UsageError);
  EXPECT_THROW(a->copy_to(*b, 0, 7 << 20, 2 << 20), UsageError);
  auto read_only = ImageFile::open(path("to.img"), false);
  EXPECT_THROW(a->copy_to(*read_only, 1 << 20, 0, 4096), UsageError);
  EXPECT_EQ(b->read(0, 4096), ByteVector(4096));
}

TEST_F(ImageFileTest, RefusesBadArguments) {
  EXPECT_THROW(ImageFile::create(path("c.img"), 0), UsageError);
  EXPECT_THROW(ImageFile::create(path("c.img"), 1000), UsageError);  // not a whole sector
  EXPECT_THROW(ImageFile::create(path("c.img"), 4096, 1024), UsageError);
  EXPECT_THROW(ImageFile::create("/dev/bootmirror-test", 4096), UsageError);
  EXPECT_FALSE(fs::exists(path("c.img")));
  ImageFile::create(path("d.img"), 4096);
  try {
    ImageFile::create(path("d.img"), 4096);
    FAIL() << "overwrote an existing image";
  } catch (const OsError& e) {
    EXPECT_EQ(e.error_number(), EEXIST);
    EXPECT_EQ(e.path(), path("d.img"));
  }
  try {
    ImageFile::open(path("missing.img"));
    FAIL();
  } catch (const OsError& e) {
    EXPECT_EQ(e.error_number(), ENOENT);
  }
  EXPECT_THROW(ImageFile::open(dir_.string()), UsageError);  // a folder is not an image
}

TEST_F(ImageFileTest, RefusesToWriteBlockDevicesUnlessAllowed) {
  // /dev/null is a character device: never an image, writable or not.
  EXPECT_THROW(ImageFile::open("/dev/null", true), UsageError);
  EXPECT_THROW(ImageFile::open("/dev/null", true, 512, true), UsageError);
}

TEST_F(ImageFileTest, OutOfRangeAccessIsAUsageErrorAndWritesNothing) {
  auto image = ImageFile::create(path("e.img"), 8192);
  EXPECT_THROW(image->read(8190, 4), UsageError);
  EXPECT_THROW(image->write(8192, pattern(1, 0)), UsageError);
  EXPECT_THROW(image->write(std::uint64_t(-1), pattern(2, 0)), UsageError);
  EXPECT_TRUE(image->allocated_extents().empty());
}

TEST(MemoryDisk, ReportsNonZeroSectorsAsAllocated) {
  MemoryDisk disk(1 << 20);
  EXPECT_TRUE(disk.allocated_extents().empty());
  disk.write(1024, pattern(600, 3));
  auto extents = disk.allocated_extents();
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0], (Extent{1024, 1024}));
  EXPECT_THROW(MemoryDisk(1000), UsageError);
}

TEST(Slice, IsAWindowOfItsParent) {
  auto disk = std::make_shared<MemoryDisk>(1 << 20);
  Slice slice(disk, 65536, 4096);
  slice.write(10, pattern(100, 4));
  EXPECT_EQ(disk->read(65536 + 10, 100), pattern(100, 4));
  EXPECT_THROW(slice.write(4000, pattern(100, 4)), UsageError);
  EXPECT_THROW(Slice(disk, (1 << 20) - 10, 20), UsageError);
  auto extents = slice.allocated_extents();
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0].offset, 0u);
}

TEST(FaultyDisk, InjectsErrorsOnRanges) {
  auto disk = std::make_shared<MemoryDisk>(1 << 20);
  FaultyDisk faulty(disk);
  faulty.fail_range(4096, 512, FaultyDisk::Access::read);
  EXPECT_THROW(faulty.read(4000, 200), OsError);
  EXPECT_NO_THROW(faulty.read(0, 4096));
  EXPECT_NO_THROW(faulty.write(4096, pattern(512, 5)));
  faulty.fail_range(0, 1, FaultyDisk::Access::write);
  EXPECT_THROW(faulty.write(0, pattern(4, 5)), OsError);
  faulty.clear_faults();
  EXPECT_NO_THROW(faulty.read(4096, 512));
}

TEST(FaultyDisk, PowerCutDropsLaterWritesSilently) {
  auto disk = std::make_shared<MemoryDisk>(1 << 20);
  FaultyDisk faulty(disk);
  faulty.cut_power_after(2);
  for (int i = 0; i < 5; ++i) faulty.write(std::uint64_t(i) * 512, pattern(512, unsigned(i) + 1));
  EXPECT_TRUE(faulty.power_lost());
  EXPECT_EQ(faulty.writes_seen(), 5u);
  EXPECT_EQ(faulty.writes_applied(), 2u);
  EXPECT_EQ(disk->read(512, 512), pattern(512, 2));
  EXPECT_EQ(disk->read(1024, 512), ByteVector(512));
  EXPECT_NO_THROW(faulty.flush());
}

TEST(FaultyDisk, MissingDiskFailsEveryAccess) {
  auto disk = std::make_shared<MemoryDisk>(1 << 20);
  FaultyDisk faulty(disk);
  faulty.set_missing(true);
  try {
    faulty.read(0, 1);
    FAIL();
  } catch (const OsError& e) {
    EXPECT_EQ(e.error_number(), ENODEV);
  }
  EXPECT_THROW(faulty.write(0, pattern(1, 0)), OsError);
  EXPECT_THROW(faulty.flush(), OsError);
  faulty.set_missing(false);
  EXPECT_NO_THROW(faulty.read(0, 1));
}

TEST(Extents, CoalesceJoinsBothListsInWholeGrainsAndClosesShortGaps) {
  const std::vector<Extent> a{{0, 100}, {8192, 512}, {100000, 4096}};
  const std::vector<Extent> b{{600, 10}, {9000, 100}};
  // Widened to 512-byte grains: [0,512) [512,1024) touch; 8192..9216 and 9000..9216 overlap;
  // 100000 rounds down to 99840. Gaps under 1024 bytes close, longer ones stay.
  EXPECT_EQ(coalesce_extents(a, b, 512, 0), (std::vector<Extent>{{0, 1024}, {8192, 1024}, {99840, 4608}}));
  EXPECT_EQ(coalesce_extents(a, b, 512, 8192), (std::vector<Extent>{{0, 9216}, {99840, 4608}}));
  EXPECT_TRUE(coalesce_extents({}, {}, 512, 0).empty());
}

TEST(OverlayDisk, ChangedExtentsAreWholeSectorsThatDifferFromTheBase) {
  auto base = std::make_shared<MemoryDisk>(1 << 20);
  OverlayDisk overlay(base);
  overlay.write(700, ByteVector(10, std::byte{1}));           // inside sector 1
  overlay.write(1000, ByteVector(100, std::byte{2}));          // sectors 1 and 2: merged with the above
  overlay.write(70000, ByteVector(512, std::byte{0}));         // the base's own bytes: no change
  overlay.write((1 << 20) - 1, ByteVector(1, std::byte{3}));   // the last sector
  const auto changed = overlay.changed_extents(512);
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_EQ(changed[0].offset, 512u);
  EXPECT_EQ(changed[0].length, 1024u);
  EXPECT_EQ(changed[1].offset, (1u << 20) - 512);
  EXPECT_EQ(changed[1].length, 512u);
  EXPECT_TRUE(base->read(0, 2048) == ByteVector(2048));  // the base is untouched
}

TEST(PageCachedReads, ServesSmallReadsFromOnePageReadEach) {
  auto disk = std::make_shared<MemoryDisk>(3 * 4096 + 512);
  for (std::uint64_t at = 0; at < disk->size(); at += 512) disk->write(at, pattern(512, unsigned(at / 512) + 1));
  auto faulty = std::make_shared<FaultyDisk>(disk);
  PageCachedReads cached(*faulty);
  EXPECT_EQ(cached.read(512, 512), disk->read(512, 512));
  // The page is kept: its other sectors are served even once the base fails them.
  faulty->fail_range(0, 4096, FaultyDisk::Access::read);
  EXPECT_EQ(cached.read(3584, 512), disk->read(3584, 512));
  EXPECT_EQ(cached.read(0, 100), disk->read(0, 100));
  // Across two pages, and the short last page of a disk that is not whole pages.
  faulty->clear_faults();
  EXPECT_EQ(cached.read(4000, 1000), disk->read(4000, 1000));
  EXPECT_EQ(cached.read(3 * 4096, 512), disk->read(3 * 4096, 512));
  // A page or more goes to the base as it is.
  EXPECT_EQ(cached.read(100, 8192), disk->read(100, 8192));
  EXPECT_THROW(cached.write(0, pattern(512, 9)), UsageError);
  EXPECT_THROW(cached.read(disk->size() - 100, 200), UsageError);
}

TEST(PageCachedReads, PagesPastTheKeptNumberTakeTheOldestSlotsAndReadRight) {
  auto disk = std::make_shared<MemoryDisk>(40 * 4096);
  for (std::uint64_t at = 0; at < disk->size(); at += 512) disk->write(at, pattern(512, unsigned(at / 512) + 1));
  PageCachedReads cached(*disk);
  for (int round = 0; round < 2; ++round)
    for (std::uint64_t page = 0; page < 40; ++page)
      for (std::uint64_t at : {page * 4096 + 512, page * 4096 + 3584})
        ASSERT_EQ(cached.read(at, 512), disk->read(at, 512)) << "byte " << at << ", round " << round;
}

// A view takes the page buffer of one that ended before it: it must see its own device's bytes,
// never a page the buffer held for another.
TEST(PageCachedReads, AViewAfterAnotherReadsItsOwnDevice) {
  auto a = std::make_shared<MemoryDisk>(8 * 4096), b = std::make_shared<MemoryDisk>(8 * 4096);
  for (std::uint64_t at = 0; at < a->size(); at += 512) {
    a->write(at, pattern(512, unsigned(at / 512) + 1));
    b->write(at, pattern(512, unsigned(at / 512) + 100));
  }
  for (int round = 0; round < 3; ++round) {
    auto first = std::make_unique<PageCachedReads>(*a);
    EXPECT_EQ(first->read(512, 512), a->read(512, 512));
    PageCachedReads beside(*b);  // alive with `first`: a buffer of its own
    EXPECT_EQ(beside.read(512, 512), b->read(512, 512));
    EXPECT_EQ(first->read(4096, 512), a->read(4096, 512));
    first.reset();
    PageCachedReads next(*b);
    EXPECT_EQ(next.read(512, 512), b->read(512, 512));
    EXPECT_EQ(next.read(4096 + 1024, 100), b->read(4096 + 1024, 100));
  }
}

TEST(PageCachedReads, ABadSectorFailsOnlyReadsOfItself) {
  auto disk = std::make_shared<MemoryDisk>(1 << 20);
  disk->write(4096 + 2560, pattern(512, 7));
  auto faulty = std::make_shared<FaultyDisk>(disk);
  faulty->fail_range(4096 + 1024, 512, FaultyDisk::Access::read);  // sector 10 is bad
  PageCachedReads cached(*faulty);
  EXPECT_EQ(cached.read(4096 + 2560, 512), pattern(512, 7));  // sector 13, same page: read alone
  EXPECT_THROW(cached.read(4096 + 1024, 512), OsError);
}

// A header read holds its bytes inline up to a 4 KiB sector and in a vector past it; either way
// it reads exactly the range asked for, and refuses one outside the device as read() does.
TEST(SectorRead, HoldsTheRangeAskedForInlineOrNot) {
  auto disk = std::make_shared<MemoryDisk>(64 * 1024, 4096);
  for (std::uint64_t at = 0; at < disk->size(); at += 512) disk->write(at, pattern(512, unsigned(at / 512) + 1));
  for (auto [offset, length] : {std::pair<std::uint64_t, std::size_t>{512, 512}, {4096, 4096}, {1024, 16384}, {100, 1}, {0, 0}}) {
    const SectorRead r(*disk, offset, length);
    const ByteVector want = disk->read(offset, length);
    EXPECT_TRUE(std::equal(r.span().begin(), r.span().end(), want.begin(), want.end())) << offset << "+" << length;
  }
  EXPECT_THROW(SectorRead(*disk, disk->size() - 512, 1024), UsageError);
  auto faulty = std::make_shared<FaultyDisk>(disk);
  faulty->fail_range(8192, 512, FaultyDisk::Access::read);
  EXPECT_THROW(SectorRead(*faulty, 8192, 512), OsError);
}

TEST_F(ImageFileTest, OpeningAFifoReadOnlyNeitherBlocksNorTakesIt) {
  const std::string fifo = path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW(ImageFile::open(fifo), UsageError);
  EXPECT_THROW(ImageFile::open(fifo, true), UsageError);
}
