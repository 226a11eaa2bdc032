// The write-intent bitmaps of the machine's mirrors (bootmirror/mirror.h's WriteIntent): one per
// plex that is behind, by volume and disk GUID. A machine in a folder keeps each in a file of its
// own there ("write-intent-<volume>-<disk>.bin", replaced crash-safely by replace_file and recorded
// in the machine's write log), beside machine.json and never on the disks; one in memory keeps
// them here. Volume devices mark them from their write path, so this takes no machine lock.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bootmirror/mirror.h"

namespace bootmirror {

class FolderLock;
class WriteLog;

class WriteIntents {
 public:
  // `lock` is the folder's write lock: each change takes it first, so that a machine refused the
  // folder (another writer holds it) never replaces that writer's bitmaps with its older ones.
  WriteIntents(std::optional<std::string> folder, std::shared_ptr<FolderLock> lock, std::shared_ptr<WriteLog> log)
      : folder_(std::move(folder)), lock_(std::move(lock)), log_(std::move(log)) {}

  // Before a write that the plex on `disk` misses: sets the bits of its regions, durably (the
  // file is rewritten when a bit was clear). A plex being copied in full (full_copy) needs none.
  void mark(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes, std::uint64_t offset, std::uint64_t length);
  // What the plex on `disk` missed: nullopt when nothing (no bitmap, or a clean one); every byte
  // of the volume when its bitmap cannot be read or describes something else.
  std::optional<std::vector<Extent>> behind(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes);
  // The plex was copied back in: its bitmap is cleared (a clean one replaces it, durably), if
  // `still_in_sync` says yes when asked under the bitmaps' lock: a plex that failed again since
  // marks its misses after that, never into a bitmap about to be cleared.
  void clear(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes,
             const std::function<bool()>& still_in_sync = [] { return true; });
  // The plex on `disk` is behind from now on (its disk failed): its bitmap file is made now, clean
  // if there was none, so that the file is there before machine.json says it must be (expect).
  void track(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes);
  // The bitmaps machine.json says exist: one of them not found (deleted, a folder copied in part)
  // reads as unreadable, and its plex is copied whole, never left with what it missed.
  void expect(std::set<std::pair<Guid, Guid>> volume_and_disk);
  // Whether the plex on `disk` is being copied in full from a recorded checkpoint (add disk=N):
  // what it misses above the copy's cursor is copied anyway, so nothing is marked for it.
  void full_copy(const Guid& volume, const Guid& disk, bool copying);

 private:
  std::string key(const Guid& volume, const Guid& disk) const;
  // The bitmap as loaded (or fresh); `unreadable` set when the file could not be used.
  mirror::WriteIntent& load(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes, bool* unreadable);
  void store(const mirror::WriteIntent& intent);
  // Before a change to a bitmap in memory or in the folder: the folder's lock (UsageError when
  // another writer holds it or the machine is closed).
  void prepare_change();

  std::optional<std::string> folder_;
  std::shared_ptr<FolderLock> lock_;
  std::shared_ptr<WriteLog> log_;
  std::mutex mutex_;
  std::map<std::string, mirror::WriteIntent> loaded_;
  std::set<std::string> unreadable_, full_copies_, expected_;
};

}  // namespace bootmirror
