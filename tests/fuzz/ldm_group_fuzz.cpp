// Assembling an LDM disk group from several disks (cpp/src/ldm/group.cpp, scan.cpp): up to three
// disks given as a sparse image (support/sparse_image.h), whose seeds are sets of the engine's own
// dynamic disks and of the real Windows Server 2003 R2 and 2008 R2 disks. Every structure of every
// disk is open to mutation: PRIVHEADs, TOCBLOCKs, VMDBs, VBLK records, KLOGs, partition tables, and
// the disks' sizes. The disks are read every way a machine reads (support/ldm_checks.h) and a
// group that reads takes a commit.
#include "support/harness.h"
#include "support/ldm_checks.h"
#include "support/sparse_image.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  SparseImage image = decode_sparse_image({reinterpret_cast<const std::byte*>(data), size}, 3);
  if (auto group = read_dynamic_disks(image.disks)) commit_round_trip(*group, image.disks);
  return 0;
}
