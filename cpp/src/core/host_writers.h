// The small files of a bulk export, written to the host by worker threads. Making a host file is
// kernel work (an inode, a directory entry under its folder's lock, the page cache) that runs in
// parallel across cores: two exports into different folders took 70 ms together where one took
// 60 ms. So the exporting thread, the only one that touches the volume, reads each small file's
// bytes into a batch, and the workers create, write and close the files of each batch while it
// reads the next (issue 15: a 10,000-file tree read back from a FAT image).
//
// Files are taken in the order they were given, a batch at a time. After a failure no later file
// is begun, while every earlier one still is; so the error reported, that of the earliest file
// that failed, does not depend on the threads' timing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bootmirror/aligned_buffer.h"
#include "bootmirror/host_files.h"

namespace bootmirror {

// A host folder of an export, open, and its path for messages; shared by the files queued in it.
struct HostFolder {
  Fd fd;
  std::string shown;
};

class HostWriters {
 public:
  // Files up to this size go to the workers; a larger one is better copied by the caller as it
  // goes (in pieces, or in the kernel) than held whole in memory.
  static constexpr std::size_t kMaxFileBytes = 1 << 20;

  // `threads` workers (0: one per core, at most 4), started with the first batch.
  explicit HostWriters(unsigned threads = 0);
  // Without finish(): files not yet begun are dropped, and the workers end once their current
  // file is written (an export its caller stopped; one that fails calls finish() first, so that
  // the files before the failure are written). Never throws.
  ~HostWriters();
  HostWriters(const HostWriters&) = delete;
  HostWriters& operator=(const HostWriters&) = delete;

  // Queues a file of `size` bytes (at most kMaxFileBytes) to be created in `folder` as `name`
  // (create_host_file: never through a link); `fill` is called at once with the span to put its
  // bytes in. Waits while much is queued; throws the error of an earlier file once one has
  // failed. A throw from `fill` queues nothing.
  template <typename Fill>
  void write(const std::shared_ptr<const HostFolder>& folder, std::string_view name, std::size_t size, Fill&& fill) {
    fill(reserve(size));
    add(folder, name, size);
  }

  // Waits until every file queued is written and the workers have ended; throws the error of the
  // earliest file that failed.
  void finish();

  // The bytes of the files written so far (for a progress meter on the queuing thread).
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }

 private:
  struct File {
    std::shared_ptr<const HostFolder> folder;
    std::size_t name = 0;              // where its name starts in the batch's names (ended by a NUL)
    std::size_t offset = 0, size = 0;  // its bytes in the batch's buffer
    std::uint64_t number = 0;          // its place in the order given
  };
  // Batches are used again once written, buffers and all: a fresh allocation per batch (or per
  // name) on one thread freed on another kept glibc's malloc consolidating its free lists.
  struct Batch {
    AlignedBuffer bytes;
    std::size_t used = 0;
    std::string names;
    std::vector<File> files;
  };

  MutableByteSpan reserve(std::size_t size);
  void add(const std::shared_ptr<const HostFolder>& folder, std::string_view name, std::size_t size);
  void hand_over();  // the batch being filled, to the workers
  void work();       // a worker's loop
  void write_batch(const Batch& batch);
  void failed(std::uint64_t number, std::exception_ptr error);
  void join();     // no more batches come: the workers write what is queued and end
  void abandon();  // nothing more is begun: the workers end after the file they are writing

  unsigned threads_;
  std::vector<std::thread> workers_;
  Batch filling_;                // on the queuing thread
  std::size_t reserved_at_ = 0;  // where the file being filled starts in it
  std::uint64_t next_number_ = 0;
  std::atomic<std::uint64_t> written_{0};

  std::mutex mutex_;
  std::condition_variable ready_, room_;  // for the workers: a batch or the end; for the queuer: room
  std::deque<Batch> queue_;
  std::vector<Batch> spare_;           // written batches, emptied, for the next ones
  bool closing_ = false;  // no more batches come: workers end once the queue is empty
  // Files numbered from here on are not begun: past a failure, or none once abandoned.
  std::atomic<std::uint64_t> first_not_begun_{UINT64_MAX};
  std::exception_ptr error_;
};

}  // namespace bootmirror
