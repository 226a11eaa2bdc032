#include <cerrno>
#include <cstdint>

#include <fmt/format.h>

#include "bootmirror/io.h"
#include "bootmirror/write_log.h"

namespace bootmirror {

FaultyDisk::FaultyDisk(DevicePtr inner) : inner_(std::move(inner)) {
  if (!inner_) throw UsageError("FaultyDisk needs a device to wrap");
}

void FaultyDisk::fail_range(std::uint64_t offset, std::uint64_t length, Access access) {
  std::lock_guard lock(mutex_);
  faults_.push_back(Fault{Extent{offset, length}, access});
}

void FaultyDisk::clear_faults() {
  std::lock_guard lock(mutex_);
  faults_.clear();
}

void FaultyDisk::cut_power_after(std::uint64_t writes) {
  std::lock_guard lock(mutex_);
  // Saturating: a budget past 2^64 writes is one the disk never reaches.
  power_budget_ = writes > UINT64_MAX - writes_seen_ ? UINT64_MAX : writes_seen_ + writes;
}

bool FaultyDisk::power_lost() const {
  std::lock_guard lock(mutex_);
  return power_budget_ && writes_seen_ > *power_budget_;
}

std::uint64_t FaultyDisk::writes_seen() const {
  std::lock_guard lock(mutex_);
  return writes_seen_;
}

std::uint64_t FaultyDisk::writes_applied() const {
  std::lock_guard lock(mutex_);
  return writes_applied_;
}

void FaultyDisk::set_missing(bool missing) {
  std::lock_guard lock(mutex_);
  missing_ = missing;
}

bool FaultyDisk::missing() const {
  std::lock_guard lock(mutex_);
  return missing_;
}

std::size_t FaultyDisk::record_to(std::shared_ptr<WriteLog> log) {
  if (!log) throw UsageError("record_to needs a write log");
  std::lock_guard lock(mutex_);
  log_device_ = log->add_device(inner_->name(), inner_->sector_size());
  log_ = std::move(log);
  return log_device_;
}

void FaultyDisk::check_faults(std::uint64_t offset, std::size_t length, Access access) const {
  if (missing_) throw OsError(ENODEV, inner_->name(), "the disk is missing");
  for (const Fault& f : faults_) {
    bool kind = f.access == Access::both || f.access == access;
    bool overlaps = offset < f.range.offset + f.range.length && f.range.offset < offset + length;
    if (kind && overlaps)
      throw OsError(EIO, inner_->name(),
                    fmt::format("injected {} error at offset {}", access == Access::read ? "read" : "write", offset));
  }
}

void FaultyDisk::do_read(std::uint64_t offset, MutableByteSpan out) {
  {
    std::lock_guard lock(mutex_);
    check_faults(offset, out.size(), Access::read);
  }
  inner_->read(offset, out);
}

void FaultyDisk::do_write(std::uint64_t offset, ByteSpan data) {
  {
    std::lock_guard lock(mutex_);
    check_faults(offset, data.size(), Access::write);
    ++writes_seen_;
    // After the cut the disk has no power: the write vanishes without an error, as it would for
    // software that has not yet noticed.
    if (power_budget_ && writes_seen_ > *power_budget_) return;
    ++writes_applied_;
  }
  inner_->write(offset, data);
  // Recorded once it reached the disk: a write that failed never happened.
  if (log_) log_->record_write(log_device_, offset, data);
}

void FaultyDisk::flush() {
  {
    std::lock_guard lock(mutex_);
    if (missing_) throw OsError(ENODEV, inner_->name(), "the disk is missing");
    if (power_budget_ && writes_seen_ > *power_budget_) return;
  }
  inner_->flush();
  if (log_) log_->record_flush(log_device_);
}

std::vector<Extent> FaultyDisk::allocated_extents() const {
  {
    std::lock_guard lock(mutex_);
    if (missing_) throw OsError(ENODEV, inner_->name(), "the disk is missing");
  }
  return inner_->allocated_extents();
}

}  // namespace bootmirror
