// Crash-safe replacement of a small file (machine.json, checkpoints), and the file half of a
// CrashState: writing what a crash left into a copy of the folder.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

#include "bootmirror/write_log.h"

namespace bootmirror {

namespace {

namespace fs = std::filesystem;

class Fd {
 public:
  Fd(const std::string& path, int flags, const char* action) : path_(path), fd_(::open(path.c_str(), flags | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw OsError(errno, path, action);
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void write_all(std::string_view data) {
    for (std::size_t done = 0; done < data.size();) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw OsError(errno, path_, "write");
      done += std::size_t(n);
    }
  }
  void sync() {
    if (::fsync(fd_) != 0) throw OsError(errno, path_, "fsync");
  }
  // close() reports write-back errors that fsync may not have (NFS); a failure here is a failure.
  void close() {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw OsError(errno, path_, "close");
  }

 private:
  std::string path_;
  int fd_;
};

void write_whole(const std::string& path, std::string_view contents) {
  Fd file(path, O_WRONLY | O_CREAT | O_TRUNC, "cannot write");
  file.write_all(contents);
  file.close();
}

void sync_folder(const std::string& folder) {
  Fd dir(folder, O_RDONLY | O_DIRECTORY, "cannot open the folder");
  dir.sync();
}

}  // namespace

void replace_file(const std::string& folder, const std::string& name, std::string_view contents, WriteLog* log) {
  const std::string temporary = name + ".tmp";
  const std::string target_path = (fs::path(folder) / name).string();
  const std::string temporary_path = (fs::path(folder) / temporary).string();
  // The new contents must be durable before the rename makes them the file: otherwise a crash
  // could leave an empty machine.json where the old one was whole.
  {
    Fd file(temporary_path, O_WRONLY | O_CREAT | O_TRUNC, "cannot write");
    file.write_all(contents);
    if (log) log->record_file_write(temporary, contents);
    file.sync();
    if (log) log->record_file_sync(temporary);
    file.close();
  }
  if (::rename(temporary_path.c_str(), target_path.c_str()) != 0) throw OsError(errno, target_path, "cannot replace");
  if (log) log->record_rename(temporary, name);
  // The rename itself is durable only once the folder is.
  sync_folder(folder);
  if (log) log->record_folder_sync();
}

void CrashState::apply_files(const std::string& folder) const {
  for (const auto& [name, outcome] : files_) {
    const std::string path = (fs::path(folder) / name).string();
    if (outcome.exists) {
      write_whole(path, outcome.contents);
    } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      throw OsError(errno, path, "cannot remove");
    }
  }
}

}  // namespace bootmirror
