// A write-back crash model for the crash-consistency suite, after dm-log-writes and CrashMonkey.
//
// Real disks and page caches lose any subset of the writes issued since the last flush, and tear a
// multi-sector write at sector granularity; a file system loses file contents not yet fsynced and
// directory changes (creations, renames) not yet made durable by an fsync of the folder. A WriteLog
// records what an operation did to its devices (FaultyDisk::record_to) and to the files of a
// folder (replace_file): writes and flushes, file writes, fsyncs and renames, in the order issued.
// A CrashState is one outcome of a power cut: the log's events up to a crash point, with everything
// made durable before it, plus a chosen subset of what was still in flight (each write lost, whole,
// or torn; the pending directory changes done up to some point, in order; each unsynced file whole,
// empty or cut short).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/io.h"

namespace bootmirror {

class CrashState;

class WriteLog : public std::enable_shared_from_this<WriteLog> {
 public:
  enum class Kind { write, flush, file_write, file_sync, rename, folder_sync };
  struct Event {
    Kind kind = Kind::write;
    std::size_t device = 0;      // write, flush
    std::uint64_t offset = 0;    // write
    ByteVector data;             // write; file_write: the file's whole new contents
    std::string name, new_name;  // file events: names inside the folder (rename: from, to)
  };
  // How the in-flight part of a crash point is chosen.
  enum class Choice { none_survive, all_survive, random };

  static std::shared_ptr<WriteLog> create() { return std::shared_ptr<WriteLog>(new WriteLog()); }

  // A device joins the log; its index names it in events and in CrashState::apply.
  std::size_t add_device(std::string name, std::uint32_t sector_size);
  void record_write(std::size_t device, std::uint64_t offset, ByteSpan data);
  void record_flush(std::size_t device);
  // The steps of replacing a file of the folder, as replace_file performs them.
  void record_file_write(const std::string& name, std::string_view contents);
  void record_file_sync(const std::string& name);
  void record_rename(const std::string& from, const std::string& to);
  void record_folder_sync();

  std::size_t device_count() const;
  std::string device_name(std::size_t device) const;
  std::size_t event_count() const;
  std::size_t write_count() const;  // device writes recorded
  std::string describe_event(std::size_t index) const;

  // Where a crash is tried: before any event (0), just before every flush or sync (when what it
  // would make durable is still in flight), and after the last event.
  std::vector<std::size_t> crash_points() const;
  // One outcome of a power cut just before event `point`; `seed` picks the random subset.
  CrashState crash(std::size_t point, Choice choice, std::uint64_t seed = 0) const;
  // At every crash point: nothing in flight survives, everything does, and `random_per_point`
  // seeded random subsets; states that leave the same bytes are kept once.
  std::vector<CrashState> crash_states(std::size_t random_per_point, std::uint64_t seed) const;
  // More random subsets per crash point than anyone waits for (UsageError above it: a count
  // such as 2**63 ran, uninterruptibly, for ever).
  static constexpr std::size_t kMaxRandomPerPoint = 1 << 16;

 private:
  friend class CrashState;
  WriteLog() = default;
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, std::uint32_t>> devices_;
  std::vector<Event> events_;
};

// What a file of the folder holds after a crash.
struct FileOutcome {
  bool exists = false;
  std::string contents;
};

class CrashState {
 public:
  std::size_t point() const { return point_; }
  // What survived, in words, so that a failing state can be reproduced and understood.
  const std::string& description() const { return description_; }
  // Files of the folder the operation touched, by name, as the crash left them.
  const std::map<std::string, FileOutcome>& files() const { return files_; }
  // Number of device writes (whole or in part) that reached the disks.
  std::size_t surviving_writes() const;
  // Writes what survived onto `targets` (one per device of the log, in its order, holding the
  // devices' contents from before the operation: OverlayDisks over snapshots, or copies).
  void apply(const std::vector<DevicePtr>& targets) const;
  // Writes the file outcomes into `folder` (a copy of the folder from before the operation).
  void apply_files(const std::string& folder) const;
  // Equal for states that leave the same bytes on every device and in every file.
  std::string signature() const;

 private:
  friend class WriteLog;
  // A byte range of a recorded write that reached its device.
  struct Piece {
    std::size_t event;
    std::uint64_t skip, length;
  };
  std::shared_ptr<const WriteLog> log_;
  std::size_t point_ = 0;
  std::string description_;
  std::vector<Piece> pieces_;
  std::map<std::string, FileOutcome> files_;
  std::string signature_;
};

// Replaces `folder`/`name` crash-safely: the contents go to a temporary file that is fsynced, then
// renamed over the old file, then the folder is fsynced, so a crash at any step leaves the old
// file or the new one, whole. With a log, each step is recorded too.
void replace_file(const std::string& folder, const std::string& name, std::string_view contents,
                  WriteLog* log = nullptr);

}  // namespace bootmirror
