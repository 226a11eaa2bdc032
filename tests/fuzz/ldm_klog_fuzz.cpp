// The LDM KLOG (cpp/src/ldm/klog.cpp): the transaction log area of the database, which neither
// Windows' readers we know of (libldm, the kernel) nor the engine interpret; the engine keeps it
// verbatim. The input is the start of that area (up to its 224 sectors), laid over the KLOG of
// disk 0 of the engine's own group (support/ldm_fixture.h). What must hold:
//   - whatever the KLOG holds, the database decodes, keeps the KLOG byte for byte, and encodes to
//     the very bytes on the disk;
//   - the group reads every way a machine reads (support/ldm_checks.h) and takes a commit.
#include <algorithm>
#include <optional>

#include "support/harness.h"
#include "support/ldm_checks.h"
#include "support/ldm_fixture.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  const LdmFixture& fixture = ldm_fixture();
  const ByteSpan log(reinterpret_cast<const std::byte*>(data), std::min<std::uint64_t>(size, fixture.log_bytes()));
  const std::vector<std::shared_ptr<SectorOverlay>> disks{fixture.disk(0)};
  disks[0]->write(fixture.log_offset(), log);

  std::optional<ldm::DiskDatabase> db;
  require(attempt([&] { db = ldm::read_database(*disks[0]); }), "a database decodes whatever its KLOG holds");
  require(db->log.size() == fixture.log_bytes() && same_bytes(log, ByteSpan(db->log).first(log.size())),
          "the KLOG is kept byte for byte");
  const std::uint64_t config_bytes = db->privhead.config_size * db->sector_size;
  require(same_bytes(ldm::encode_config(*db), disks[0]->read(fixture.config_offset(), config_bytes)),
          "a database with any KLOG encodes to the bytes it was read from");
  std::optional<ldm::Group> group = read_dynamic_disks(disks);
  require(group.has_value(), "a group reads whatever its KLOGs hold");
  commit_round_trip(*group, disks);
  return 0;
}
