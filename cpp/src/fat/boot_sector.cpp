#include "fat/boot_sector.h"

#include <bit>

#include <fmt/format.h>

namespace bootmirror::fat {

namespace {

constexpr std::uint32_t fsinfo_lead = 0x41615252;
constexpr std::uint32_t fsinfo_struct = 0x61417272;
constexpr std::uint32_t fsinfo_trail = 0xAA550000;

bool is_power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// The boot code is a halt loop: firmware that tries to boot this volume stops instead of
// running garbage (UEFI reads the volume as data and never executes it).
void store_boot_code(MutableByteSpan sector, std::size_t at) {
  const std::byte halt_loop[] = {std::byte{0xFA}, std::byte{0xF4}, std::byte{0xEB}, std::byte{0xFD}};
  for (std::size_t i = 0; i < sizeof halt_loop; ++i) sector[at + i] = halt_loop[i];
}

}  // namespace

BootSector BootSector::decode(ByteSpan s, std::uint64_t base) {
  if (s.size() < 512) throw FormatError("FAT boot sector: fewer than 512 bytes", base);
  BootSector b;
  auto fail = [&](std::size_t off, const std::string& what) -> void {
    throw FormatError(fmt::format("FAT boot sector: {} (byte {})", what, base + off), base + off);
  };
  auto jump = std::to_integer<std::uint8_t>(s[0]);
  if (jump != 0xEB && jump != 0xE9) fail(0, fmt::format("jump instruction 0x{:02X} is not EB or E9", jump));
  if (load_le<std::uint16_t>(s, 510) != 0xAA55) fail(510, "signature 55 AA is missing");
  b.oem_name = load_ascii(s, 3, 8);
  b.bytes_per_sector = load_le<std::uint16_t>(s, 11);
  if (!is_power_of_two(b.bytes_per_sector) || b.bytes_per_sector < 512 || b.bytes_per_sector > 4096)
    fail(11, fmt::format("{} bytes per sector (expected 512, 1024, 2048 or 4096)", b.bytes_per_sector));
  b.sectors_per_cluster = std::to_integer<std::uint8_t>(s[13]);
  if (!is_power_of_two(b.sectors_per_cluster))
    fail(13, fmt::format("{} sectors per cluster (expected a power of two)", b.sectors_per_cluster));
  if (std::uint64_t(b.sectors_per_cluster) * b.bytes_per_sector > 65536)
    fail(13, fmt::format("cluster of {} bytes (at most 64 KiB)", b.sectors_per_cluster * b.bytes_per_sector));
  b.reserved_sectors = load_le<std::uint16_t>(s, 14);
  if (b.reserved_sectors == 0) fail(14, "no reserved sectors (expected at least 1)");
  b.fat_count = std::to_integer<std::uint8_t>(s[16]);
  if (b.fat_count == 0) fail(16, "no FAT copies");
  b.root_entries = load_le<std::uint16_t>(s, 17);
  std::uint32_t total16 = load_le<std::uint16_t>(s, 19);
  b.media = std::to_integer<std::uint8_t>(s[21]);
  std::uint32_t fat16_size = load_le<std::uint16_t>(s, 22);
  b.hidden_sectors = load_le<std::uint32_t>(s, 28);
  std::uint32_t total32 = load_le<std::uint32_t>(s, 32);
  b.total_sectors = total16 ? total16 : total32;
  if (b.total_sectors == 0) fail(19, "total sector count is zero");
  std::size_t ext = 36;
  if (fat16_size == 0) {
    b.fat32 = true;
    b.sectors_per_fat = load_le<std::uint32_t>(s, 36);
    if (b.sectors_per_fat == 0) fail(36, "FAT size is zero");
    b.ext_flags = load_le<std::uint16_t>(s, 40);
    if (load_le<std::uint16_t>(s, 42) != 0) fail(42, "FAT32 version is not 0.0");
    b.root_cluster = load_le<std::uint32_t>(s, 44);
    b.fsinfo_sector = load_le<std::uint16_t>(s, 48);
    b.backup_boot_sector = load_le<std::uint16_t>(s, 50);
    if (b.root_entries != 0) fail(17, "FAT32 volume with a fixed root directory");
    ext = 64;
  } else {
    b.sectors_per_fat = fat16_size;
    if (b.root_entries == 0) fail(17, "FAT12/16 volume without root directory entries");
    // fatgen103: the root is whole sectors. The kernel ("bogus number of directory entries") and
    // fsck.fat refuse another count; readers disagree on how many entries such a root holds.
    if (b.root_entries * 32u % b.bytes_per_sector != 0)
      fail(17, fmt::format("{} root directory entries are not a whole number of {}-byte sectors", b.root_entries, b.bytes_per_sector));
  }
  b.drive_number = std::to_integer<std::uint8_t>(s[ext]);
  b.has_extended = std::to_integer<std::uint8_t>(s[ext + 2]) == 0x29;
  if (b.has_extended) {
    b.serial = load_le<std::uint32_t>(s, ext + 3);
    b.label = load_ascii(s, ext + 7, 11);
    b.fs_type = load_ascii(s, ext + 18, 8);
  }
  return b;
}

void BootSector::encode(MutableByteSpan s, FatType type) const {
  bool is32 = type == FatType::fat32;
  s[0] = std::byte{0xEB};
  s[1] = std::byte{std::uint8_t(is32 ? 0x58 : 0x3C)};
  s[2] = std::byte{0x90};
  store_ascii(s, 3, 8, oem_name);
  store_le<std::uint16_t>(s, 11, std::uint16_t(bytes_per_sector));
  s[13] = std::byte{std::uint8_t(sectors_per_cluster)};
  store_le<std::uint16_t>(s, 14, std::uint16_t(reserved_sectors));
  s[16] = std::byte{std::uint8_t(fat_count)};
  store_le<std::uint16_t>(s, 17, std::uint16_t(is32 ? 0 : root_entries));
  bool small = total_sectors < 0x10000 && !is32;
  store_le<std::uint16_t>(s, 19, std::uint16_t(small ? total_sectors : 0));
  s[21] = std::byte{media};
  store_le<std::uint16_t>(s, 22, std::uint16_t(is32 ? 0 : sectors_per_fat));
  store_le<std::uint16_t>(s, 24, 63);
  store_le<std::uint16_t>(s, 26, 255);
  store_le<std::uint32_t>(s, 28, hidden_sectors);
  store_le<std::uint32_t>(s, 32, std::uint32_t(small ? 0 : total_sectors));
  std::size_t ext = 36;
  if (is32) {
    store_le<std::uint32_t>(s, 36, sectors_per_fat);
    store_le<std::uint16_t>(s, 40, ext_flags);
    store_le<std::uint16_t>(s, 42, 0);
    store_le<std::uint32_t>(s, 44, root_cluster);
    store_le<std::uint16_t>(s, 48, std::uint16_t(fsinfo_sector));
    store_le<std::uint16_t>(s, 50, std::uint16_t(backup_boot_sector));
    ext = 64;
  }
  s[ext] = std::byte{drive_number};
  s[ext + 2] = std::byte{0x29};
  store_le<std::uint32_t>(s, ext + 3, serial);
  store_ascii(s, ext + 7, 11, label);
  store_ascii(s, ext + 18, 8, is32 ? "FAT32   " : type == FatType::fat12 ? "FAT12   " : "FAT16   ");
  store_boot_code(s, ext + 26);
  store_le<std::uint16_t>(s, 510, 0xAA55);
}

Geometry geometry_of(const BootSector& b, std::uint64_t device_size) {
  Geometry g;
  g.bytes_per_sector = b.bytes_per_sector;
  g.sectors_per_cluster = b.sectors_per_cluster;
  g.reserved_sectors = b.reserved_sectors;
  g.fat_count = b.fat_count;
  g.root_entries = b.fat32 ? 0 : b.root_entries;
  g.sectors_per_fat = b.sectors_per_fat;
  g.total_sectors = b.total_sectors;
  g.root_cluster = b.root_cluster;
  std::uint64_t volume_bytes = b.total_sectors * b.bytes_per_sector;
  if (volume_bytes > device_size)
    throw FormatError(fmt::format("FAT boot sector: the volume claims {} sectors ({} bytes) but the device holds "
                                  "{} bytes (byte 19/32)",
                                  b.total_sectors, volume_bytes, device_size),
                      32);
  std::uint64_t meta = std::uint64_t(b.reserved_sectors) + std::uint64_t(b.fat_count) * b.sectors_per_fat +
                       g.root_dir_sectors();
  if (meta >= b.total_sectors)
    throw FormatError(fmt::format("FAT boot sector: reserved sectors, FATs and root directory ({} sectors) do not "
                                  "fit in the volume's {} sectors",
                                  meta, b.total_sectors),
                      14);
  std::uint64_t clusters = (b.total_sectors - meta) / b.sectors_per_cluster;
  if (clusters < 1) throw FormatError("FAT boot sector: the volume has no data clusters", 13);
  if (clusters > 0x0FFFFFF5) throw FormatError(fmt::format("FAT boot sector: {} clusters is too many", clusters), 13);
  g.cluster_count = std::uint32_t(clusters);
  // fatgen103 section 3.5: the type follows from the cluster count alone.
  g.type = clusters < 4085 ? FatType::fat12 : clusters < 65525 ? FatType::fat16 : FatType::fat32;
  if (b.fat32 && g.type != FatType::fat32) g.type = FatType::fat32;  // small FAT32 (mkfs.fat allows it)
  if (!b.fat32 && g.type == FatType::fat32)
    throw FormatError(fmt::format("FAT boot sector: {} clusters needs FAT32 but the BPB is FAT12/16", clusters), 22);
  std::uint64_t fat_bytes = std::uint64_t(b.sectors_per_fat) * b.bytes_per_sector;
  std::uint64_t needed = ((std::uint64_t(g.cluster_count) + 2) * g.bits_per_entry() + 7) / 8;
  if (fat_bytes < needed)
    throw FormatError(fmt::format("FAT boot sector: a FAT of {} bytes cannot map {} clusters ({} bytes needed)",
                                  fat_bytes, g.cluster_count, needed),
                      b.fat32 ? 36 : 22);
  if (g.type == FatType::fat32 && (b.root_cluster < 2 || b.root_cluster >= g.cluster_count + 2))
    throw FormatError(fmt::format("FAT boot sector: root cluster {} is outside the volume", b.root_cluster), 44);
  return g;
}

std::uint32_t fat_sectors_in_use(const Geometry& g) {
  std::uint64_t bytes = ((std::uint64_t(g.cluster_count) + 2) * g.bits_per_entry() + 7) / 8;
  std::uint64_t sectors = (bytes + g.bytes_per_sector - 1) / g.bytes_per_sector;
  return std::uint32_t(std::min<std::uint64_t>(sectors, g.sectors_per_fat));
}

std::optional<std::uint64_t> backup_boot_offset(const BootSector& b, const Geometry& g) {
  if (g.type != FatType::fat32 || b.backup_boot_sector == 0 || b.backup_boot_sector >= b.reserved_sectors ||
      b.backup_boot_sector == b.fsinfo_sector)
    return std::nullopt;
  return std::uint64_t(b.backup_boot_sector) * g.bytes_per_sector;
}

bool FsInfo::valid(ByteSpan s) {
  return s.size() >= 512 && load_le<std::uint32_t>(s, 0) == fsinfo_lead &&
         load_le<std::uint32_t>(s, 484) == fsinfo_struct && load_le<std::uint32_t>(s, 508) == fsinfo_trail;
}

FsInfo FsInfo::decode(ByteSpan s) {
  FsInfo f;
  f.free_count = load_le<std::uint32_t>(s, 488);
  f.next_free = load_le<std::uint32_t>(s, 492);
  return f;
}

void FsInfo::encode(MutableByteSpan s) const {
  store_le<std::uint32_t>(s, 0, fsinfo_lead);
  store_le<std::uint32_t>(s, 484, fsinfo_struct);
  store_le<std::uint32_t>(s, 488, free_count);
  store_le<std::uint32_t>(s, 492, next_free);
  store_le<std::uint32_t>(s, 508, fsinfo_trail);
}

std::uint32_t Geometry::root_dir_sectors() const {
  return (root_entries * 32 + bytes_per_sector - 1) / bytes_per_sector;
}
std::uint64_t Geometry::fat_offset(std::uint32_t copy) const {
  return (std::uint64_t(reserved_sectors) + std::uint64_t(copy) * sectors_per_fat) * bytes_per_sector;
}
std::uint64_t Geometry::root_dir_offset() const { return fat_offset(fat_count); }
std::uint64_t Geometry::data_offset() const {
  return root_dir_offset() + std::uint64_t(root_dir_sectors()) * bytes_per_sector;
}
std::uint64_t Geometry::cluster_offset(std::uint32_t cluster) const {
  return data_offset() + std::uint64_t(cluster - 2) * cluster_size();
}

std::string to_string(FatType type) {
  return type == FatType::fat12 ? "FAT12" : type == FatType::fat16 ? "FAT16" : "FAT32";
}

}  // namespace bootmirror::fat
