// The FAT boot sector (BPB) and the FAT32 FSInfo sector (fatgen103 sections 3 and 5), by their
// codecs and through fat::Volume::open. The input is the volume's first bytes (boot sector, then
// FSInfo, then whatever follows), laid from byte 0 of a zero device as large as the BPB claims
// (64 MiB at most). What must hold:
//   - decode then encode is a projection: encoding what decodes again gives the same bytes;
//   - FSInfo fields survive encode and decode;
//   - opening, listing and checking a volume (without repair) never write.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include "fat/boot_sector.h"
#include "support/harness.h"
#include "support/sector_overlay.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

namespace {

ByteVector padded(ByteSpan input, std::size_t offset, std::size_t length) {
  ByteVector out(length);
  if (offset < input.size()) std::memcpy(out.data(), input.data() + offset, std::min(length, input.size() - offset));
  return out;
}

void check_boot_codec(const fat::BootSector& boot, std::uint64_t device_size) {
  std::optional<fat::Geometry> geometry;
  attempt([&] { geometry = fat::geometry_of(boot, device_size); });
  const fat::FatType type = geometry ? geometry->type : boot.fat32 ? fat::FatType::fat32 : fat::FatType::fat16;
  ByteVector once(512);
  boot.encode(once, type);
  std::optional<fat::BootSector> again;
  require(attempt([&] { again = fat::BootSector::decode(once, 0); }), "an encoded boot sector decodes");
  ByteVector twice(512);
  again->encode(twice, type);
  require(same_bytes(once, twice), "encoding a decoded boot sector is a projection");
}

void check_fsinfo_codec(ByteSpan sector) {
  if (!fat::FsInfo::valid(sector)) return;
  const fat::FsInfo info = fat::FsInfo::decode(sector);
  ByteVector out(512);
  info.encode(out);
  require(fat::FsInfo::valid(out), "an encoded FSInfo sector is valid");
  const fat::FsInfo back = fat::FsInfo::decode(out);
  require(back.free_count == info.free_count && back.next_free == info.next_free, "FSInfo fields survive encode and decode");
}

// Everything a reader does that must leave the device as it was.
void read_volume(const DevicePtr& device) {
  std::shared_ptr<fat::Volume> volume;
  if (!attempt([&] { volume = fat::Volume::open(device); })) return;
  attempt([&] {
    (void)volume->label();
    (void)volume->serial();
    (void)volume->free_bytes();
    (void)volume->total_bytes();
  });
  attempt([&] { volume->list(""); });
  attempt([&] { volume->check(false); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  const ByteSpan input(reinterpret_cast<const std::byte*>(data), size);
  const ByteVector sector0 = padded(input, 0, 512);
  std::optional<fat::BootSector> boot;
  attempt([&] { boot = fat::BootSector::decode(sector0, 0); });
  check_fsinfo_codec(padded(input, 512, 512));

  std::uint64_t device_size = (std::max<std::size_t>(size, 512) + 511) / 512 * 512;
  if (boot) {
    const std::uint64_t claimed = boot->total_sectors * boot->bytes_per_sector;
    device_size = std::max(device_size, std::min<std::uint64_t>(claimed, 64ull << 20) / 512 * 512);
    check_boot_codec(*boot, claimed);
  }
  auto device = std::make_shared<SectorOverlay>(device_size, 512);
  device->write(0, input.first(std::min<std::size_t>(size, device_size)));
  const std::uint64_t writes = device->writes();
  read_volume(device);
  require(device->writes() == writes && device->flushes() == 0, "opening, listing and checking a FAT volume never write");
  return 0;
}
