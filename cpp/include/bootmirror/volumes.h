// Basic volumes and drive letters on a Machine, as Windows' mount manager keeps them: the basic
// data partitions of every disk (and the EFI system partitions that were given a letter), numbered
// in disk and partition order, and the letters assigned to them, recorded in the machine folder's
// machine.json (section "drive_letters") so they last between processes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bootmirror/fat.h"
#include "bootmirror/gpt.h"
#include "bootmirror/machine.h"

namespace bootmirror {

struct BasicVolume {
  int number = 0;              // "Volume ###" in list volume
  int disk = 0;
  std::size_t partition = 0;   // 1.. in offset order, as list partition numbers them
  std::uint64_t offset = 0;    // bytes from the start of the disk
  std::uint64_t size = 0;
  gpt::Kind kind = gpt::Kind::basic_data;
  std::optional<char> letter;  // 'S'
};

std::vector<BasicVolume> basic_volumes(Machine& machine);

// The machine's CD-ROM drives by letter (no disc in them: list volume shows each as "CD-ROM 0 B
// Healthy"), numbered in list volume after the dynamic volumes and before the basic ones, as
// Windows numbers them. Kept in machine.json's "cdrom_drives".
std::vector<char> cdrom_drives(Machine& machine);
// UsageError when the letter is not A-Z or is taken.
void add_cdrom_drive(Machine& machine, char letter);
// The volume with this drive letter ("s", "S:", "s:\\"), or nullopt.
std::optional<BasicVolume> volume_by_letter(Machine& machine, std::string_view drive);
// The volume on this disk's partition (1..), or nullopt when it is not a volume.
std::optional<BasicVolume> volume_of_partition(Machine& machine, int disk, std::size_t partition);
// The disk's EFI system partition (the first, if it has several), basic disk or dynamic; nullopt
// when it has none.
std::optional<BasicVolume> esp_of_disk(Machine& machine, int disk);
// The volume's bytes as a device: a Slice of its disk.
DevicePtr volume_device(Machine& machine, const BasicVolume& volume);

// Letters: UsageError when the letter is taken or not A-Z; the partition must be a volume or an
// EFI system partition (Windows mounts those on request).
void assign_letter(Machine& machine, int disk, std::size_t partition, char letter);
// The next free letter from C:, as diskpart's assign without letter= picks it.
char next_free_letter(Machine& machine);
void remove_letter(Machine& machine, int disk, std::size_t partition);
// The letters dynamic volumes hold (their drive hints in the disk group).
std::set<char> dynamic_volume_letters(Machine& machine);
// The letters assigned to basic volumes on `disk`, by the volume's byte offset, and their release:
// converting a disk to dynamic moves them into the disk group as the volumes' drive hints.
std::map<std::uint64_t, char> letters_on_disk(Machine& machine, int disk);
void release_letter(Machine& machine, char letter);

// The file system on a volume's bytes, as list volume shows it: "FAT32", "FAT" (FAT12/16) or "NTFS",
// and the label, read with the machine's OEM code page; nullopt when the volume holds none of them.
struct VolumeFileSystem {
  std::string name;
  std::string label;
};
std::optional<VolumeFileSystem> file_system_on(Machine& machine, const DevicePtr& volume);
// The same outside a machine, with FAT names in `codepage`.
std::optional<VolumeFileSystem> file_system_on(const DevicePtr& volume, const std::string& codepage);

// The bytes behind a drive letter: a basic volume's partition, or a dynamic volume's device (every
// plex of a mirror); nullptr when no volume has the letter.
DevicePtr drive_device(Machine& machine, std::string_view drive);
// The bytes of list volume's "Volume N": a dynamic volume's device (they are numbered first), or a
// basic volume's partition; nullptr for a CD-ROM drive's number or a number no volume has.
DevicePtr listed_volume_device(Machine& machine, std::size_t number);

// The FAT file system on the volume with this letter, shared while anyone holds it so that every
// caller sees the same cached FAT and folders; FormatError when the volume holds no FAT.
std::shared_ptr<fat::Volume> mount_fat(Machine& machine, std::string_view drive);
// The FAT file system on the disk's EFI system partition, with or without a letter, shared as
// mount_fat's (the same volume object when the ESP also has a letter); UsageError when the disk
// has no ESP, FormatError when it holds no FAT.
std::shared_ptr<fat::Volume> mount_esp(Machine& machine, int disk);
// Forgets a mounted FAT volume (format calls it: the old one no longer describes the disk).
void unmount_fat(Machine& machine, std::string_view drive);

}  // namespace bootmirror
