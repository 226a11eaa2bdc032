// The rebuild's background checkpoints (cpp/src/mirror/checkpoint_flusher.h): made in order, the
// latest replacing one still waiting, every one made by drain(), and a failure reaching the copy.
#include "mirror/checkpoint_flusher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "bootmirror/error.h"

using bootmirror::OsError;
using bootmirror::mirror::CheckpointFlusher;

namespace {

// Holds the flusher inside its first checkpoint until released.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool entered = false, open = false;
  void pass() {
    std::unique_lock lock(mutex);
    entered = true;
    changed.notify_all();
    changed.wait(lock, [&] { return open; });
  }
  void wait_entered() {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return entered; });
  }
  void release() {
    std::lock_guard lock(mutex);
    open = true;
    changed.notify_all();
  }
};

}  // namespace

TEST(CheckpointFlusher, DrainMakesTheLatestAndACheckpointWaitingIsReplaced) {
  Gate gate;
  std::vector<std::uint64_t> made;
  CheckpointFlusher flusher([&](std::uint64_t at) {
    if (made.empty()) gate.pass();
    made.push_back(at);
  });
  flusher.post(1);
  gate.wait_entered();  // 1 is being made: 2 waits, and 3 takes its place
  flusher.post(2);
  flusher.post(3);
  gate.release();
  flusher.drain();
  EXPECT_EQ(made, (std::vector<std::uint64_t>{1, 3}));
  flusher.post(4);
  flusher.drain();
  EXPECT_EQ(made.back(), 4u);
}

TEST(CheckpointFlusher, AFailedCheckpointIsThrownToTheCopyAndNothingAfterItIsMade) {
  std::vector<std::uint64_t> made;
  CheckpointFlusher flusher([&](std::uint64_t at) {
    if (at == 2) throw OsError(5, "plex", "fsync");
    made.push_back(at);
  });
  flusher.post(1);
  flusher.drain();
  flusher.post(2);
  EXPECT_THROW(flusher.drain(), OsError);
  flusher.post(3);
  flusher.drain();
  EXPECT_EQ(made, (std::vector<std::uint64_t>{1, 3}));
}
