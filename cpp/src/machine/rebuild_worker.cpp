// The background resynchronisation thread of a machine (see rebuild_worker.h). It takes the
// recorded rebuilds one at a time; one that cannot run now (its source is gone, its disk returned
// an I/O error) is set aside until start() is called again, so the thread never spins.
#include <set>
#include <utility>

#include "bootmirror/machine.h"
#include "machine/rebuild_worker.h"
#include "machine/rebuilds.h"

namespace bootmirror {

void RebuildWorker::start() {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  again_ = true;
  // The rebuilds set aside are tried again, so what they failed with before no longer stands: a
  // copy that found no source while its disk was gone must not be reported once the disk is
  // back and the copy ran. One that fails again records its error again.
  error_ = nullptr;
  if (running_) return;
  // A thread that finished has set running_ false as its last act: joining it takes no time.
  if (thread_.joinable()) thread_.join();
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void RebuildWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RebuildWorker::wait(std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock lock(mutex_);
  auto idle = [&] { return !running_; };
  if (timeout) {
    if (!changed_.wait_for(lock, *timeout, idle)) return false;
  } else {
    changed_.wait(lock, idle);
  }
  if (auto error = std::exchange(error_, nullptr)) std::rethrow_exception(error);
  return true;
}

void RebuildWorker::set_speed_limit(std::optional<std::uint64_t> bytes_per_second) {
  {
    std::lock_guard lock(mutex_);
    speed_limit_ = bytes_per_second;
  }
  changed_.notify_all();
}

std::optional<std::uint64_t> RebuildWorker::speed_limit() const {
  std::lock_guard lock(mutex_);
  return speed_limit_;
}

bool RebuildWorker::pace(std::uint64_t copied, std::chrono::steady_clock::time_point started) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (stopping_) return false;
    if (!speed_limit_) return true;
    if (*speed_limit_ == 0) {
      changed_.wait(lock);
      continue;
    }
    const auto due = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(double(copied) / double(*speed_limit_)));
    if (std::chrono::steady_clock::now() >= due) return true;
    changed_.wait_until(lock, due);
  }
}

void RebuildWorker::run() {
  std::set<std::pair<std::string, std::string>> set_aside;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      if (std::exchange(again_, false)) set_aside.clear();
    }
    std::optional<dynamic::RebuildJob> job;
    try {
      for (dynamic::RebuildJob& j : dynamic::runnable_rebuilds(machine_))
        if (!set_aside.count({j.volume, j.disk})) {
          job = std::move(j);
          break;
        }
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      break;
    }
    if (!job) {
      std::lock_guard lock(mutex_);
      if (again_ && !stopping_) continue;  // something was recorded while we looked
      break;
    }
    try {
      const auto started = std::chrono::steady_clock::now();
      std::optional<std::uint64_t> first;
      const auto end = dynamic::run_recorded_rebuild(machine_, *job, [&](const mirror::Progress& p) {
        if (!first) first = p.done;
        return pace(p.done - *first, started);
      });
      if (end == dynamic::RebuildEnd::stopped) break;
      // done: the next one; reconfigured: the same one again, on the volume's new plexes
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      set_aside.insert({job->volume, job->disk});
    }
  }
  {
    std::lock_guard lock(mutex_);
    running_ = false;
  }
  changed_.notify_all();
}

}  // namespace bootmirror
