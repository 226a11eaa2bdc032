// LDM VBLK records (cpp/src/ldm/vblk_area.cpp, records.cpp): the slots after the VMDB holding the
// group's disk group, disk, volume, component and partition records, a record spanning up to four
// slots that need not be adjacent. The input is the config area from the VMDB on: the VMDB sector
// (which sets the slot size and count and the committed counts), then the slots; slots the input
// does not reach are stamped empty. What must hold:
//   - the slots decode, and assemble into a group, or fail with a FormatError;
//   - encoding decoded records is a projection (encode, decode, encode gives the same slots);
//   - the slots given a few at a time (as read_records streams them) decode as the whole area does:
//     the same records, or the same first error;
//   - laid over disk 0 of the engine's own group (its PRIVHEAD taking the VMDB's group GUID), the
//     disk reads back every way a machine reads (support/ldm_checks.h).
#include <algorithm>
#include <cstring>
#include <string>

#include "bootmirror/guid.h"
#include "ldm/codec.h"
#include "support/harness.h"
#include "support/ldm_checks.h"
#include "support/ldm_fixture.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

namespace {

constexpr std::uint64_t kMaxArea = 1481 * 512;  // the config bitmap of every Windows database

// What decoding `area`'s slots gives when they are handed over `per` at a time: the records encoded
// again, or the error met first.
std::string decoded_in_pieces(const ldm::Vmdb& vmdb, const ByteVector& area, std::uint32_t per) {
  ldm::DiskDatabase db;
  db.vmdb = vmdb;
  try {
    ldm::detail::VblkDecoder decoder(db, 0);
    while (decoder.slots_left() > 0) {
      const std::uint32_t n = std::min(per, decoder.slots_left());
      decoder.add(ByteSpan(area).subspan(std::size_t(decoder.next_slot()) * vmdb.vblk_size, std::size_t(n) * vmdb.vblk_size));
    }
    decoder.finish();
    ByteVector slots(area.size());
    ldm::detail::encode_vblks(db, slots);
    return std::string(reinterpret_cast<const char*>(slots.data()), slots.size());
  } catch (const Error& e) {
    return std::string("error: ") + e.what();
  }
}

void check_codec(const ldm::Vmdb& vmdb, const ByteVector& area, std::uint32_t per) {
  require(decoded_in_pieces(vmdb, area, per) == decoded_in_pieces(vmdb, area, vmdb.vblk_last),
          "VBLK slots decode the same a few at a time as all at once");
  ldm::DiskDatabase db;
  db.vmdb = vmdb;
  if (!attempt([&] { ldm::detail::decode_vblks(area, 0, db); })) return;
  if (db.group) attempt([&] { ldm::detail::assemble(db); });
  ByteVector once(area.size());
  if (!attempt([&] { ldm::detail::encode_vblks(db, once); })) return;
  ldm::DiskDatabase again;
  again.vmdb = vmdb;
  require(attempt([&] { ldm::detail::decode_vblks(once, 0, again); }), "encoded VBLK records decode");
  ByteVector twice(area.size());
  require(attempt([&] { ldm::detail::encode_vblks(again, twice); }), "re-decoded VBLK records encode");
  require(same_bytes(once, twice), "encoding decoded VBLK records is a projection");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  ByteVector area(std::max<std::size_t>(size, 512));
  std::memcpy(area.data(), data, size);
  ldm::Vmdb vmdb;
  if (!attempt([&] { vmdb = ldm::detail::decode_vmdb(area, 0, kMaxArea); })) return 0;
  const std::uint64_t end = std::uint64_t(vmdb.vblk_last) * vmdb.vblk_size;
  if (end > area.size() && end <= kMaxArea) {
    const std::uint32_t given = std::uint32_t((size + vmdb.vblk_size - 1) / vmdb.vblk_size);
    area.resize(end);
    for (std::uint32_t slot = std::max(given, vmdb.first_offset / vmdb.vblk_size); slot < vmdb.vblk_last; ++slot)
      ldm::detail::stamp_empty_slot(slot, vmdb, area);
  }
  check_codec(vmdb, area, size > 0 ? data[size - 1] % 40 + 1 : 1);

  const LdmFixture& fixture = ldm_fixture();
  auto disk = fixture.disk(0);
  if (Guid::is_valid(vmdb.group_guid)) {
    ldm::PrivHead privhead = fixture.database.privhead;
    privhead.group_guid = vmdb.group_guid;
    ByteVector sector(512);
    ldm::detail::encode_privhead(privhead, sector);
    disk->write(fixture.database.privhead_lba * 512, sector);
  }
  const std::uint64_t room = fixture.database.tocs.at(0)->bitmaps[0].size * 512;
  disk->write(fixture.vmdb_offset(), ByteSpan(area).first(std::min<std::uint64_t>(area.size(), room)));
  if (auto group = read_dynamic_disks({disk})) commit_round_trip(*group, {disk});
  return 0;
}
