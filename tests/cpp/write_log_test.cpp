// The write-back crash model itself: which states it allows, and that it catches what it should.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "bootmirror/io.h"
#include "bootmirror/write_log.h"

using namespace bootmirror;
namespace fs = std::filesystem;

namespace {

ByteVector filled(std::size_t n, std::uint8_t value) { return ByteVector(n, std::byte{value}); }

// The bytes of `disk` after `state` is applied over a zeroed disk of `size` bytes.
ByteVector after(const CrashState& state, std::uint64_t size) {
  auto base = std::make_shared<MemoryDisk>(size);
  auto view = std::make_shared<OverlayDisk>(base);
  state.apply({view});
  return view->read(0, std::size_t(size));
}

}  // namespace

TEST(WriteLog, FlushedWritesAlwaysSurviveUnflushedOnesMayNot) {
  auto log = WriteLog::create();
  auto disk = std::make_shared<FaultyDisk>(std::make_shared<MemoryDisk>(8192));
  disk->record_to(log);
  disk->write(0, filled(1024, 1));
  disk->flush();
  disk->write(2048, filled(2048, 2));  // four sectors, never flushed
  EXPECT_EQ(log->crash_points(), (std::vector<std::size_t>{0, 1, 3}));
  std::set<std::string> outcomes;
  for (const CrashState& s : log->crash_states(40, 7)) {
    ByteVector bytes = after(s, 8192);
    if (s.point() > 1) EXPECT_EQ(bytes[0], std::byte{1}) << s.description();  // the flush was event 1
    // The unflushed write is lost, whole, or torn at sector boundaries (never inside a sector).
    std::string sectors;
    for (int k = 0; k < 4; ++k) {
      const std::byte first = bytes[2048 + 512 * k];
      for (int b = 1; b < 512; ++b) ASSERT_EQ(bytes[2048 + 512 * k + b], first) << s.description();
      sectors += first == std::byte{2} ? '2' : '0';
    }
    outcomes.insert(sectors);
  }
  EXPECT_TRUE(outcomes.count("0000")) << "lost";
  EXPECT_TRUE(outcomes.count("2222")) << "whole";
  EXPECT_GT(outcomes.size(), 2u) << "torn somewhere";
}

TEST(WriteLog, AFlushOnOneDiskDoesNotMakeAnotherDurable) {
  auto log = WriteLog::create();
  auto a = std::make_shared<FaultyDisk>(std::make_shared<MemoryDisk>(4096));
  auto b = std::make_shared<FaultyDisk>(std::make_shared<MemoryDisk>(4096));
  a->record_to(log);
  b->record_to(log);
  b->write(0, filled(512, 9));
  a->write(0, filled(512, 1));
  a->flush();
  // Just after a's flush, b's write is still in flight.
  CrashState none = log->crash(3, WriteLog::Choice::none_survive);
  auto ta = std::make_shared<MemoryDisk>(4096), tb = std::make_shared<MemoryDisk>(4096);
  none.apply({ta, tb});
  EXPECT_EQ(ta->read(0, 1)[0], std::byte{1});
  EXPECT_EQ(tb->read(0, 1)[0], std::byte{0});
}

TEST(WriteLog, SameSeedSameState) {
  auto log = WriteLog::create();
  auto disk = std::make_shared<FaultyDisk>(std::make_shared<MemoryDisk>(1 << 20));
  disk->record_to(log);
  for (int i = 0; i < 20; ++i) disk->write(std::uint64_t(i) * 4096, filled(4096, std::uint8_t(i + 1)));
  const std::size_t end = log->event_count();
  EXPECT_EQ(log->crash(end, WriteLog::Choice::random, 5).signature(), log->crash(end, WriteLog::Choice::random, 5).signature());
  EXPECT_NE(log->crash(end, WriteLog::Choice::random, 5).signature(), log->crash(end, WriteLog::Choice::random, 6).signature());
}

class ReplaceFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("bootmirror-replace-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "machine.json") << "old";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ReplaceFile, EveryCrashLeavesTheOldFileOrTheNewOneWhole) {
  auto log = WriteLog::create();
  replace_file(dir_.string(), "machine.json", "new contents", log.get());
  std::ifstream in(dir_ / "machine.json");
  std::stringstream now;
  now << in.rdbuf();
  EXPECT_EQ(now.str(), "new contents");
  std::set<std::string> seen;
  for (const CrashState& s : log->crash_states(20, 1)) {
    auto it = s.files().find("machine.json");
    const std::string outcome = it == s.files().end() ? "old" : it->second.exists ? it->second.contents : "<absent>";
    EXPECT_TRUE(outcome == "old" || outcome == "new contents") << s.description() << ": " << outcome;
    seen.insert(outcome);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"old", "new contents"}));
}

TEST(WriteLog, ARenameWithoutFsyncCanLeaveAnEmptyFile) {
  // What the model must catch: contents renamed into place before they were made durable.
  auto log = WriteLog::create();
  log->record_file_write("machine.json.tmp", "new contents");
  log->record_rename("machine.json.tmp", "machine.json");
  log->record_folder_sync();
  bool empty = false;
  for (const CrashState& s : log->crash_states(20, 1)) {
    auto it = s.files().find("machine.json");
    empty |= it != s.files().end() && it->second.exists && it->second.contents.empty();
  }
  EXPECT_TRUE(empty);
}

TEST(OverlayDisk, WritesStayInMemoryAndTheBaseIsNeverWritten) {
  auto base = std::make_shared<MemoryDisk>(1 << 20);
  base->write(100000, filled(10, 7));
  auto view = std::make_shared<OverlayDisk>(base);
  view->write(65530, filled(20, 3));  // across a chunk boundary
  EXPECT_EQ(view->read(65530, 20), filled(20, 3));
  EXPECT_EQ(view->read(100000, 10), filled(10, 7));
  EXPECT_EQ(base->read(65530, 20), filled(20, 0));
  EXPECT_EQ(view->overlay_bytes(), 2u * 64 * 1024);
}
