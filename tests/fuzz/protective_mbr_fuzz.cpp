// LBA 0: the protective MBR of a GPT disk (UEFI 2.10, 5.2.3) and the plain MBR that LDM reads (slot
// 0 of type 0x42 makes a dynamic disk; other records become simple volumes when a disk converts).
// The input is the 512 bytes of LBA 0 (zero-padded), laid over a Windows-style GPT disk (ESP, MSR,
// basic data). What must hold:
//   - encode_protective_mbr gives a protective MBR for the disk and keeps the boot code;
//   - gpt::verify sees a protective MBR exactly when the codec does; reading never writes;
//   - gpt::repair, when it succeeds, leaves a protective MBR with the boot code kept;
//   - a disk ldm::check_convertible accepts converts, and reads back as a group with one simple
//     volume per basic partition.
#include <cstring>
#include <memory>
#include <optional>

#include "bootmirror/gpt.h"
#include "bootmirror/identity.h"
#include "bootmirror/ldm.h"
#include "gpt/codec.h"
#include "ldm/codec.h"
#include "support/harness.h"
#include "support/sector_overlay.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

namespace {

constexpr std::uint64_t kSectors = 16384;  // 8 MiB: room for an LDM database and a volume

// Built once, with the engine's own writer: ESP 1 MiB, MSR 2 MiB, basic data to the end.
std::shared_ptr<const ByteVector> gpt_disk() {
  static const std::shared_ptr<const ByteVector> image = [] {
    deterministic();
    SectorOverlay disk(kSectors * 512, 512);
    gpt::Table t = gpt::Table::create(kSectors, 512);
    auto add = [&](std::size_t slot, gpt::Kind kind, std::uint64_t first, std::uint64_t last) {
      t.entries[slot].type = gpt::type_of(kind);
      t.entries[slot].unique = IdentitySource::new_guid();
      t.entries[slot].first_lba = first;
      t.entries[slot].last_lba = last;
    };
    add(0, gpt::Kind::efi_system, 2048, 4095);
    add(1, gpt::Kind::microsoft_reserved, 4096, 8191);
    add(2, gpt::Kind::basic_data, 8192, t.last_usable_lba);
    gpt::write(disk, t);
    return std::make_shared<const ByteVector>(disk.contents());
  }();
  return image;
}

void check_codec(ByteSpan block0, std::uint64_t sectors) {
  (void)gpt::codec::has_mbr_partitions(block0);
  const ByteVector pmbr = gpt::codec::encode_protective_mbr(block0, sectors);
  require(gpt::codec::is_protective_mbr(pmbr, sectors), "encode_protective_mbr makes a protective MBR");
  require(std::memcmp(pmbr.data(), block0.data(), 440) == 0, "encode_protective_mbr keeps the boot code");
}

void repair_copy(const SectorOverlay& disk, ByteSpan block0) {
  auto copy = std::make_shared<SectorOverlay>(disk);
  if (!attempt([&] { gpt::repair(*copy); })) return;
  const ByteVector after = copy->read(0, 512);
  require(gpt::codec::is_protective_mbr(after, copy->sector_count()), "gpt::repair leaves a protective MBR");
  require(std::memcmp(after.data(), block0.data(), 440) == 0, "gpt::repair keeps the boot code");
}

void convert_copy(const SectorOverlay& disk) {
  auto copy = std::make_shared<SectorOverlay>(disk);
  std::optional<ldm::detail::DiskPlan> plan;
  require(attempt([&] { plan = ldm::detail::plan_disk(*copy); }), "a disk check_convertible accepts can be planned");
  ldm::Group group = ldm::new_group("FUZZ-Dg0");
  if (!attempt([&] {
        ldm::add_disk(group, copy, 0);
        ldm::commit(group, {copy});
      }))
    return;
  std::optional<ldm::Group> back;
  require(attempt([&] { back = ldm::read_group({copy}); }), "a disk the engine converted reads back");
  require(back->volumes.size() == plan->basic.size(), "each basic partition becomes a simple volume");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  ByteVector block0(512);
  std::memcpy(block0.data(), data, std::min<std::size_t>(size, 512));
  auto disk = std::make_shared<SectorOverlay>(gpt_disk(), 512);
  disk->write(0, block0);
  const std::uint64_t writes = disk->writes();

  check_codec(block0, kSectors);
  check_codec(block0, 1ull << 33);  // a disk too large for the 32-bit SizeInLBA
  const gpt::Health health = gpt::verify(*disk);
  require(health.protective_mbr == gpt::codec::is_protective_mbr(block0, kSectors),
          "gpt::verify sees a protective MBR exactly when the codec does");
  attempt([&] { gpt::read(*disk); });
  attempt([&] { ldm::read_database(*disk, false); });
  attempt([&] { ldm::read_group({disk}); });
  const bool convertible = attempt([&] { ldm::check_convertible(*disk); });
  require(disk->writes() == writes, "reading LBA 0 never writes");

  repair_copy(*disk, block0);
  if (convertible) convert_copy(*disk);
  return 0;
}
