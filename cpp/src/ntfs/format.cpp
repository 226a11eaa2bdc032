// A new NTFS volume, made by Debian's mkntfs (ntfs-3g) on a temporary sparse file the size of the
// volume and copied into the device (see bootmirror/ntfs.h for why). mkntfs is told what Windows
// would use: the device's sector size, the cluster size, the partition's start as hidden sectors,
// and the 255 heads and 63 sectors per track of an LBA disk.
#include <bit>

#include <fmt/format.h>

#include "bootmirror/extents.h"
#include "bootmirror/identity.h"
#include "bootmirror/ntfs.h"
#include "bootmirror/unicode.h"
#include "core/program.h"

namespace bootmirror::ntfs {

namespace {

constexpr std::size_t kSerialOffset = 0x48;  // boot sector: volume serial number, 8 bytes
constexpr std::size_t kMaxLabel = 32;        // UTF-16 units, as Windows' format allows
constexpr std::uint64_t kVerifyPiece = 4 << 20;

void verify_surface(BlockDevice& device, ProgressMeter& meter) {
  ByteVector buffer(kVerifyPiece);
  for (std::uint64_t at = 0; at < device.size();) {
    const std::size_t n = std::size_t(std::min<std::uint64_t>(buffer.size(), device.size() - at));
    device.read(at, MutableByteSpan(buffer.data(), n));
    at += n;
    meter.advance(n);
  }
}

}  // namespace

std::uint32_t default_cluster_size(std::uint64_t volume_bytes, std::uint32_t sector_size) {
  constexpr std::uint64_t kFourKbUpTo = std::uint64_t(16) << 40;
  std::uint32_t cluster = 4096;
  while (cluster < 65536 && volume_bytes > kFourKbUpTo / 4096 * cluster) cluster *= 2;
  return std::max(cluster, sector_size);
}

FormatResult format(const DevicePtr& device, const FormatOptions& options, const ProgressCallback& progress) {
  if (!device) throw UsageError("no device to format");
  if (!device->writable()) throw UsageError(fmt::format("{} is open read-only", device->name()));
  // Everything that can refuse does so before the first write.
  const std::uint32_t sector = device->sector_size();
  if (!is_valid_utf8(options.label)) throw UsageError("the volume label is not valid UTF-8");
  if (utf8_to_utf16(options.label).size() > kMaxLabel)
    throw UsageError(fmt::format("The volume label is too long: an NTFS label holds up to {} characters", kMaxLabel));
  const std::uint32_t cluster = options.cluster_size ? options.cluster_size : default_cluster_size(device->size(), sector);
  if (!std::has_single_bit(cluster) || cluster < sector || cluster > 65536)
    throw UsageError(fmt::format("The specified cluster size is not valid for NTFS: {} (a power of two from the "
                                 "sector size, {}, to 65536)", cluster, sector));
  const std::uint64_t sectors = device->size() / sector;
  // mkntfs's floor ("Minimum NTFS volume size is 1MiB"), the backup boot sector in the last
  // sector not counted: measured, 2048 sectors of 512 bytes are refused and 2049 taken.
  if (sectors * sector < (1u << 20) + sector)
    throw UsageError(fmt::format("{} is too small for NTFS: it needs 1 MiB and a sector ({} bytes)", device->name(),
                                 (1u << 20) + sector));

  TemporaryFolder folder("mkntfs");
  const std::string image_path = (folder.path() / "volume.ntfs").string();
  ImageFile::create(image_path, sectors * sector, sector)->close();
  std::vector<std::string> argv{"mkntfs", "--quick", "--force", "--quiet",
                                "--sector-size", std::to_string(sector),
                                "--cluster-size", std::to_string(cluster),
                                "--partition-start", std::to_string(hidden_sectors_of(*device)),
                                "--heads", "255", "--sectors-per-track", "63"};
  if (!options.label.empty()) argv.insert(argv.end(), {"--label", options.label});
  if (IdentitySource::settings().epoch_seconds) argv.push_back("--zero-time");
  argv.insert(argv.end(), {image_path, std::to_string(sectors)});
  run_program(argv, "ntfs-3g");

  const auto image = ImageFile::open(image_path, true, sector);
  FormatResult result;
  result.serial = IdentitySource::next_u64();
  ByteVector boot = image->read(0, sector);
  store_le<std::uint64_t>(boot, kSerialOffset, result.serial);
  const std::uint64_t backup_at = (sectors - 1) * sector;  // the backup boot sector: the volume's last
  image->write(0, boot);
  image->write(backup_at, boot);
  // Read back with our own reader: what we copy is an NTFS volume, and its $Bitmap says which
  // clusters it uses.
  const auto made = Volume::open(image);
  result.cluster_bytes = made->cluster_bytes();
  result.cluster_count = made->cluster_count();
  result.free_clusters = made->free_clusters();
  // What mkntfs wrote, and the clusters in use that it left as holes (they read as zeros in the
  // file, and the device may hold old bytes there).
  const std::vector<Extent> written = image->allocated_extents();
  const std::vector<Extent> unwritten_in_use = subtract_extents(made->allocated_ranges(), written);
  const std::vector<Extent> copied = extents_within(written, sector, backup_at - sector);
  const std::vector<Extent> zeroed = extents_within(unwritten_in_use, sector, backup_at - sector);

  // mkntfs ran first (on its own file: the device is untouched), so the meter knows the whole
  // work before the surface check, the slow part of a full format, begins.
  ProgressMeter meter(progress, fmt::format("the format of {}", device->name()));
  meter.start((options.quick ? 0 : device->size()) + extent_bytes(copied) + extent_bytes(zeroed));
  if (!options.quick) verify_surface(*device, meter);  // stopped until here, nothing is written

  // Order, a write barrier (device flush) between the steps: both boot sectors are wiped first,
  // so that from then on a crash leaves no file system rather than the old one's identity over
  // the new one's structures; then everything else; the boot sectors (the volume's identity) last.
  write_zeros(*device, 0, sector);
  write_zeros(*device, backup_at, sector);
  device->flush();
  // Between the boot sectors: they are written last.
  copy_extents(*image, *device, copied, &meter);
  for (const Extent& e : zeroed) write_zeros(*device, e.offset, e.length, &meter);
  device->flush();
  device->write(backup_at, boot);
  device->flush();  // the backup before the boot sector: the boot sector commits the format
  device->write(0, boot);
  device->flush();
  meter.finish();
  return result;
}

}  // namespace bootmirror::ntfs
