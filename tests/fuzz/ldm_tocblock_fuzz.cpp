// The LDM TOCBLOCK (cpp/src/ldm/headers.cpp): the table of the database's two areas, kept in four
// places (config + 1, + 2, end - 3, end - 2). The input is up to four 512-byte sectors (the last
// zero-padded), one per place, each decoded by the codec; then, as changes (XOR) to the four
// TOCBLOCK places of disk 0 of the engine's own group (support/ldm_fixture.h), written there and
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

// Windows' database: 2048 sectors (the TOCBLOCK's bitmaps must fit in it).
constexpr std::uint64_t kConfigSectors = 2048;

void check_codec(ByteSpan sector) {
  std::optional<ldm::TocBlock> toc;
  if (!attempt([&] { toc = ldm::detail::decode_tocblock(sector, 0, kConfigSectors); }) || !toc) return;
  ByteVector once(512), twice(512);
  ldm::detail::encode_tocblock(*toc, once);
  std::optional<ldm::TocBlock> again;
  require(attempt([&] { again = ldm::detail::decode_tocblock(once, 0, kConfigSectors); }) && again, "an encoded TOCBLOCK decodes");
  ldm::detail::encode_tocblock(*again, twice);
  require(same_bytes(once, twice), "encoding a decoded TOCBLOCK is a projection");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  const LdmFixture& fixture = ldm_fixture();
  const std::vector<std::shared_ptr<SectorOverlay>> disks{fixture.disk(0)};
  for (std::size_t copy = 0; copy < 4 && copy * 512 < size; ++copy) {
    ByteVector sector(512);
    std::memcpy(sector.data(), data + copy * 512, std::min<std::size_t>(size - copy * 512, 512));
    check_codec(sector);
    LdmFixture::damage(*disks[0], fixture.toc_offset(copy), sector);
  }
  if (auto group = read_dynamic_disks(disks)) commit_round_trip(*group, disks);
  return 0;
}
