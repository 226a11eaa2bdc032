// Block devices: everything in bootmirror reads and writes through this interface. A disk image
// file is one, a partition is a Slice of one, and (later) a mirrored volume is one too, so file
// systems and tables work the same on any of them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "bootmirror/aligned_buffer.h"
#include "bootmirror/bytes.h"
#include "bootmirror/progress.h"

namespace bootmirror {

struct Extent {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool operator==(const Extent&) const = default;
};

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual std::uint64_t size() const = 0;
  virtual std::uint32_t sector_size() const = 0;
  virtual bool writable() const = 0;
  // A name for messages: the image path, "memory disk", "slice of ...".
  virtual std::string name() const = 0;

  // Byte-addressed I/O. The whole range must lie inside the device (UsageError otherwise);
  // reads fill `out` completely or throw.
  void read(std::uint64_t offset, MutableByteSpan out);
  void write(std::uint64_t offset, ByteSpan data);
  ByteVector read(std::uint64_t offset, std::size_t length);
  virtual void flush() = 0;

  // The ranges that hold data (sparse files leave holes out). Sorted and disjoint.
  virtual std::vector<Extent> allocated_extents() const;

  // Copies `length` bytes at `offset` into the host file `fd` at `fd_offset` without passing them
  // through user space (copy_file_range, as cp does), when the device is a file or a window of one.
  // False when it did not copy it all (another kind of device, a file system or kernel that will
  // not): the caller then copies through a buffer, which also tells which side failed. The range
  // must lie inside the device.
  virtual bool copy_to_host(std::uint64_t offset, std::uint64_t length, int fd, std::uint64_t fd_offset);

  // Asks for [offset, offset+length), just written, to start on its way to the disk now, without
  // waiting for it (sync_file_range's SYNC_FILE_RANGE_WRITE on an image file). A bulk writer that
  // calls this after each large write finds most of its data already written when it flushes at
  // its end, so the disk's work overlaps its own. A hint, not a flush: nothing becomes durable
  // that flush() would not make so, and a failure shows at the flush. Others do nothing.
  virtual void start_writeback(std::uint64_t offset, std::uint64_t length) {
    (void)offset;
    (void)length;
  }

  std::uint64_t sector_count() const { return size() / sector_size(); }
  // UsageError unless [offset, offset+length) lies inside the device; `action` names the access.
  void check_range(std::uint64_t offset, std::uint64_t length, const char* action) const;

 protected:
  virtual void do_read(std::uint64_t offset, MutableByteSpan out) = 0;
  virtual void do_write(std::uint64_t offset, ByteSpan data) = 0;

};

using DevicePtr = std::shared_ptr<BlockDevice>;

// Checks a sector size: 512 or 4096 (4Kn), UsageError otherwise.
void check_sector_size(std::uint32_t sector_size);

// A raw disk image file, or (when explicitly allowed) a block device under /dev.
class ImageFile final : public BlockDevice {
 public:
  // Creates a new sparse image; refuses an existing path (FileExistsError) and paths under /dev.
  static std::shared_ptr<ImageFile> create(const std::string& path, std::uint64_t size,
                                           std::uint32_t sector_size = 512);
  // Opens an existing image, read-only unless `writable`. A block device may be opened for
  // writing only with `allow_device`; its size and sector size come from the kernel.
  static std::shared_ptr<ImageFile> open(const std::string& path, bool writable = false,
                                         std::uint32_t sector_size = 512, bool allow_device = false);

  ImageFile(const ImageFile&) = delete;
  ImageFile& operator=(const ImageFile&) = delete;
  ~ImageFile() override;

  std::uint64_t size() const override { return size_; }
  std::uint32_t sector_size() const override { return sector_size_; }
  // True for an image opened writable, and for a read-only one that may be reopened for writing.
  bool writable() const override { return writable_ || bool(before_first_write_); }
  std::string name() const override { return path_; }
  const std::string& path() const { return path_; }
  // fsync, when this image was written since its last flush (a flush with nothing written is
  // free: an idle fsync still waits on the disk's cache flush, milliseconds on a busy one).
  void flush() override;
  std::vector<Extent> allocated_extents() const override;
  bool copy_to_host(std::uint64_t offset, std::uint64_t length, int fd, std::uint64_t fd_offset) override;
  void start_writeback(std::uint64_t offset, std::uint64_t length) override;
  void close();
  bool closed() const { return fd_ < 0; }
  // An image opened read-only becomes writable on its first write: `prepare` runs first (it may
  // refuse with an exception, and then nothing is written), then the file is reopened for writing.
  // `prepare` (and what it holds) is kept as long as the image. A machine opens its images this
  // way, so that reading never needs its folder's write lock.
  void reopen_for_writing_when_written(std::function<void()> prepare);
  // Copies `length` bytes at `offset` into `target` at `target_offset` inside the kernel
  // (copy_file_range: nothing passes through user space). False when the kernel did not copy it
  // all (another file system, an error on either side): the caller then copies through a buffer,
  // which also tells which side failed. Both ranges must lie inside their images.
  bool copy_to(ImageFile& target, std::uint64_t offset, std::uint64_t target_offset, std::uint64_t length);

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override;
  void do_write(std::uint64_t offset, ByteSpan data) override;

