// The Machine: the computer the runbooks run on. Disks are attached by number as Windows numbers
// them; the shell's selection (diskpart's focus) lives here so that every command sees the same
// state. A machine kept in a folder records its image files (and their sector sizes) in
// machine.json, so it survives between processes.
//
// Other modules keep their state here, each its part of machine.json in a section of its own
// (section()): drive letters, the disk group (missing disks shown as M0, M1), the firmware's NVRAM
// and the boot that is running.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "bootmirror/io.h"
#include "bootmirror/json.h"

namespace bootmirror {

class FolderLock;
class RebuildWorker;
class WriteIntents;
class WriteLog;
namespace nvram {
class Store;
}

struct AttachedDisk {
  int number = 0;
  DevicePtr device;           // null when the image file could not be found (a missing disk)
  std::string image;          // as recorded in machine.json (relative to the folder when inside it)
  std::string path;           // the image's path to open; empty for disks held in memory
  std::uint32_t sector_size = 512;
  // fail_disk(): the disk is dead though its image is still there; it stays missing (across opens,
  // machine.json records it) until the same image or device is attached again.
  bool failed = false;
  DevicePtr failed_device;  // in memory: the device it was, to know it when it comes back
  bool missing() const { return device == nullptr; }
};

// What diskpart's commands act on. Partition numbers count from 1 in offset order.
struct Focus {
  std::optional<int> disk;
  std::optional<std::size_t> partition;
  std::optional<int> volume;
};

// Threads: every operation on a machine (here, in cpp/src/machine and in the shell) holds its
// lock, so threads sharing one machine take turns. Processes: a machine kept in a folder opens its
// images read-only; its first write (to an image or to machine.json) takes the folder's write
// lock, which it keeps until it is closed, so a second writer gets a UsageError naming the first.
class Machine : public std::enable_shared_from_this<Machine> {
 public:
  Machine();  // in memory: nothing is recorded
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // A new machine folder (created if absent; refused when it already holds a machine.json).
  static std::shared_ptr<Machine> create(const std::string& folder);
  // A machine folder made by create(). Its images open read-only and are reopened for writing by
  // the first operation that writes. With a log, every write and flush of its disks and every
  // step of a machine.json update are recorded there (the crash-consistency suite).
  static std::shared_ptr<Machine> open(const std::string& folder, std::shared_ptr<WriteLog> log = nullptr);

  // Attaches a device as the lowest free disk number and returns it. A machine in a folder
  // records only image files (UsageError for other devices). The image (or device) of a missing
  // disk comes back as that disk, at its number.
  int attach(DevicePtr device);
  // The disk vanishes (a dead disk, a pulled cable): it stays attached as missing, recorded so in
  // machine.json. Holders of its device keep it; what the machine hands out from now on treats
  // the disk as gone (bootmirror/dynamic.h's fail_disk also fails its plexes).
  void fail_disk(int number);
  // A missing disk whose image (or, in memory, device) the machine still knows is connected again:
  // its image found, its cable put back. UsageError when it knows none; OsError when the image
  // cannot be opened.
  void reconnect(int number);
  // A new disk takes the place (the number) of disk `number`, which becomes missing under the
  // lowest free number; returns that number. `renumber` runs before machine.json is written, so
  // that other sections keyed by disk number move with it in the same crash-safe save.
  int replace_disk(int number, DevicePtr device, const std::function<void(int moved_to)>& renumber);
  // A disk known only as gone (a dynamic disk diskpart's clean wiped, which its group still
  // lists): missing for good, with no image to connect, under the lowest free number, returned.
  // `record` runs before machine.json is written, as replace_disk's `renumber` does.
  int add_gone_disk(std::uint32_t sector_size, const std::function<void(int number)>& record);
  // Creates a sparse image in the folder (disk<N>.img unless named) and attaches it.
  int create_disk(std::uint64_t size, std::uint32_t sector_size = 512, const std::string& name = "");
  void detach(int number);
  // A machine in memory with this one's disks as they are now (each present disk an OverlayDisk
  // over this machine's device, missing and failed ones as they are, at the same numbers) and its
  // machine.json sections: what it writes stays in its overlays, so a what-if (a disk pulled, a
  // restart) plays out on it and leaves this machine as it was. Its background rebuilds are held
  // (speed 0): a copy never copies a plex. The NVRAM is the firmware layer's to copy.
  std::shared_ptr<Machine> scratch_copy() const;

