// The geometry Windows `format` chooses. Cluster sizes follow Microsoft's "Default cluster size
// for NTFS, FAT, and exFAT" (KB140365) tables; the FAT size follows fatgen103 section 3.5's
// formula, which gives Windows' exact numbers (204 MiB /fs:fat: 204 sectors per FAT, 52,168
// clusters of 4 KiB).
#include <fmt/format.h>

#include "bootmirror/fat.h"

namespace bootmirror::fat {

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint32_t fat12_max_clusters = 4084;
constexpr std::uint32_t fat16_max_clusters = 65524;

struct Row {
  std::uint64_t up_to;  // volume size, inclusive
  std::uint32_t cluster;
};

// KB140365, FAT16 column. Volumes up to 16 MB get 2 KB, which makes the small ones FAT12
// (fewer than 4,085 clusters), as Windows' /fs:fat does.
constexpr Row fat16_table[] = {
    {16 * MiB, 2048},   {32 * MiB, 512},     {64 * MiB, 1024},    {128 * MiB, 2048},  {256 * MiB, 4096},
    {512 * MiB, 8192},  {1024 * MiB, 16384}, {2048 * MiB, 32768}, {4096 * MiB, 65536},
};
// KB140365, FAT32 column (Windows formats FAT32 up to 32 GB; larger volumes get 32 KB).
constexpr Row fat32_table[] = {
    {64 * MiB, 512}, {128 * MiB, 1024}, {256 * MiB, 2048}, {8192 * MiB, 4096}, {16384 * MiB, 8192},
    {32768 * MiB, 16384},
};

struct Layout {
  std::uint32_t sectors_per_fat;
  std::uint64_t clusters;
};

// fatgen103's FAT size for FAT16/32, generalised from 512-byte sectors to any sector size.
Layout layout_fat16_32(const Geometry& g, bool fat32) {
  std::uint64_t fixed = g.reserved_sectors + g.root_dir_sectors();
  if (g.total_sectors <= fixed) return {0, 0};
  std::uint64_t tmp1 = g.total_sectors - fixed;
  std::uint64_t entries_per_sector = g.bytes_per_sector / 2;
  std::uint64_t tmp2 = entries_per_sector * g.sectors_per_cluster + g.fat_count;
  if (fat32) tmp2 /= 2;
  std::uint64_t fat = (tmp1 + tmp2 - 1) / tmp2;
  std::uint64_t meta = fixed + fat * g.fat_count;
  std::uint64_t clusters = meta < g.total_sectors ? (g.total_sectors - meta) / g.sectors_per_cluster : 0;
  return {std::uint32_t(fat), clusters};
}

// FAT12 entries are 1.5 bytes, which the formula does not model: find the smallest FAT that maps
// every cluster and leaves at most 4,084 of them. Readers tell FAT12 by that count alone
// (fatgen103 section 3.5), and the FAT12 FAT, smaller than the formula's FAT16 one, can leave room
// for 4,085: a FAT sector more then takes the clusters back under the line.
Layout layout_fat12(const Geometry& g) {
  std::uint64_t fixed = g.reserved_sectors + g.root_dir_sectors();
  for (std::uint32_t fat = 1; fat < 64; ++fat) {
    std::uint64_t meta = fixed + std::uint64_t(fat) * g.fat_count;
    if (meta >= g.total_sectors) return {0, 0};
    std::uint64_t clusters = (g.total_sectors - meta) / g.sectors_per_cluster;
    if (clusters <= fat12_max_clusters && (clusters + 2) * 3 / 2 + 1 <= std::uint64_t(fat) * g.bytes_per_sector)
      return {fat, clusters};
  }
  return {0, 0};
}

std::uint32_t from_table(const Row* begin, const Row* end, std::uint64_t bytes) {
  for (const Row* r = begin; r != end; ++r)
    if (bytes <= r->up_to) return r->cluster;
  return 0;
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::uint32_t default_cluster_size(std::uint64_t volume_bytes, bool fat32) {
  if (fat32) {
    std::uint32_t c = from_table(std::begin(fat32_table), std::end(fat32_table), volume_bytes);
    return c ? c : 32768;
  }
  std::uint32_t c = from_table(std::begin(fat16_table), std::end(fat16_table), volume_bytes);
  if (!c)
    throw UsageError(fmt::format("the volume is too big for FAT ({} bytes; FAT16 ends at 4 GB): use /fs:fat32",
                                 volume_bytes));
  return c;
}

Geometry plan_format(std::uint64_t volume_bytes, std::uint32_t sector_size, const FormatOptions& o) {
  std::string fs = upper(o.file_system);
  if (fs != "FAT" && fs != "FAT12" && fs != "FAT16" && fs != "FAT32")
    throw UsageError(fmt::format("unknown file system '{}' (expected FAT, FAT12, FAT16 or FAT32)", o.file_system));
  if (sector_size < 512 || sector_size > 4096 || (sector_size & (sector_size - 1)))
    throw UsageError(fmt::format("sector size {} is not supported", sector_size));
  if (o.fat_count < 1 || o.fat_count > 4) throw UsageError(fmt::format("{} FAT copies (expected 1 to 4)", o.fat_count));
  bool fat32 = fs == "FAT32";
  Geometry g;
  g.type = fat32 ? FatType::fat32 : FatType::fat16;
  g.bytes_per_sector = sector_size;
  g.total_sectors = volume_bytes / sector_size;
  if (!fat32 && g.total_sectors > 0xFFFFFFFFull) throw UsageError("the volume is too big for FAT");
  if (g.total_sectors > 0xFFFFFFFFull) g.total_sectors = 0xFFFFFFFFull;  // FAT32 uses the first 2 TiB
  g.fat_count = o.fat_count;
  g.reserved_sectors = fat32 ? 32 : 1;
  g.root_entries = fat32 ? 0 : o.root_entries.value_or(512);
  if (!fat32 && (g.root_entries == 0 || g.root_entries > 65535 - 15))
    throw UsageError(fmt::format("{} root directory entries (expected 1 to 65520)", g.root_entries));
  // Round the root directory up to whole sectors, as every formatter does.
  g.root_entries = g.root_dir_sectors() * sector_size / 32;
  g.root_cluster = fat32 ? 2 : 0;

  std::uint32_t cluster = o.cluster_size ? *o.cluster_size : default_cluster_size(volume_bytes, fat32);
  if (cluster < sector_size) cluster = o.cluster_size ? 0 : sector_size;
  if (cluster == 0 || (cluster & (cluster - 1)) || cluster > 65536 || cluster / sector_size > 128)
    throw UsageError(fmt::format("allocation unit of {} bytes is not possible with {}-byte sectors",
                                 o.cluster_size.value_or(cluster), sector_size));

  auto fits = [&](std::uint32_t c) {
    g.sectors_per_cluster = c / sector_size;
    Layout l = fat32 ? layout_fat16_32(g, true) : layout_fat16_32(g, false);
    if (!fat32 && l.clusters <= fat12_max_clusters) {
      g.type = FatType::fat12;
      l = layout_fat12(g);
    } else if (!fat32) {
      g.type = FatType::fat16;
    }
    g.sectors_per_fat = l.sectors_per_fat;
    g.cluster_count = std::uint32_t(std::min<std::uint64_t>(l.clusters, 0xFFFFFFFF));
    if (l.clusters == 0 || l.sectors_per_fat == 0) return false;
    if (fat32) return l.clusters > fat16_max_clusters && l.clusters <= 0x0FFFFFF5;
    if (fs == "FAT12") return g.type == FatType::fat12;
    if (fs == "FAT16") return g.type == FatType::fat16 && l.clusters <= fat16_max_clusters;
    return l.clusters <= fat16_max_clusters;
  };
  if (fits(cluster)) return g;
  if (!o.cluster_size) {
    // Forced FAT12 needs bigger clusters, forced FAT16 or FAT32 smaller ones: search for a size.
    for (std::uint32_t c = sector_size; c <= 65536 && c / sector_size <= 128; c *= 2)
      if (fits(c)) return g;
  }
  throw UsageError(fmt::format("a volume of {} bytes cannot be formatted {}{}", volume_bytes, fs,
                               o.cluster_size ? fmt::format(" with {}-byte allocation units", cluster) : ""));
}

}  // namespace bootmirror::fat
