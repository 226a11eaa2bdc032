// The machine's background resynchronisation: one thread per machine copies the rebuilds that
// machine.json records ("add disk=N" returns at once, as diskpart does, and the volume shows
// Rebuild until its copy is done and verified). It runs without the machine's lock except to read
// the records and write checkpoints, so the machine stays usable while it copies; writes to the
// volume meanwhile are kept in step by the volume device (bootmirror/mirror.h).
//
// Lock order: the worker takes the machine's lock and then a volume device's locks, never the
// other way round, and nothing waits for the worker while holding the machine's lock (stop()
// and wait() are called without it), so the two cannot deadlock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "bootmirror/mirror.h"

namespace bootmirror {

class Machine;

class RebuildWorker {
 public:
  explicit RebuildWorker(Machine& machine) : machine_(machine) {}
  ~RebuildWorker() { stop(); }
  RebuildWorker(const RebuildWorker&) = delete;
  RebuildWorker& operator=(const RebuildWorker&) = delete;

  // Looks at the records again (a rebuild was recorded, a disk came back), starting the thread
  // when it is not running. Callable with the machine's lock held.
  void start();
  // Stops the copy at its next chunk (the record keeps the last checkpoint) and joins the thread.
  // Never with the machine's lock held.
  void stop();
  // Blocks until no recorded rebuild can make progress (all done, or waiting for a missing disk),
  // or `timeout` passed; true when idle. Rethrows the first error a rebuild hit since the last
  // wait (the plex it was copying is failed). Never with the machine's lock held.
  bool wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // At most this many bytes per second (md's sync_speed_max); 0 holds every copy where it is
  // (md's "frozen"), nullopt lifts the limit.
  void set_speed_limit(std::optional<std::uint64_t> bytes_per_second);
  std::optional<std::uint64_t> speed_limit() const;

 private:
  void run();
  // The rebuild's progress callback: false to stop; sleeps to keep under the speed limit.
  bool pace(std::uint64_t copied_since_start, std::chrono::steady_clock::time_point started);

  Machine& machine_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::thread thread_;
  bool running_ = false, again_ = false, stopping_ = false;
  std::optional<std::uint64_t> speed_limit_;
  std::exception_ptr error_;
};

}  // namespace bootmirror
