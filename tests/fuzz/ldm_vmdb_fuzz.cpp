// The LDM VMDB (cpp/src/ldm/headers.cpp): the database header at the start of the config area,
// which says how many VBLK slots follow, their size, and the committed sequence and record counts.
// The input is that sector (zero-padded to 512 bytes), decoded by the codec; then, as a change
// (XOR) to the VMDB of disk 0 of the engine's own group (support/ldm_fixture.h), written there and
// read back every way a machine reads (support/ldm_checks.h). What must hold besides those checks:
// decode then encode is a projection.
#include <cstring>

#include "ldm/codec.h"
#include "support/harness.h"
#include "support/ldm_checks.h"
#include "support/ldm_fixture.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

namespace {
// The config bitmap of every Windows database (1481 sectors): the VBLK slots must fit in it.
constexpr std::uint64_t kAreaBytes = 1481 * 512;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  ByteVector sector(512);
  std::memcpy(sector.data(), data, std::min<std::size_t>(size, sector.size()));
  ldm::Vmdb vmdb;
  if (attempt([&] { vmdb = ldm::detail::decode_vmdb(sector, 0, kAreaBytes); })) {
    ByteVector once(512), twice(512);
    ldm::detail::encode_vmdb(vmdb, once);
    ldm::Vmdb again;
    require(attempt([&] { again = ldm::detail::decode_vmdb(once, 0, kAreaBytes); }), "an encoded VMDB decodes");
    ldm::detail::encode_vmdb(again, twice);
    require(same_bytes(once, twice), "encoding a decoded VMDB is a projection");
  }
  const LdmFixture& fixture = ldm_fixture();
  const std::vector<std::shared_ptr<SectorOverlay>> disks{fixture.disk(0)};
  LdmFixture::damage(*disks[0], fixture.vmdb_offset(), sector);
  if (auto group = read_dynamic_disks(disks)) commit_round_trip(*group, disks);
  return 0;
}