 private:
  ImageFile(int fd, std::string path, std::uint64_t size, std::uint32_t sector_size, bool writable);
  int checked_fd(const char* action) const;
  void become_writable();

  int fd_;
  std::string path_;
  std::uint64_t size_;
  std::uint32_t sector_size_;
  std::atomic<bool> writable_;
  std::atomic<bool> unsynced_{false};  // written since the last fsync
  std::mutex reopen_mutex_;
  std::function<void()> before_first_write_;
};

// A disk held in memory, for tests and scratch work.
class MemoryDisk final : public BlockDevice {
 public:
  MemoryDisk(std::uint64_t size, std::uint32_t sector_size = 512);
  std::uint64_t size() const override { return bytes_.size(); }
  std::uint32_t sector_size() const override { return sector_size_; }
  bool writable() const override { return true; }
  std::string name() const override { return "memory disk"; }
  void flush() override {}
  std::vector<Extent> allocated_extents() const override;

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override;
  void do_write(std::uint64_t offset, ByteSpan data) override;

 private:
  ByteVector bytes_;
  std::uint32_t sector_size_;
  // Reads may meet writes from other threads, as on an image file (a volume's reads and a mirror
  // rebuild's compare take no write lock): the kernel keeps a pread from a pwrite in flight, and
  // this lock does here.
  mutable std::shared_mutex mutex_;
};

// A window [offset, offset+length) of another device: a partition.
class Slice final : public BlockDevice {
 public:
  Slice(DevicePtr parent, std::uint64_t offset, std::uint64_t length);
  std::uint64_t size() const override { return length_; }
  std::uint32_t sector_size() const override { return parent_->sector_size(); }
  bool writable() const override { return parent_->writable(); }
  std::string name() const override;
  void flush() override { parent_->flush(); }
  std::vector<Extent> allocated_extents() const override;
  bool copy_to_host(std::uint64_t offset, std::uint64_t length, int fd, std::uint64_t fd_offset) override {
    return parent_->copy_to_host(offset_ + offset, length, fd, fd_offset);
  }
  void start_writeback(std::uint64_t offset, std::uint64_t length) override { parent_->start_writeback(offset_ + offset, length); }
  const DevicePtr& parent() const { return parent_; }
  std::uint64_t offset() const { return offset_; }

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override;
  void do_write(std::uint64_t offset, ByteSpan data) override;

 private:
  DevicePtr parent_;
  std::uint64_t offset_;
  std::uint64_t length_;
};

// Writes `length` zero bytes at `offset` (a megabyte at a time, from one shared buffer), each
// megabyte counted on `meter` when there is one.
void write_zeros(BlockDevice& device, std::uint64_t offset, std::uint64_t length, ProgressMeter* meter = nullptr);

// Where a boot sector's "hidden sectors" field says its volume starts: a slice's offset on its
// disk in sectors (clamped to 32 bits), 0 for any other device.
std::uint32_t hidden_sectors_of(const BlockDevice& device);

// One header's bytes (a sector or a few) read from a device: held inline up to 4 KiB, the largest
// sector, so that a decode reading a header per structure allocates nothing for it (an LDM group
// read reads four to six a disk). Longer reads take a vector. Not copyable: use it where it is read.
class SectorRead {
 public:
  static constexpr std::size_t kInline = 4096;
  SectorRead(BlockDevice& device, std::uint64_t offset, std::size_t length);
  SectorRead(const SectorRead&) = delete;
  SectorRead& operator=(const SectorRead&) = delete;
  ByteSpan span() const { return {data_, length_}; }
  operator ByteSpan() const { return span(); }

 private:
  alignas(64) std::byte inline_[kInline];  // not zero-filled: read whole before use
  ByteVector heap_;
  const std::byte* data_;
  std::size_t length_;
};

