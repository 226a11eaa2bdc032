// The host side of tree copies (see bootmirror/host_files.h).
#include "bootmirror/host_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <utility>

#include "bootmirror/error.h"
#include "bootmirror/unicode.h"

namespace bootmirror {

Fd& Fd::operator=(Fd&& o) noexcept {
  std::swap(fd_, o.fd_);
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

void read_fully(int fd, std::uint64_t offset, MutableByteSpan out, const std::string& shown) {
  for (std::size_t got = 0; got < out.size();) {
    ssize_t n = ::pread(fd, out.data() + got, out.size() - got, off_t(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw OsError(errno, shown, "read");
    if (n == 0) throw OsError(EIO, shown, "read: the file shrank while it was copied");
    got += std::size_t(n);
  }
}

void write_fully(int fd, std::uint64_t offset, ByteSpan data, const std::string& shown) {
  for (std::size_t put = 0; put < data.size();) {
    ssize_t n = ::pwrite(fd, data.data() + put, data.size() - put, off_t(offset + put));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw OsError(errno, shown, "write");
    put += std::size_t(n);
  }
}

Fd open_export_root(const std::string& host_dir) {
  std::error_code ignored;  // an existing folder is fine; any other failure shows at the open
  std::filesystem::create_directories(host_dir, ignored);
  Fd root(::open(host_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) throw OsError(errno, host_dir, "open export folder");
  return root;
}

Fd make_host_folder(int parent, const std::string& name, const std::string& shown) {
  if (::mkdirat(parent, name.c_str(), 0777) != 0 && errno != EEXIST) throw OsError(errno, shown, "mkdir");
  Fd folder(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (folder.get() < 0) throw OsError(errno, shown, "open folder");
  return folder;
}

Fd create_host_file(int parent, const std::string& name, const std::string& shown) {
  Fd file(::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666));
  if (file.get() < 0) throw OsError(errno, shown, "create");
  return file;
}

void set_host_times(int fd, std::uint64_t accessed_filetime, std::uint64_t modified_filetime, const std::string& shown) {
  constexpr __int128 kUnixEpoch = 116444736000000000;  // 1970-01-01 in FILETIME
  auto to_timespec = [](std::uint64_t filetime) {
    const __int128 since = __int128(filetime) - kUnixEpoch;
    __int128 seconds = since / 10'000'000, rest = since % 10'000'000;
    if (rest < 0) rest += 10'000'000, --seconds;
    return timespec{time_t(seconds), long(rest * 100)};
  };
  const timespec times[2] = {to_timespec(accessed_filetime), to_timespec(modified_filetime)};
  if (::futimens(fd, times) != 0) throw OsError(errno, shown, "set times");
}

std::string host_component(std::string_view wtf8_name) {
  std::string out;
  for (char c : wtf8_for_display(wtf8_name)) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == '/' ? '_' : c);
  if (out.empty() || out == "." || out == "..") out.insert(out.begin(), '_');
  return out;
}

}  // namespace bootmirror
