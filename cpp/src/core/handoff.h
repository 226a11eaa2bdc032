// Work handed from one thread to another in order, a batch at a time: a pipeline in which one
// thread's kernel work overlaps the other's user work (the FAT import's host walk, which runs
// ahead of the planning). The queue is unbounded: a producer never waits, so neither side can
// deadlock the other; each batch is one lock, not one per item.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <vector>

namespace bootmirror {

template <typename T>
class Handoff {
 public:
  // Producer: hands `batch` over (an empty one is not). False once the consumer has stopped
  // taking, which the producer answers by ending its work.
  bool put(std::vector<T>& batch) {
    std::lock_guard lock(mutex_);
    if (stopped_) return false;
    if (!batch.empty()) batches_.push_back(std::move(batch));
    batch.clear();
    ready_.notify_one();
    return true;
  }
  // Producer: nothing more comes; `error`, when set, is what ended the work, and the consumer
  // meets it after the last batch.
  void close(std::exception_ptr error = nullptr) {
    std::lock_guard lock(mutex_);
    error_ = error;
    closed_ = true;
    ready_.notify_one();
  }
  // Consumer: the next batch, waiting for it; false at the end, where a producer's error is
  // rethrown instead.
  bool take(std::vector<T>& out) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !batches_.empty() || closed_; });
    if (batches_.empty()) {
      if (error_) std::rethrow_exception(error_);
      return false;
    }
    out = std::move(batches_.front());
    batches_.pop_front();
    return true;
  }
  // Consumer: takes no more (the producer's next put says so).
  void stop() {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::vector<T>> batches_;
  bool closed_ = false, stopped_ = false;
  std::exception_ptr error_;
};

}  // namespace bootmirror