// A read-only view of `base` for one decode that keeps the 4 KiB pages its small reads touch.
// Decoders read their headers a sector at a time and those sectors mostly share pages (an LDM
// scan: the MBR, GPT header and MBR PRIVHEAD in the first page; two TOCBLOCKs and a PRIVHEAD copy
// in the config area's last), so each page costs one read of the base instead of one per sector.
// Reads of a page or more go to the base as they are. It never writes, and a page once kept does
// not see later writes to the base: use it for the length of one read-only decode.
class PageCachedReads final : public BlockDevice {
 public:
  explicit PageCachedReads(BlockDevice& base) : base_(base) {}
  ~PageCachedReads() override;
  PageCachedReads(const PageCachedReads&) = delete;
  PageCachedReads& operator=(const PageCachedReads&) = delete;
  std::uint64_t size() const override { return base_.size(); }
  std::uint32_t sector_size() const override { return base_.sector_size(); }
  bool writable() const override { return false; }
  std::string name() const override { return base_.name(); }
  void flush() override {}

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override;
  void do_write(std::uint64_t offset, ByteSpan data) override;

 private:
  static constexpr std::uint64_t kPage = 4096;
  static constexpr std::size_t kPages = 16;  // the most kept; a decode touches fewer
  ByteSpan page(std::uint64_t index);
  BlockDevice& base_;
  // The kept pages in one buffer, taken on the first read (from those that ended on this thread,
  // when there is one) and never zero-filled (each slot is read whole before use): slot i holds
  // page index_[i], length_[i] bytes of it.
  AlignedBuffer slots_;
  std::uint64_t index_[kPages] = {};
  std::uint32_t length_[kPages] = {};
  std::size_t used_ = 0;  // slots holding a page
  std::size_t next_ = 0;  // the slot a new page takes once all are used
};

// A copy-on-write view of another device: reads see the base, writes stay in memory (in chunks
// copied from the base on first write). The base is never written and may be read-only. For
// crash states, dry runs and what-if checks on disks that must not change.
class OverlayDisk final : public BlockDevice {
 public:
  explicit OverlayDisk(DevicePtr base);
  std::uint64_t size() const override { return base_->size(); }
  std::uint32_t sector_size() const override { return base_->sector_size(); }
  bool writable() const override { return true; }
  std::string name() const override;
  void flush() override {}
  std::vector<Extent> allocated_extents() const override;
  const DevicePtr& base() const { return base_; }
  // Bytes held in memory.
  std::uint64_t overlay_bytes() const;
  // The ranges whose contents differ from the base's, widened to whole `granule`s (sectors) and
  // merged, in offset order: what writing the overlay back would write (a dry run's report).
  // UsageError for a granule that is not a power of two up to kChunk.
  std::vector<Extent> changed_extents(std::uint32_t granule) const;

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override;
  void do_write(std::uint64_t offset, ByteSpan data) override;

 private:
  static constexpr std::uint64_t kChunk = 64 * 1024;
  ByteVector& chunk_for_write(std::uint64_t index);
  DevicePtr base_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, ByteVector> chunks_;  // chunk index -> its bytes
};

class WriteLog;

// Fault injection around another device: I/O errors on chosen byte ranges, a power cut after N
// writes (later writes are dropped silently, as a disk losing power mid-sequence would), a disk
// that is missing altogether (every access fails with ENODEV), and the recording of every write
// and flush into a WriteLog for the write-back crash model (bootmirror/write_log.h).
class FaultyDisk final : public BlockDevice {
 public:
  enum class Access { read, write, both };

  explicit FaultyDisk(DevicePtr inner);
  std::uint64_t size() const override { return inner_->size(); }
  std::uint32_t sector_size() const override { return inner_->sector_size(); }
  bool writable() const override { return inner_->writable(); }
  std::string name() const override { return inner_->name(); }
  void flush() override;
  std::vector<Extent> allocated_extents() const override;

  void fail_range(std::uint64_t offset, std::uint64_t length, Access access = Access::both);
  void clear_faults();
  // Writes number 0..n-1 reach the disk; from write n on, every write is dropped.
  void cut_power_after(std::uint64_t writes);
  bool power_lost() const;
  std::uint64_t writes_seen() const;
  std::uint64_t writes_applied() const;
  void set_missing(bool missing);
  bool missing() const;
  const DevicePtr& inner() const { return inner_; }
  // From now on every write and flush that reaches the inner device is also recorded in `log`,
  // as its device number returned here.
  std::size_t record_to(std::shared_ptr<WriteLog> log);

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override;
  void do_write(std::uint64_t offset, ByteSpan data) override;

 private:
  struct Fault {
    Extent range;
    Access access;
  };
  void check_faults(std::uint64_t offset, std::size_t length, Access access) const;

  DevicePtr inner_;
  mutable std::mutex mutex_;
  std::vector<Fault> faults_;
  std::optional<std::uint64_t> power_budget_;
  std::uint64_t writes_seen_ = 0;
  std::uint64_t writes_applied_ = 0;
  bool missing_ = false;
  std::shared_ptr<WriteLog> log_;
  std::size_t log_device_ = 0;
};

}  // namespace bootmirror
