#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include "bootmirror/mirror.h"

using namespace bootmirror;
using namespace bootmirror::mirror;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;

ByteVector pattern(std::size_t n, unsigned seed) {
  ByteVector bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = std::byte((i * 131 + seed * 7 + i / 4096) & 0xFF);
  return bytes;
}

// Two disks, a 4 MiB volume at 1 MiB on disk 0 and at 2 MiB on disk 1.
struct Pair {
  std::shared_ptr<MemoryDisk> a = std::make_shared<MemoryDisk>(8 * kMiB), b = std::make_shared<MemoryDisk>(8 * kMiB);
  std::shared_ptr<FaultyDisk> fa = std::make_shared<FaultyDisk>(a), fb = std::make_shared<FaultyDisk>(b);
  std::vector<PlexLayout> plexes() const {
    return {PlexLayout{"Volume1-01", false, 0, {mirror::Run{0, 1 * kMiB, 0, 4 * kMiB}}},
            PlexLayout{"Volume1-02", false, 0, {mirror::Run{1, 2 * kMiB, 0, 4 * kMiB}}}};
  }
  VolumeDevice volume() { return VolumeDevice("Volume1", 4 * kMiB, 512, {fa, fb}, plexes()); }
};

}  // namespace

TEST(PlexLayout, StripesDealChunksAcrossColumns) {
  PlexLayout p{"Volume2-01", true, 64 * 1024, {mirror::Run{0, 1000 * 512, 0, 1 * kMiB}, mirror::Run{1, 2000 * 512, 0, 1 * kMiB}}};
  EXPECT_EQ(p.locate(0, kMiB), (mirror::Run{0, 1000 * 512, 0, 64 * 1024}));
  EXPECT_EQ(p.locate(64 * 1024, kMiB), (mirror::Run{1, 2000 * 512, 64 * 1024, 64 * 1024}));
  EXPECT_EQ(p.locate(128 * 1024 + 512, 10), (mirror::Run{0, 1000 * 512 + 64 * 1024 + 512, 128 * 1024 + 512, 10}));
}

TEST(PlexLayout, ConcatenationsFollowTheirRuns) {
  PlexLayout p{"Volume3-01", false, 0, {mirror::Run{0, 4096, 0, 8192}, mirror::Run{1, 0, 8192, 8192}}};
  EXPECT_EQ(p.locate(8000, 1000), (mirror::Run{0, 4096 + 8000, 8000, 192}));
  EXPECT_EQ(p.locate(8192, 1000), (mirror::Run{1, 0, 8192, 1000}));
  EXPECT_THROW(p.locate(16384, 1), UsageError);
}

TEST(VolumeDevice, WritesReachEveryPlexAndReadsFailOver) {
  Pair disks;
  VolumeDevice v = disks.volume();
  const ByteVector data = pattern(3 * 4096, 1);
  v.write(8192, data);
  EXPECT_EQ(disks.a->read(kMiB + 8192, data.size()), data);
  EXPECT_EQ(disks.b->read(2 * kMiB + 8192, data.size()), data);
  // Disk 0 turns bad under the volume: the read is served by plex 2, and plex 1 is failed.
  disks.fa->fail_range(kMiB, 4 * kMiB, FaultyDisk::Access::read);
  EXPECT_EQ(v.read(8192, data.size()), data);
  EXPECT_EQ(v.plexes()[0].state, PlexState::failed);
  EXPECT_EQ(v.plexes()[1].state, PlexState::in_sync);
  EXPECT_TRUE(v.readable());
}

TEST(VolumeDevice, AMissingDiskLeavesItsPlexFailed) {
  Pair disks;
  VolumeDevice v("Volume1", 4 * kMiB, 512, {disks.fa, nullptr}, disks.plexes());
  EXPECT_EQ(v.plexes()[1].state, PlexState::failed);
  const ByteVector data = pattern(4096, 2);
  v.write(0, data);
  EXPECT_EQ(v.read(0, 4096), data);
}

TEST(VolumeDevice, AWriteThatNoPlexTakesFails) {
  Pair disks;
  VolumeDevice v = disks.volume();
  disks.fa->set_missing(true);
  disks.fb->set_missing(true);
  EXPECT_THROW(v.write(0, pattern(512, 3)), OsError);
  EXPECT_FALSE(v.readable());
}

TEST(VolumeDevice, RefusesRunsOutsideTheirDisksAndShortPlexes) {
  Pair disks;
  auto plexes = disks.plexes();
  plexes[1].runs[0].device_offset = 6 * kMiB;  // 6 + 4 MiB > 8 MiB
  EXPECT_THROW(VolumeDevice("V", 4 * kMiB, 512, {disks.fa, disks.fb}, plexes), UsageError);
  plexes = disks.plexes();
  plexes[0].runs[0].length = 2 * kMiB;
  EXPECT_THROW(VolumeDevice("V", 4 * kMiB, 512, {disks.fa, disks.fb}, plexes), UsageError);
}

