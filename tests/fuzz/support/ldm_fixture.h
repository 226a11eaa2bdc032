// A disk group made by the engine itself, once per process, for the LDM targets that damage one
// structure at a time: three 8 MiB MBR dynamic disks holding a mirrored, a spanned, a striped and a
// simple volume (the last with a name long enough that its record spans two VBLK slots). Built with
// fixed identities, so it is the same in every run. Its VMDBs end the VBLK area 32 slots after the
// last record (Windows makes 5924 slots, every free one stamped), so that each execution decodes
// tens of slots instead of thousands; the targets damage disk 0 and read it alone (its group's other
// disks then are missing), which keeps an execution to a few database reads.
#pragma once

#include <memory>
#include <vector>

#include "bootmirror/ldm.h"
#include "support/sector_overlay.h"

namespace bootmirror::fuzz {

struct LdmFixture {
  std::vector<std::shared_ptr<const ByteVector>> images;  // the disks as committed
  ldm::DiskDatabase database;                             // disk 0's, as read back

  // A fresh overlay over image `i`, for one input.
  std::shared_ptr<SectorOverlay> disk(std::size_t i) const;
  // XORs `change` into the disk's bytes at `offset`: a target that feeds the codec raw structures
  // (Windows' own, in its seeds) lays its input over the fixture this way, so that the empty input
  // is the fixture's valid structure and every mutation a damage to it.
  static void damage(SectorOverlay& disk, std::uint64_t offset, ByteSpan change);
  // Absolute byte offsets on disk 0 of the structures the targets replace.
  std::uint64_t config_offset() const { return database.privhead.config_start * database.sector_size; }
  std::uint64_t toc_offset(std::size_t copy) const;  // copy 0..3: config + 1, + 2, end - 3, end - 2
  std::uint64_t vmdb_offset() const;                 // the config bitmap's start
  std::uint64_t log_offset() const;                  // the log bitmap's start (KLOG)
  std::uint64_t log_bytes() const;
};

const LdmFixture& ldm_fixture();

}  // namespace bootmirror::fuzz
