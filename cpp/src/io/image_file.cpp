#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "bootmirror/host_files.h"
#include "bootmirror/io.h"

namespace bootmirror {

namespace {

// Device nodes live under /dev; /dev/shm is an ordinary tmpfs where images may well be kept.
bool is_under_dev(const std::string& path) {
  std::string_view p(path);
  return p.starts_with("/dev/") && !p.starts_with("/dev/shm/");
}

}  // namespace

std::shared_ptr<ImageFile> ImageFile::create(const std::string& path, std::uint64_t size,
                                             std::uint32_t sector_size) {
  check_sector_size(sector_size);
  if (path.empty()) throw UsageError("an image path is required");
  if (is_under_dev(path)) throw UsageError(fmt::format("refusing to create an image under /dev: {}", path));
  if (size == 0 || size % sector_size != 0)
    throw UsageError(fmt::format("image size {} must be a positive multiple of the sector size {}", size, sector_size));
  if (size > std::uint64_t(std::numeric_limits<off_t>::max()))
    throw UsageError(fmt::format("image size {} is too large", size));
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw OsError(errno, path, "cannot create image");
  // ftruncate leaves a hole: the image costs only what is later written into it.
  if (::ftruncate(fd.get(), off_t(size)) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    throw OsError(err, path, "cannot size image");
  }
  return std::shared_ptr<ImageFile>(new ImageFile(fd.release(), path, size, sector_size, true));
}

std::shared_ptr<ImageFile> ImageFile::open(const std::string& path, bool writable, std::uint32_t sector_size,
                                           bool allow_device) {
  check_sector_size(sector_size);
  if (path.empty()) throw UsageError("an image path is required");
  struct stat info {};
  Fd fd;
  if (writable) {
    // What the path names is checked before it is opened for writing: a device is refused unless
    // allowed, and nothing else than a file or a device is opened at all.
    if (::stat(path.c_str(), &info) != 0) throw OsError(errno, path, "cannot open image");
  } else {
    // Read-only, it is opened first and what was opened is checked (one path lookup, not two: an
    // LDM scan opens every disk). O_NONBLOCK keeps a FIFO from blocking the open; it changes
    // nothing for regular files and block devices, the only kinds kept.
    fd = Fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0 || ::fstat(fd.get(), &info) != 0) throw OsError(errno, path, "cannot open image");
  }
  bool is_block = S_ISBLK(info.st_mode);
  if (!is_block && !S_ISREG(info.st_mode))
    throw UsageError(fmt::format("{} is neither a regular image file nor a block device", path));
  if (writable && is_block && !allow_device)
    throw UsageError(fmt::format("refusing to open the device {} for writing; pass allow_device=True to mean it", path));
  if (writable) {
    fd = Fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd.get() < 0) throw OsError(errno, path, "cannot open image");
  }
  std::uint64_t size = std::uint64_t(info.st_size);
  if (is_block) {
    if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) throw OsError(errno, path, "cannot read device size");
    int logical = 0;
    if (::ioctl(fd.get(), BLKSSZGET, &logical) == 0 && (logical == 512 || logical == 4096))
      sector_size = std::uint32_t(logical);
  }
  return std::shared_ptr<ImageFile>(new ImageFile(fd.release(), path, size, sector_size, writable));
}

ImageFile::ImageFile(int fd, std::string path, std::uint64_t size, std::uint32_t sector_size, bool writable)
    : fd_(fd), path_(std::move(path)), size_(size), sector_size_(sector_size), writable_(writable) {}

ImageFile::~ImageFile() { close(); }

void ImageFile::close() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

int ImageFile::checked_fd(const char* action) const {
  if (fd_ < 0) throw UsageError(fmt::format("cannot {} {}: the image is closed", action, path_));
  return fd_;
}

void ImageFile::do_read(std::uint64_t offset, MutableByteSpan out) {
  int fd = checked_fd("read");
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, off_t(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw OsError(errno, path_, fmt::format("read at offset {}", offset + done));
    }
    if (n == 0) throw OsError(EIO, path_, fmt::format("unexpected end of file at offset {}", offset + done));
    done += std::size_t(n);
  }
}

void ImageFile::reopen_for_writing_when_written(std::function<void()> prepare) {
  std::lock_guard lock(reopen_mutex_);
  if (!writable_) before_first_write_ = std::move(prepare);
}