TEST(Rebuild, CopiesThePlexAndMarksItInSync) {
  Pair disks;
  disks.a->write(kMiB, pattern(4 * kMiB, 4));
  VolumeDevice v = disks.volume();
  std::vector<std::uint64_t> checkpoints;
  RebuildOptions options;
  options.chunk_bytes = 256 * 1024;
  options.checkpoint_bytes = kMiB;
  options.checkpoint = [&](std::uint64_t at) { checkpoints.push_back(at); };
  EXPECT_TRUE(rebuild(v, 1, 0, options));
  EXPECT_EQ(disks.b->read(2 * kMiB, 4 * kMiB), pattern(4 * kMiB, 4));
  EXPECT_EQ(v.plexes()[1].state, PlexState::in_sync);
  // Every 1 MiB and at the end, made in order; one made while the previous was still being made
  // in the background may be folded into the next (CheckpointFlusher), the last never is.
  ASSERT_FALSE(checkpoints.empty());
  EXPECT_EQ(checkpoints.back(), 4 * kMiB);
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    EXPECT_EQ(checkpoints[i] % kMiB, 0u);
    if (i) EXPECT_LT(checkpoints[i - 1], checkpoints[i]);
  }
  EXPECT_TRUE(verify(v).identical());
}

TEST(Rebuild, StopsAtACheckpointAndResumesFromIt) {
  Pair disks;
  disks.a->write(kMiB, pattern(4 * kMiB, 5));
  VolumeDevice v = disks.volume();
  RebuildOptions options;
  options.chunk_bytes = 512 * 1024;
  std::uint64_t last = 0;
  options.checkpoint = [&](std::uint64_t at) { last = at; };
  options.progress = [](const Progress& p) { return p.done < 2 * kMiB; };
  EXPECT_FALSE(rebuild(v, 1, 0, options));
  EXPECT_EQ(last, 2 * kMiB);
  EXPECT_EQ(v.plexes()[1].state, PlexState::rebuilding);
  // What lies past the cursor was not copied yet.
  EXPECT_EQ(disks.b->read(2 * kMiB + 3 * kMiB, 4096), ByteVector(4096));
  options.progress = {};
  EXPECT_TRUE(rebuild(v, 1, last, options));
  EXPECT_EQ(disks.b->read(2 * kMiB, 4 * kMiB), pattern(4 * kMiB, 5));
}

TEST(Rebuild, WritesDuringTheCopyEndInIdenticalPlexes) {
  Pair disks;
  disks.a->write(kMiB, pattern(4 * kMiB, 6));
  VolumeDevice v = disks.volume();
  RebuildOptions options;
  options.chunk_bytes = 64 * 1024;
  std::atomic<bool> copying{true};
  v.start_rebuild(1, 0);
  std::vector<std::thread> writers;
  for (unsigned t = 0; t < 3; ++t)
    writers.emplace_back([&, t] {
      for (unsigned i = 0; copying; ++i) {
        const std::uint64_t at = ((i * 2654435761u + t * 40503u) % (4 * kMiB / 4096)) * 4096;
        v.write(at, pattern(4096, 10 + t + i));
      }
    });
  std::thread copier([&] {
    EXPECT_TRUE(rebuild(v, 1, 0, options));
    copying = false;
  });
  copier.join();
  for (auto& w : writers) w.join();
  EXPECT_EQ(disks.a->read(kMiB, 4 * kMiB), disks.b->read(2 * kMiB, 4 * kMiB));
}

