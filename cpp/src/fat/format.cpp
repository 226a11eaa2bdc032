// Writing a new FAT file system: boot sector (and FAT32's FSInfo and backups), the FATs, an empty
// root directory with the label. A quick format writes nothing else, as Windows' /q does.
#include <fmt/format.h>

#include "fat/boot_sector.h"
#include "fat/dir_entry.h"
#include "fat/names.h"

namespace bootmirror::fat {

FormatResult format(const DevicePtr& device, const FormatOptions& options, const ProgressCallback& progress) {
  if (!device) throw UsageError("no device to format");
  if (!device->writable()) throw UsageError(fmt::format("{} is open read-only", device->name()));
  // Everything that can refuse does so before the first write.
  const OemCodePage& page = OemCodePage::named(options.codepage);
  std::string label;
  if (ShortName field = encode_label(options.label, page); !is_no_label(field)) label.assign(field.begin(), field.end());
  Geometry g = plan_format(device->size(), device->sector_size(), options);
  const std::uint32_t bps = g.bytes_per_sector;

  BootSector boot;
  boot.bytes_per_sector = bps;
  boot.sectors_per_cluster = g.sectors_per_cluster;
  boot.reserved_sectors = g.reserved_sectors;
  boot.fat_count = g.fat_count;
  boot.root_entries = g.root_entries;
  boot.total_sectors = g.total_sectors;
  boot.media = options.media;
  boot.sectors_per_fat = g.sectors_per_fat;
  boot.hidden_sectors = hidden_sectors_of(*device);
  boot.fat32 = g.type == FatType::fat32;
  boot.root_cluster = g.root_cluster;
  boot.fsinfo_sector = boot.fat32 ? 1 : 0;
  boot.backup_boot_sector = boot.fat32 ? 6 : 0;
  boot.serial = options.serial ? *options.serial : IdentitySource::next_u32();
  boot.label = label.empty() ? "NO NAME    " : label;

  const std::uint64_t root_offset = boot.fat32 ? g.cluster_offset(g.root_cluster) : g.root_dir_offset();
  const std::uint64_t root_bytes = boot.fat32 ? g.cluster_size() : std::uint64_t(g.root_dir_sectors()) * bps;
  // A full format zeroes the data area after the root: what makes it slow, and most of what the
  // meter counts.
  const std::uint64_t zeroed_from = boot.fat32 ? root_offset + root_bytes : g.data_offset();
  const std::uint64_t zeroed = options.quick ? 0 : g.data_offset() + g.data_bytes() - zeroed_from;
  ProgressMeter meter(progress, fmt::format("the format of {}", device->name()));
  meter.start(g.data_offset() + zeroed);  // stopped here, nothing is written yet

  // Order, a write barrier (device flush) between the steps: the old boot sector and its FAT32
  // backup are wiped first, so that from then on a crash leaves no file system rather than the old
  // one's identity over the new one's half-written tables; then the FATs and the root; the boot
  // sector (the volume's identity) last.
  write_zeros(*device, 0, bps);
  device->flush();
  write_zeros(*device, bps, std::uint64_t(g.reserved_sectors - 1) * bps);
  ByteVector fat(std::uint64_t(g.sectors_per_fat) * bps);
  {
    // FAT[0] holds the media byte, FAT[1] the end-of-chain mark; FAT32's root takes cluster 2.
    std::uint32_t mask = g.type == FatType::fat12 ? 0xFFF : g.type == FatType::fat16 ? 0xFFFF : 0x0FFFFFFF;
    std::uint32_t e0 = (0xFFFFFF00u | options.media) & mask, e1 = mask;
    if (g.type == FatType::fat12) {
      std::uint32_t pair = e0 | (e1 << 12);
      fat[0] = std::byte(pair & 0xFF), fat[1] = std::byte((pair >> 8) & 0xFF), fat[2] = std::byte(pair >> 16);
    } else if (g.type == FatType::fat16) {
      store_le<std::uint16_t>(fat, 0, std::uint16_t(e0));
      store_le<std::uint16_t>(fat, 2, std::uint16_t(e1));
    } else {
      store_le<std::uint32_t>(fat, 0, e0);
      store_le<std::uint32_t>(fat, 4, e1);
      store_le<std::uint32_t>(fat, 8, 0x0FFFFFFF);
    }
  }
  for (std::uint32_t copy = 0; copy < g.fat_count; ++copy) device->write(g.fat_offset(copy), fat);

  // The root directory: the fixed region on FAT12/16, cluster 2 on FAT32; the label entry first.
  ByteVector root(root_bytes);
  if (!label.empty()) {
    ShortEntry e;
    std::copy(label.begin(), label.end(), e.name.begin());
    e.attributes = attr::volume_label;
    e.stamp_modified(IdentitySource::now());
    e.accessed_date = 0;
    e.encode(MutableByteSpan(root.data(), entry_size));
  }
  device->write(root_offset, root);
  meter.advance(g.data_offset());  // the reserved sectors, the FATs and (FAT12/16) the root
  write_zeros(*device, zeroed_from, zeroed, &meter);
  device->flush();

  ByteVector sector(std::max<std::uint32_t>(bps, 512));
  boot.encode(sector, g.type);
  if (boot.fat32) {
    ByteVector info(bps);
    FsInfo fs;
    fs.free_count = g.cluster_count - 1;
    fs.next_free = 3;
    fs.encode(info);
    ByteVector third(bps);  // Windows' third boot sector: empty but signed
    store_le<std::uint16_t>(third, 510, 0xAA55);
    device->write(std::uint64_t(boot.backup_boot_sector) * bps, sector);
    device->write(std::uint64_t(boot.backup_boot_sector + 1) * bps, info);
    device->write(std::uint64_t(boot.backup_boot_sector + 2) * bps, third);
    device->write(std::uint64_t(boot.fsinfo_sector) * bps, info);
    device->write(2ull * bps, third);
    device->flush();  // the backup before the boot sector: the boot sector commits the format
  }
  device->write(0, sector);
  device->flush();
  meter.finish();

  FormatResult r;
  r.geometry = g;
  r.serial = boot.serial;
  r.label = decode_label(label, page);
  r.total_bytes = g.data_bytes();
  r.available_bytes = g.data_bytes() - (boot.fat32 ? g.cluster_size() : 0);
  return r;
}

}  // namespace bootmirror::fat
