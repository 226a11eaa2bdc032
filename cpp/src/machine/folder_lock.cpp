#include "machine/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "bootmirror/error.h"
#include "bootmirror/unicode.h"

namespace bootmirror {

namespace {

constexpr const char* kLockFile = "machine.lock";

// "pid 4711 (python3 -m pytest), since 2026-12-01 21:40:57 UTC": who holds the lock.
std::string this_holder() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::stringstream raw;
  raw << in.rdbuf();
  std::string command = raw.str();
  while (!command.empty() && command.back() == '\0') command.pop_back();
  for (char& c : command)
    if (c == '\0') c = ' ';
  if (command.size() > 200) command = command.substr(0, 200) + "...";
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  return fmt::format("pid {} ({}), since {:%Y-%m-%d %H:%M:%S} UTC", ::getpid(), escape_bytes(command), now);
}

}  // namespace

void FolderLock::prepare_write() {
  std::lock_guard lock(mutex_);
  if (closed_) throw UsageError(fmt::format("the machine in {} is closed; open it again to change it", folder_));
  if (fd_ >= 0) return;
  acquire();
  const std::string path = (std::filesystem::path(folder_) / "machine.json").string();
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (in && text.str() != machine_json_) {
    release();
    throw UsageError(fmt::format("{} was changed by another process since this machine was opened; open it again", path));
  }
}

void FolderLock::remember(std::string machine_json) {
  std::lock_guard lock(mutex_);
  machine_json_ = std::move(machine_json);
}

std::string FolderLock::remembered() const {
  std::lock_guard lock(mutex_);
  return machine_json_;
}

void FolderLock::close() {
  std::lock_guard lock(mutex_);
  release();
  closed_ = true;
}

bool FolderLock::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

void FolderLock::acquire() {
  const std::string path = (std::filesystem::path(folder_) / kLockFile).string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw OsError(errno, path, "cannot open the machine's lock file");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder(512, '\0');
    const ssize_t n = ::pread(fd, holder.data(), holder.size(), 0);
    holder.resize(n > 0 ? std::size_t(n) : 0);
    ::close(fd);
    if (err != EWOULDBLOCK) throw OsError(err, path, "cannot lock the machine folder");
    throw UsageError(fmt::format("the machine in {} is being changed by {}; close it there before changing it here",
                                 folder_, holder.empty() ? std::string("another process") : escape_bytes(holder)));
  }
  // The holder's name is a courtesy for the next one; the flock alone is the lock.
  const std::string me = this_holder();
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] ssize_t written = ::pwrite(fd, me.data(), me.size(), 0);
  }
  fd_ = fd;
}

void FolderLock::release() {
  if (fd_ < 0) return;
  // Emptied first: a later reader of a stale file would otherwise name a process long gone.
  [[maybe_unused]] int truncated = ::ftruncate(fd_, 0);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace bootmirror
