// The Machine: the computer the runbooks run on. Disks are attached by number as Windows numbers
// them; the shell's selection (diskpart's focus) lives here so that every command sees the same
// state. A machine kept in a folder records its image files (and their sector sizes) in
// machine.json, so it survives between processes.
//
// Later issues hang more state here: volumes and drive letters, dynamic disks (missing disks shown
// as M0, M1), NVRAM. Each keeps its part of machine.json in a section of its own (section()).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "bootmirror/io.h"
#include "bootmirror/json.h"

namespace bootmirror {

struct AttachedDisk {
  int number = 0;
  DevicePtr device;           // null when the image file could not be found (a missing disk)
  std::string image;          // as recorded in machine.json (relative to the folder when inside it)
  std::string path;           // the image's path to open; empty for disks held in memory
  std::uint32_t sector_size = 512;
  bool missing() const { return device == nullptr; }
};

// What diskpart's commands act on. Partition numbers count from 1 in offset order.
struct Focus {
  std::optional<int> disk;
  std::optional<std::size_t> partition;
  std::optional<int> volume;
};

class Machine {
 public:
  Machine() = default;  // in memory: nothing is recorded
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // A new machine folder (created if absent; refused when it already holds a machine.json).
  static std::shared_ptr<Machine> create(const std::string& folder);
  // A machine folder made by create(): its images are opened writable.
  static std::shared_ptr<Machine> open(const std::string& folder);

  // Attaches a device as the lowest free disk number and returns it. A machine in a folder
  // records only image files (UsageError for other devices).
  int attach(DevicePtr device);
  // Creates a sparse image in the folder (disk<N>.img unless named) and attaches it.
  int create_disk(std::uint64_t size, std::uint32_t sector_size = 512, const std::string& name = "");
  void detach(int number);

  const std::map<int, AttachedDisk>& disks() const { return disks_; }
  const AttachedDisk& disk(int number) const;  // UsageError when no such disk
  bool has_disk(int number) const { return disks_.count(number) != 0; }

  Focus& focus() { return focus_; }
  const Focus& focus() const { return focus_; }

  const std::optional<std::string>& folder() const { return folder_; }
  // Other modules' state in machine.json, by name; call save() after changing it.
  Json& section(const std::string& name) { return sections_[name]; }
  // Rewrites machine.json (to a temporary file, then renamed over the old one). No-op in memory.
  void save() const;

 private:
  std::string json_path() const;

  std::optional<std::string> folder_;
  std::map<int, AttachedDisk> disks_;
  std::map<std::string, Json> sections_;
  Focus focus_;
};

}  // namespace bootmirror
