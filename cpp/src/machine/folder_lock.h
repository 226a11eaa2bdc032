// The write side of a machine folder: one writer at a time, across processes and within one.
// An flock on <folder>/machine.lock, taken by the machine's first write and kept until it is closed,
// with the holder (process, program, time) written into the file so that the next one can be told
// who. Shared by the Machine and the images it opened (their first write takes it too), so a
// volume a caller still holds can write after its Machine object is gone.
#pragma once

#include <mutex>
#include <string>

namespace bootmirror {

class FolderLock {
 public:
  explicit FolderLock(std::string folder) : folder_(std::move(folder)) {}
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  ~FolderLock() { release(); }

  const std::string& folder() const { return folder_; }
  // Before a write: takes the lock unless held. UsageError naming the holder when another process
  // or another Machine has it, or when machine.json no longer holds what this machine last read or
  // wrote (another process changed it in between: writing our older view would undo that).
  void prepare_write();
  // machine.json as this machine last read or wrote it.
  void remember(std::string machine_json);
  std::string remembered() const;
  // Releases the lock; every later prepare_write fails.
  void close();
  bool closed() const;

 private:
  void acquire();
  void release();

  std::string folder_;
  mutable std::mutex mutex_;
  int fd_ = -1;
  bool closed_ = false;
  std::string machine_json_;
};

}  // namespace bootmirror
