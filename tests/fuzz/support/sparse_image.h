// The input format of the whole-disk targets (gpt, fat_dir, ldm_group, ...): one to three disks
// described by the sectors that hold something, so that a 50 MiB Windows dynamic disk is a few
// kilobytes of input and a mutation that moves a run relocates a structure.
//   byte 0     bit 0: 4096-byte sectors (else 512); bits 1-2: number of disks - 1 (at most 3,
//              and at most what the target asks for)
//   then       per disk, u32 LE: its size in sectors, clamped to 16 sectors .. 256 MiB
//   then runs  to the end of the input: u8 disk (modulo the count), u32 LE first sector, u16 LE
//              sector count n, n sectors of data. A run cut short by the end of the input writes
//              what is there; sectors past the end of its disk are dropped.
// tests/fuzz/make_corpus.py writes the same format (its sparse_image function).
#pragma once

#include <memory>
#include <vector>

#include "support/sector_overlay.h"

namespace bootmirror::fuzz {

inline constexpr std::uint64_t kMaxSparseDiskBytes = 256ull << 20;

struct SparseImage {
  std::uint32_t sector_size = 512;
  std::vector<std::shared_ptr<SectorOverlay>> disks;  // over zeros, holding the runs
};

SparseImage decode_sparse_image(ByteSpan input, std::size_t max_disks = 3);

}  // namespace bootmirror::fuzz