// The compare after the copy reads both plexes back, each half of the volume on its own core: a
// copy that never reached the new plex's disk (writes dropped by a power cut) is found in either
// half, named by the first piece that differs, and the plex is not marked in sync.
TEST(Rebuild, TheCompareFindsACopyThatDidNotLandInEitherHalf) {
  for (const std::uint64_t landed : {2u, 10u}) {  // of 16 chunk writes: lost from 512 KiB, from 2.5 MiB
    Pair disks;
    disks.a->write(kMiB, pattern(4 * kMiB, 8));
    VolumeDevice v = disks.volume();
    RebuildOptions options;
    options.chunk_bytes = 256 * 1024;
    disks.fb->cut_power_after(landed);
    try {
      rebuild(v, 1, 0, options);
      ADD_FAILURE() << "a rebuild whose writes were dropped after " << landed << " chunks passed its compare";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(fmt::format("plex Volume1-02 differs from plex Volume1-01 after its rebuild, at volume bytes {}+{}",
                                                       landed * 256 * 1024, 256 * 1024)),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(v.plexes()[1].state, PlexState::rebuilding);
  }
}

TEST(Rebuild, HeldBeforeItsFirstChunkCopiesNothing) {
  Pair disks;
  disks.a->write(kMiB, pattern(kMiB, 11));
  VolumeDevice v = disks.volume();
  RebuildOptions options;
  options.progress = [](const Progress&) { return false; };
  EXPECT_FALSE(rebuild(v, 1, 0, options));
  EXPECT_EQ(v.plexes()[1].state, PlexState::rebuilding);
  EXPECT_EQ(v.plexes()[1].cursor, 0u);
  EXPECT_EQ(disks.b->read(2 * kMiB, kMiB), ByteVector(kMiB));
}

TEST(Rebuild, AReconfigurationKeepsAPlexThatStaysAndStopsTheCopyInIt) {
  Pair disks;
  disks.a->write(kMiB, pattern(4 * kMiB, 12));
  VolumeDevice v = disks.volume();
  RebuildOptions options;
  options.chunk_bytes = 512 * 1024;
  // Half way through, the plexes change under the copy: the same two, listed again with a third
  // device that no run uses (what a commit that touched another volume looks like).
  options.progress = [&](const Progress& p) {
    if (p.done == 2 * kMiB) {
      auto devices = v.devices();
      devices.push_back(nullptr);
      v.reconfigure(devices, {v.layout(0), v.layout(1)});
    }
    return true;
  };
  EXPECT_THROW(rebuild(v, 1, 0, options), Reconfigured);
  // The rebuilding plex kept its state and cursor; the copy resumes from there.
  EXPECT_EQ(v.plexes()[1].state, PlexState::rebuilding);
  EXPECT_EQ(v.plexes()[1].cursor, 2 * kMiB);
  options.progress = {};
  EXPECT_TRUE(rebuild(v, 1, 0, options));
  EXPECT_EQ(disks.b->read(2 * kMiB, 4 * kMiB), pattern(4 * kMiB, 12));
}

TEST(Rebuild, HolesOnBothSidesAreSkippedUnlessWrittenSince) {
  Pair disks;
  VolumeDevice v = disks.volume();
  v.start_rebuild(1, 0);
  // A write ahead of the cursor into what the rebuild saw as a hole must still be copied.
  v.write(3 * kMiB, pattern(4096, 7));
  EXPECT_FALSE(v.skip_hole(v.generation(), 1, 3 * kMiB, 64 * 1024));
  EXPECT_TRUE(v.skip_hole(v.generation(), 1, kMiB, 64 * 1024));
}

TEST(Verify, FindsAndLocatesASilentCorruptionOfOnePlex) {
  Pair disks;
  VolumeDevice v = disks.volume();
  v.write(0, pattern(4 * kMiB, 8));
  EXPECT_TRUE(verify(v, 64 * 1024).identical());
  disks.b->write(2 * kMiB + 1536 * 1024 + 100, pattern(10, 9));  // behind the volume's back
  VerifyReport report = verify(v, 64 * 1024);
  ASSERT_EQ(report.mismatches.size(), 1u);
  EXPECT_EQ(report.mismatches[0].offset, 1536u * 1024);
  EXPECT_EQ(report.mismatches[0].length, 64u * 1024);
  EXPECT_THROW(verify(v, 1000), UsageError);
}

TEST(WriteIntent, RegionsAreSizedLikeMdsChunksAndMarkWholeRegions) {
  EXPECT_EQ(WriteIntent::region_bytes_for(72 * kMiB), 64u * 1024);
  EXPECT_EQ(WriteIntent::region_bytes_for(64ull << 30), 2u * kMiB);
  WriteIntent w = WriteIntent::empty(Guid::parse("11111111-2222-3333-4444-555555555555"),
                                     Guid::parse("66666666-7777-8888-9999-aaaaaaaaaaaa"), 72 * kMiB + 512);
  EXPECT_EQ(w.region_count(), 72u * 16 + 1);
  EXPECT_TRUE(w.clean());
  EXPECT_TRUE(w.mark(100, 1));
  EXPECT_FALSE(w.mark(200, 1));  // the same region
  EXPECT_TRUE(w.mark(64 * 1024, 64 * 1024 + 1));  // regions 1 and 2
  EXPECT_TRUE(w.mark(72 * kMiB, 512));            // the short last region
  EXPECT_EQ(w.dirty(), (std::vector<Extent>{{0, 192 * 1024}, {72 * kMiB, 512}}));
}

TEST(WriteIntent, TheFileRoundTripsAndDamageIsAFormatError) {
  WriteIntent w = WriteIntent::empty(Guid::parse("11111111-2222-3333-4444-555555555555"),
                                     Guid::parse("66666666-7777-8888-9999-aaaaaaaaaaaa"), 40 * kMiB);
  w.mark(5 * kMiB, 3 * kMiB);
  const ByteVector file = encode_write_intent(w);
  EXPECT_EQ(file.size(), kWriteIntentHeaderBytes + 640 / 8);
  const WriteIntent back = decode_write_intent(file);
  EXPECT_EQ(back.dirty(), w.dirty());
  EXPECT_EQ(back.volume, w.volume);
  EXPECT_EQ(back.disk, w.disk);
  for (std::size_t at : {std::size_t(0), std::size_t(12), std::size_t(50), file.size() - 1}) {
    ByteVector torn = file;
    torn[at] ^= std::byte{0x10};
    EXPECT_THROW(decode_write_intent(torn), FormatError) << at;
  }
  EXPECT_THROW(decode_write_intent(ByteSpan(file).first(kWriteIntentHeaderBytes + 3)), FormatError);
  EXPECT_THROW(decode_write_intent(ByteSpan(file).first(10)), FormatError);
}

TEST(VolumeDevice, AWriteAPlexMissesIsReportedBeforeItIsIssued) {
  Pair disks;
  VolumeDevice v = disks.volume();
  std::vector<std::string> told;
  v.on_missed_write([&](const std::vector<std::string>& plexes, std::uint64_t offset, std::uint64_t length) {
    // Nothing has reached the plex that takes the write yet.
    EXPECT_EQ(disks.a->read(kMiB + offset, length), ByteVector(length));
    for (const auto& p : plexes) told.push_back(fmt::format("{} {}+{}", p, offset, length));
  });
  v.write(0, pattern(4096, 1));
  EXPECT_TRUE(told.empty());  // both plexes in sync: nothing missed
  v.fail(1, "gone");
  v.write(8192, pattern(4096, 2));
  EXPECT_EQ(told, (std::vector<std::string>{"Volume1-02 8192+4096"}));
  // A refused record refuses the write: nothing is written without it.
  v.on_missed_write([](const std::vector<std::string>&, std::uint64_t, std::uint64_t) { throw OsError(EIO, "bitmap", "write"); });
  EXPECT_THROW(v.write(16384, pattern(4096, 3)), OsError);
  EXPECT_EQ(disks.a->read(kMiB + 16384, 4096), ByteVector(4096));
}

TEST(PlexView, ReadsOnePlexAloneFollowsItByNameAndWritesNothing) {
  Pair disks;
  auto v = std::make_shared<VolumeDevice>("Volume1", 4 * kMiB, 512, std::vector<DevicePtr>{disks.fa, disks.fb}, disks.plexes());
  // The plexes differ (a silent corruption of plex 2): each view sees its own plex's bytes.
  const ByteVector first = pattern(8192, 4), second = pattern(8192, 5);
  disks.a->write(kMiB, first);
  disks.b->write(2 * kMiB, second);
  PlexView one(v, "Volume1-01"), two(v, "Volume1-02");
  EXPECT_EQ(one.read(0, 8192), first);
  EXPECT_EQ(two.read(0, 8192), second);
  EXPECT_EQ(one.size(), v->size());
  EXPECT_FALSE(one.writable());
  EXPECT_THROW(one.write(0, first), UsageError);
  EXPECT_EQ(disks.a->read(kMiB, 8192), first);
  // A failed plex is still read as its disk holds it.
  v->fail(0, "test");
  EXPECT_EQ(one.read(0, 8192), first);
  // The plexes swap places: each view follows its plex.
  auto swapped = disks.plexes();
  std::swap(swapped[0], swapped[1]);
  v->reconfigure({disks.fa, disks.fb}, swapped);
  EXPECT_EQ(two.read(0, 8192), second);
  EXPECT_EQ(one.read(0, 8192), first);
  // Plex 2 broken away: its view refuses to read rather than read another plex.
  v->reconfigure({disks.fa, disks.fb}, {disks.plexes()[0]});
  EXPECT_THROW(two.read(0, 512), UsageError);
  EXPECT_EQ(one.read(0, 8192), first);
}

TEST(PlexView, RefusesAPlexOnAMissingDiskOrOneTheVolumeLacks) {
  Pair disks;
  auto v = std::make_shared<VolumeDevice>("Volume1", 4 * kMiB, 512, std::vector<DevicePtr>{disks.fa, nullptr}, disks.plexes());
  EXPECT_THROW(PlexView(v, "Volume1-02"), UsageError);
  EXPECT_THROW(PlexView(v, "Volume1-03"), UsageError);
  EXPECT_NO_THROW(PlexView(v, "Volume1-01"));
}
