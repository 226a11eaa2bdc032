// Partitioning as Windows Server 2003 does it on basic disks: convert an empty disk to GPT (with its
// Microsoft Reserved partition), create EFI/MSR/basic data partitions at the first free extent
// large enough (no 1 MiB alignment unless asked), delete with protection of EFI, MSR and LDM
// partitions, clean. Partitions are numbered 1.. in on-disk offset order, and every change writes
// the entries compacted in that order, as Windows does. No diskpart text here: failures carry a
// Reason for the shell to word.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "bootmirror/gpt.h"
#include "bootmirror/io.h"

namespace bootmirror::partitioning {

enum class Style { raw, mbr, gpt };
Style style_of(BlockDevice& disk);

class PartitioningError : public UsageError {
 public:
  enum class Reason { not_convertible, not_gpt, no_space, bad_offset, no_such_partition, protected_partition };
  PartitioningError(Reason reason, const std::string& message) : UsageError(message), reason_(reason) {}
  Reason reason() const { return reason_; }

 private:
  Reason reason_;
};

// What `create partition` makes.
enum class NewKind { efi, msr, primary };

struct CreateRequest {
  NewKind kind = NewKind::primary;
  std::optional<std::uint64_t> size;    // bytes (diskpart: size= in MB); none: the whole free extent
  std::optional<std::uint64_t> offset;  // bytes (diskpart: offset= in KB), rounded up to a sector
  std::optional<std::uint64_t> align;   // bytes (diskpart: align= in KB)
};

// Free extents inside the usable range, in offset order (first and last LBA, inclusive).
struct FreeExtent {
  std::uint64_t first_lba;
  std::uint64_t last_lba;
};
std::vector<FreeExtent> free_extents(const gpt::Table& table);
// Bytes not covered by partitions: the usable range's free extents on GPT, the whole disk when raw.
std::uint64_t free_bytes(BlockDevice& disk);

// The MSR size Windows picks: 32 MiB on disks under 16 GiB, 128 MiB otherwise.
std::uint64_t msr_size_for(std::uint64_t disk_bytes);

// `convert gpt`: the disk must hold no partitions (no MBR partitions, no GPT).
void convert_gpt(BlockDevice& disk);
// The partitions of a GPT disk in offset order (empty for a raw disk).
std::vector<gpt::Partition> partitions(BlockDevice& disk);
// Returns the new partition's number and entry.
std::pair<std::size_t, gpt::Partition> create_partition(BlockDevice& disk, const CreateRequest& request);
// EFI, MSR and LDM partitions need `override` (PartitioningError protected_partition otherwise).
void delete_partition(BlockDevice& disk, std::size_t number, bool override_protection);
// Zeroes the partitioning structures (first and last MiB of the disk): the disk becomes raw.
void clean(BlockDevice& disk);

}  // namespace bootmirror::partitioning
