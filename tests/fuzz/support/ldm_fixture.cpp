#include "support/ldm_fixture.h"

#include <algorithm>

#include "support/harness.h"

namespace bootmirror::fuzz {

namespace {

LdmFixture build() {
  deterministic();
  constexpr std::uint64_t kDiskBytes = 8ull << 20;
  std::vector<std::shared_ptr<SectorOverlay>> disks;
  std::vector<DevicePtr> devices;
  for (int i = 0; i < 3; ++i) {
    disks.push_back(std::make_shared<SectorOverlay>(kDiskBytes, 512));
    devices.push_back(disks.back());
  }
  ldm::Group g = ldm::new_group("FUZZ-Dg0");
  for (std::size_t i = 0; i < disks.size(); ++i) ldm::add_disk(g, disks[i], int(i));
  ldm::add_volume(g, "Volume1", ldm::Layout::mirrored, {{0, 0, 2048}, {1, 0, 2048}}, 128, std::string("C:"));
  ldm::add_volume(g, "Volume2", ldm::Layout::spanned, {{1, 2048, 1024}, {2, 0, 1024}});
  ldm::add_volume(g, "Volume3", ldm::Layout::striped, {{0, 2048, 512}, {1, 3072, 512}, {2, 1024, 512}});
  ldm::add_volume(g, "Volume4 whose name is long enough that its record needs a second VBLK slot", ldm::Layout::simple,
                  {{2, 2048, 1024}}, 128, std::string("E:"));
  ldm::commit(g, devices);
  for (const auto& disk : disks) {
    ldm::DiskDatabase db = ldm::read_database(*disk);
    std::uint32_t last = 0;
    auto see = [&](const ldm::RecordHeader& r) {
      for (std::uint32_t slot : r.placement.slots) last = std::max(last, slot);
    };
    see(*db.group);
    for (const auto& r : db.disks) see(r);
    for (const auto& r : db.volumes) see(r);
    for (const auto& r : db.components) see(r);
    for (const auto& r : db.partitions) see(r);
    db.vmdb.vblk_last = last + 33;
    disk->write(db.privhead.config_start * db.sector_size, ldm::encode_config(db));
  }
  LdmFixture f;
  for (const auto& d : disks) f.images.push_back(std::make_shared<const ByteVector>(d->contents()));
  f.database = ldm::read_database(*disks[0]);
  return f;
}

}  // namespace

const LdmFixture& ldm_fixture() {
  static const LdmFixture fixture = build();
  return fixture;
}

std::shared_ptr<SectorOverlay> LdmFixture::disk(std::size_t i) const {
  return std::make_shared<SectorOverlay>(images.at(i), database.sector_size);
}

void LdmFixture::damage(SectorOverlay& disk, std::uint64_t offset, ByteSpan change) {
  ByteVector bytes = disk.read(offset, change.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] ^= change[i];
  disk.write(offset, bytes);
}

std::uint64_t LdmFixture::toc_offset(std::size_t copy) const {
  const std::uint64_t size = database.privhead.config_size;
  const std::uint64_t at[4] = {1, 2, size - 3, size - 2};
  return config_offset() + at[copy % 4] * database.sector_size;
}

std::uint64_t LdmFixture::vmdb_offset() const {
  return config_offset() + database.tocs.at(0)->bitmaps[0].start * database.sector_size;
}

std::uint64_t LdmFixture::log_offset() const {
  return config_offset() + database.tocs.at(0)->bitmaps[1].start * database.sector_size;
}

std::uint64_t LdmFixture::log_bytes() const { return database.tocs.at(0)->bitmaps[1].size * database.sector_size; }

}  // namespace bootmirror::fuzz
