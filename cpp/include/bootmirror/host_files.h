// The host side of bulk copies between a volume and a host folder (FAT's import and export,
// NTFS's export): file descriptors that close themselves, whole reads and writes, and folders and
// files made inside an export's target. Every path is opened relative to its folder's descriptor,
// with O_NOFOLLOW, so a symbolic link planted in the target cannot redirect a write outside it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "bootmirror/bytes.h"

namespace bootmirror {

// What a tree copy did.
struct CopyStats {
  std::uint64_t files = 0, directories = 0, bytes = 0;
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  // The descriptor, no longer closed by this (handed to an owner that closes it).
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// OsError naming `shown` when the file ends before `out` is full or a read fails.
void read_fully(int fd, std::uint64_t offset, MutableByteSpan out, const std::string& shown);
void write_fully(int fd, std::uint64_t offset, ByteSpan data, const std::string& shown);

// An export's target folder, made as needed, opened as a folder.
Fd open_export_root(const std::string& host_dir);
// A folder in `parent` (kept if it exists), opened without following a link.
Fd make_host_folder(int parent, const std::string& name, const std::string& shown);
// A file in `parent`, created or truncated, never through a link.
Fd create_host_file(int parent, const std::string& name, const std::string& shown);
// Sets a host file's access and modification times, as FILETIMEs (100 ns since 1601).
void set_host_times(int fd, std::uint64_t accessed_filetime, std::uint64_t modified_filetime, const std::string& shown);

// A name read from an image (WTF-8) made fit to be one host path component: lone surrogates
// become U+FFFD (host names are valid UTF-8), '/' and control characters become '_', and "", "."
// and ".." gain a leading '_'. Anything else stays, case and trailing dots included.
std::string host_component(std::string_view wtf8_name);

}  // namespace bootmirror
