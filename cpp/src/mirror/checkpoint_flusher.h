// Durable checkpoints off the copy's path. A rebuild's checkpoint flushes the new plex and then
// records the cursor; done inline, each flush stalls the copy while the kernel writes back what
// the last 64 MiB dirtied (measured here: a copy that fsyncs every 64 MiB ran at 0.7x one that
// fsyncs once at the end). This thread takes the flush and the record while the copy goes on. An
// fsync covers every write issued before it, so a cursor is recorded only once the bytes below it
// are durable. A checkpoint posted while the previous one is still being made replaces any that
// waits: only the latest cursor matters.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace bootmirror::mirror {

class CheckpointFlusher {
 public:
  // `make_durable(cursor)`: flush the plex, then record the cursor. Runs on this object's thread.
  explicit CheckpointFlusher(std::function<void(std::uint64_t)> make_durable);
  ~CheckpointFlusher();  // waits for the checkpoint being made; drops one still waiting
  CheckpointFlusher(const CheckpointFlusher&) = delete;
  CheckpointFlusher& operator=(const CheckpointFlusher&) = delete;

  // Queues a checkpoint at `cursor` and returns at once; rethrows what an earlier one threw.
  void post(std::uint64_t cursor);
  // Waits until every posted checkpoint is made; rethrows what one threw.
  void drain();

 private:
  void run();
  void rethrow_locked();

  std::function<void(std::uint64_t)> make_durable_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<std::uint64_t> pending_;
  bool busy_ = false, stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace bootmirror::mirror
