// The LDM PRIVHEAD (cpp/src/ldm/headers.cpp): the per-disk header at LBA 6 of an MBR dynamic disk.
// The input is that sector (zero-padded to 512 bytes), decoded by the codec; then, as a change
// (XOR) to the PRIVHEAD of disk 0 of the engine's own group (support/ldm_fixture.h), written there
// and read back every way a machine reads (support/ldm_checks.h). What must hold besides those
// checks: decode then encode is a projection.
#include <cstring>

#include "ldm/codec.h"
#include "support/harness.h"
#include "support/ldm_checks.h"
#include "support/ldm_fixture.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  ByteVector sector(512);
  std::memcpy(sector.data(), data, std::min<std::size_t>(size, sector.size()));
  ldm::PrivHead privhead;
  if (attempt([&] { privhead = ldm::detail::decode_privhead(sector, 0); })) {
    ByteVector once(512), twice(512);
    ldm::detail::encode_privhead(privhead, once);
    ldm::PrivHead again;
    require(attempt([&] { again = ldm::detail::decode_privhead(once, 0); }), "an encoded PRIVHEAD decodes");
    ldm::detail::encode_privhead(again, twice);
    require(same_bytes(once, twice), "encoding a decoded PRIVHEAD is a projection");
  }
  const LdmFixture& fixture = ldm_fixture();
  const std::vector<std::shared_ptr<SectorOverlay>> disks{fixture.disk(0)};
  LdmFixture::damage(*disks[0], fixture.database.privhead_lba * 512, sector);
  if (auto group = read_dynamic_disks(disks)) commit_round_trip(*group, disks);
  return 0;
}
