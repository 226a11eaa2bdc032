// The rebuild's checkpoint thread (see checkpoint_flusher.h).
#include "mirror/checkpoint_flusher.h"

#include <utility>

namespace bootmirror::mirror {

CheckpointFlusher::CheckpointFlusher(std::function<void(std::uint64_t)> make_durable)
    : make_durable_(std::move(make_durable)), thread_([this] { run(); }) {}

CheckpointFlusher::~CheckpointFlusher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    pending_.reset();
  }
  changed_.notify_all();
  thread_.join();
}

void CheckpointFlusher::rethrow_locked() {
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void CheckpointFlusher::post(std::uint64_t cursor) {
  {
    std::lock_guard lock(mutex_);
    rethrow_locked();
    pending_ = cursor;
  }
  changed_.notify_all();
}

void CheckpointFlusher::drain() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !pending_ && !busy_; });
  rethrow_locked();
}

void CheckpointFlusher::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || pending_; });
    if (stopping_) return;
    const std::uint64_t cursor = *std::exchange(pending_, std::nullopt);
    busy_ = true;
    lock.unlock();
    std::exception_ptr error;
    try {
      make_durable_(cursor);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    busy_ = false;
    if (error) {
      error_ = error;
      pending_.reset();  // nothing is recorded past a checkpoint that failed
    }
    changed_.notify_all();
  }
}

}  // namespace bootmirror::mirror
