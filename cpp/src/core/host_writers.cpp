// Worker threads that write an export's small files to the host (see host_writers.h).
#include "core/host_writers.h"

#include <algorithm>
#include <stdexcept>

namespace bootmirror {

namespace {

// A batch is handed over at 64 files (about 0.3 ms of a worker's kernel work for small files:
// fine enough to share between workers, coarse enough that the lock is rare) or when the next
// file does not fit in its buffer: 256 KiB, or one larger file alone.
constexpr std::size_t kBatchFiles = 64;
constexpr std::size_t kBatchBytes = 256 << 10;
// The queuer waits while this many batches wait for a worker, which bounds the memory held.
constexpr std::size_t kQueuedBatches = 8;
// Each file's bytes start on a cache line, so that the kernel copies them out in whole lines.
constexpr std::size_t kFileAlignment = 64;

}  // namespace

HostWriters::HostWriters(unsigned threads)
    : threads_(threads ? threads : std::clamp(std::thread::hardware_concurrency(), 1u, 4u)) {}

HostWriters::~HostWriters() { abandon(); }

MutableByteSpan HostWriters::reserve(std::size_t size) {
  if (size > kMaxFileBytes) throw std::invalid_argument("HostWriters: a file larger than kMaxFileBytes");
  std::size_t at = (filling_.used + kFileAlignment - 1) & ~(kFileAlignment - 1);
  if (!filling_.files.empty() && (filling_.files.size() >= kBatchFiles || at + size > filling_.bytes.size())) {
    hand_over();
    at = 0;
  }
  if (filling_.files.empty()) {
    if (filling_.files.capacity() == 0) {  // a new batch: a written one if there is one
      std::lock_guard lock(mutex_);
      if (!spare_.empty()) {
        filling_ = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    filling_.files.reserve(kBatchFiles);
    if (filling_.bytes.size() < size || filling_.bytes.size() == 0)
      filling_.bytes.ensure(std::max(kBatchBytes, size));
  }
  reserved_at_ = at;
  return MutableByteSpan(filling_.bytes.data() + at, size);
}

void HostWriters::add(const std::shared_ptr<const HostFolder>& folder, std::string_view name, std::size_t size) {
  filling_.files.push_back({folder, filling_.names.size(), reserved_at_, size, next_number_++});
  filling_.names.append(name).push_back('\0');
  filling_.used = reserved_at_ + size;
}

void HostWriters::hand_over() {
  if (filling_.files.empty()) return;
  while (workers_.size() < threads_) workers_.emplace_back([this] { work(); });
  std::unique_lock lock(mutex_);
  room_.wait(lock, [&] { return queue_.size() < kQueuedBatches || error_; });
  if (error_) {  // a file failed: wait for the files before it, then answer the earliest failure
    lock.unlock();
    join();
    std::rethrow_exception(error_);
  }
  queue_.push_back(std::move(filling_));
  filling_ = Batch{};
  lock.unlock();
  ready_.notify_one();
}

void HostWriters::finish() {
  hand_over();
  join();
  if (error_) std::rethrow_exception(error_);
}

void HostWriters::join() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  ready_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

void HostWriters::abandon() {
  {
    std::lock_guard lock(mutex_);
    first_not_begun_ = 0;
    queue_.clear();
  }
  join();
}

void HostWriters::work() {
  for (;;) {
    Batch batch;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    room_.notify_one();
    write_batch(batch);
    batch.used = 0;
    batch.names.clear();
    batch.files.clear();
    std::lock_guard lock(mutex_);
    spare_.push_back(std::move(batch));  // at most every batch made: queued, being written, filling
  }
}

void HostWriters::write_batch(const Batch& batch) {
  for (const File& file : batch.files) {
    if (file.number >= first_not_begun_.load(std::memory_order_relaxed)) return;
    try {
      const std::string name(batch.names.c_str() + file.name);
      const std::string shown = file.folder->shown + "/" + name;
      Fd out = create_host_file(file.folder->fd.get(), name, shown);
      write_fully(out.get(), 0, ByteSpan(batch.bytes.data() + file.offset, file.size), shown);
    } catch (...) {
      failed(file.number, std::current_exception());
      return;
    }
    written_.fetch_add(file.size, std::memory_order_relaxed);
  }
}

void HostWriters::failed(std::uint64_t number, std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    // The earliest failure is the one reported, and files after it are not begun. Those before it
    // all are: every batch still queued comes after the one this file was in, and the batches
    // being written finish their earlier files. (After abandon() nothing is recorded: no one asks.)
    if (number < first_not_begun_) {
      error_ = std::move(error);
      first_not_begun_ = number;
    }
    queue_.clear();
  }
  room_.notify_all();
}

}  // namespace bootmirror