void ImageFile::become_writable() {
  std::lock_guard lock(reopen_mutex_);
  if (writable_) return;
  if (!before_first_write_) throw UsageError(fmt::format("{} is open read-only", path_));
  before_first_write_();
  const int old_fd = checked_fd("write");
  Fd fd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) throw OsError(errno, path_, "cannot reopen image for writing");
  // The same file, not one put in its place since it was opened.
  struct stat was {}, now {};
  if (::fstat(old_fd, &was) != 0 || ::fstat(fd.get(), &now) != 0) throw OsError(errno, path_, "fstat");
  if (was.st_dev != now.st_dev || was.st_ino != now.st_ino)
    throw UsageError(fmt::format("{} was replaced by another file since it was opened", path_));
  if (S_ISBLK(now.st_mode))
    throw UsageError(fmt::format("refusing to open the device {} for writing; open it with allow_device=True", path_));
  // dup3 swaps the descriptor in place: a read running in another thread keeps a valid one.
  if (::dup3(fd.get(), old_fd, O_CLOEXEC) < 0) throw OsError(errno, path_, "cannot reopen image for writing");
  // The hook stays: what it captured (a machine folder's write lock) lives as long as the image.
  writable_ = true;
}

void ImageFile::do_write(std::uint64_t offset, ByteSpan data) {
  if (!writable_) become_writable();
  int fd = checked_fd("write");
  unsynced_ = true;  // before the write: a flush racing it must not skip it
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, off_t(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw OsError(errno, path_, fmt::format("write at offset {}", offset + done));
    }
    done += std::size_t(n);
  }
}

void ImageFile::start_writeback(std::uint64_t offset, std::uint64_t length) {
  // Errors are left for the flush to meet: a closed image has nothing to write back, and an I/O
  // error starting the write is what the fsync reports anyway.
  if (fd_ >= 0 && length > 0) (void)::sync_file_range(fd_, off_t(offset), off_t(length), SYNC_FILE_RANGE_WRITE);
}

bool ImageFile::copy_to(ImageFile& target, std::uint64_t offset, std::uint64_t target_offset, std::uint64_t length) {
  check_range(offset, length, "copy");
  target.check_range(target_offset, length, "copy");
  if (!target.writable()) throw UsageError(fmt::format("{} is open read-only", target.path_));
  if (!target.writable_) target.become_writable();
  const int from = checked_fd("copy"), to = target.checked_fd("copy");
  target.unsynced_ = true;
  loff_t in = loff_t(offset), out = loff_t(target_offset);
  std::uint64_t left = length;
  while (left > 0) {
    const ssize_t n = ::copy_file_range(from, &in, to, &out, std::size_t(std::min<std::uint64_t>(left, 1u << 30)), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    left -= std::uint64_t(n);
  }
  return true;
}

bool ImageFile::copy_to_host(std::uint64_t offset, std::uint64_t length, int fd, std::uint64_t fd_offset) {
  check_range(offset, length, "copy");
  const int from = checked_fd("copy");
  loff_t in = loff_t(offset), out = loff_t(fd_offset);
  for (std::uint64_t left = length; left > 0;) {
    const ssize_t n = ::copy_file_range(from, &in, fd, &out, std::size_t(std::min<std::uint64_t>(left, 1u << 30)), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    left -= std::uint64_t(n);
  }
  return true;
}

void ImageFile::flush() {
  int fd = checked_fd("flush");
  // An image not written since its last flush has nothing to make durable (an image never written
  // may be open read-only). The flag is cleared before the fsync, so a write racing it is synced
  // by the next flush, and set again if the fsync fails.
  if (!writable_ || !unsynced_.exchange(false)) return;
  if (::fsync(fd) != 0) {
    unsynced_ = true;
    throw OsError(errno, path_, "fsync");
  }
}

std::vector<Extent> ImageFile::allocated_extents() const {
  int fd = checked_fd("inspect");
  std::vector<Extent> extents;
  off_t position = 0;
  const off_t end = off_t(size_);
  while (position < end) {
    off_t data = ::lseek(fd, position, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      if (errno == EINVAL) return BlockDevice::allocated_extents();  // no hole support: all data
      throw OsError(errno, path_, "lseek(SEEK_DATA)");
    }
    if (data >= end) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) throw OsError(errno, path_, "lseek(SEEK_HOLE)");
    hole = std::min(hole, end);
    extents.push_back(Extent{std::uint64_t(data), std::uint64_t(hole - data)});
    position = hole;
  }
  return extents;
}

}  // namespace bootmirror