  const std::map<int, AttachedDisk>& disks() const { return disks_; }
  const AttachedDisk& disk(int number) const;  // UsageError when no such disk
  bool has_disk(int number) const { return disks_.count(number) != 0; }
  // Windows numbers missing disks apart, M0, M1, ... in the order of the disks: the index of
  // missing disk `number` among them, and the disk number of missing disk M<index>.
  std::optional<int> missing_index(int number) const;
  std::optional<int> missing_disk(int index) const;

  Focus& focus() { return focus_; }
  const Focus& focus() const { return focus_; }

  const std::optional<std::string>& folder() const { return folder_; }
  // The OEM code page Windows on this machine uses for FAT short names and labels ("cp437", the
  // default; "cp850" on many European installations). Kept in machine.json.
  std::string oem_codepage() const;
  void set_oem_codepage(const std::string& codepage);  // UsageError for a page FAT does not know

  // Other modules' state in machine.json, by name; call save() after changing it.
  Json& section(const std::string& name) { return sections_[name]; }
  // machine.json's text as this machine would write it.
  std::string document() const;
  // Rewrites machine.json crash-safely (replace_file: a temporary file fsynced, renamed over the
  // old one, the folder fsynced). No-op in memory.
  void save();

  // The devices of the dynamic volumes opened since the machine started, by volume GUID:
  // bootmirror/dynamic.h hands out one device per volume and keeps it current as the disk group
  // changes, so a file system mounted on a mirror follows its plexes, and a plex that failed (an
  // I/O error) stays failed for as long as the machine runs, as it does in a running Windows.
  std::map<std::string, std::shared_ptr<BlockDevice>>& live_volumes() { return live_volumes_; }

  // The machine's NVRAM store once opened or created (bootmirror/firmware.h does both).
  std::shared_ptr<nvram::Store>& nvram_store() { return nvram_store_; }
  // The log that records this machine's writes (Machine::open's), or null.
  const std::shared_ptr<WriteLog>& write_log() const { return log_; }

  // The thread that copies mirror rebuilds in the background (bootmirror/dynamic.h).
  RebuildWorker& rebuild_worker() { return *rebuild_worker_; }
  // The write-intent bitmaps of plexes that are behind (kept in the folder, or in memory).
  std::shared_ptr<WriteIntents> write_intents();

  // Held by every operation (recursive: operations call each other).
  std::unique_lock<std::recursive_mutex> hold() const { return std::unique_lock(mutex_); }
  // Before the first write to the folder or its images: takes the folder's write lock. UsageError
  // when another process (or another Machine object) holds it, or when machine.json changed since
  // this machine read it (another process wrote it in between: open the machine again).
  void prepare_write();
  // Stops the background rebuild at its next chunk (it resumes from its last checkpoint when the
  // machine is used again), releases the folder's write lock and closes the images; the machine
  // is unusable afterwards. Call without holding the machine's lock.
  void close();
  bool closed() const { return closed_; }

 private:
  std::string json_path() const;
  DevicePtr open_image(const std::string& path, std::uint32_t sector_size);
  AttachedDisk describe(DevicePtr device) const;  // a device as it would be attached
  std::map<int, AttachedDisk>::iterator find_same(const AttachedDisk& disk);  // same device or image
  int lowest_free_number() const;

  std::optional<std::string> folder_;
  std::map<int, AttachedDisk> disks_;
  std::map<std::string, Json> sections_;
  std::map<std::string, std::shared_ptr<BlockDevice>> live_volumes_;
  std::shared_ptr<nvram::Store> nvram_store_;
  Focus focus_;
  mutable std::recursive_mutex mutex_;
  std::shared_ptr<FolderLock> folder_lock_;  // shared with the images' first-write hooks
  std::shared_ptr<WriteLog> log_;
  std::shared_ptr<WriteIntents> write_intents_;
  std::atomic<bool> closed_ = false;
  // Last: destroyed (its thread joined) first, while everything it uses is still there.
  std::unique_ptr<RebuildWorker> rebuild_worker_;
};

}  // namespace bootmirror
