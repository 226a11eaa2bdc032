// A block device that keeps only what differs from a base image: reads see the base with this
// device's own writes on top, held per sector. Each fuzz input gets a fresh overlay over one shared
// base (or over zeros), so an execution costs what it touches instead of a copy of the whole disk,
// and the overlay can tell a target whether an operation that promises only to read has written.
// (The engine's OverlayDisk, bootmirror/io.h, is the same idea for users: over any device, in
// 64 KiB chunks, thread-safe. Fuzzing wants more per execution: a zero base costing nothing,
// sector-sized copies, write and flush counts, and cheap copies of a state; hence this one.)
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "bootmirror/io.h"

namespace bootmirror::fuzz {

class SectorOverlay final : public BlockDevice {
 public:
  // Over zeros: `size` bytes, a whole number of sectors; nothing is allocated until written.
  SectorOverlay(std::uint64_t size, std::uint32_t sector_size);
  // Over `base` (a whole number of sectors), which must not change while the overlay lives.
  SectorOverlay(std::shared_ptr<const ByteVector> base, std::uint32_t sector_size);

  std::uint64_t size() const override { return size_; }
  std::uint32_t sector_size() const override { return sector_size_; }
  bool writable() const override { return true; }
  std::string name() const override { return "overlay disk"; }
  void flush() override { ++flushes_; }
  std::vector<Extent> allocated_extents() const override;

  // Calls to write() and flush() so far: a read-only operation leaves both where they were.
  std::uint64_t writes() const { return writes_; }
  std::uint64_t flushes() const { return flushes_; }
  // The sectors that differ from the base, for comparing two states of the same disk.
  const std::map<std::uint64_t, ByteVector>& changed_sectors() const { return sectors_; }
  // The whole image, base and overlay (for small disks: hashing, copying into a MemoryDisk).
  ByteVector contents() const;

 protected:
  void do_read(std::uint64_t offset, MutableByteSpan out) override;
  void do_write(std::uint64_t offset, ByteSpan data) override;

 private:
  void base_sector(std::uint64_t sector, MutableByteSpan out) const;
  void copy_out(std::uint64_t offset, MutableByteSpan out) const;

  std::shared_ptr<const ByteVector> base_;  // null: zeros
  std::uint64_t size_;
  std::uint32_t sector_size_;
  std::map<std::uint64_t, ByteVector> sectors_;
  std::uint64_t writes_ = 0, flushes_ = 0;
};

}  // namespace bootmirror::fuzz
