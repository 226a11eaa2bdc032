// NTFS boot sector decoding (see boot_sector.h for the field table and its sources).
#include "ntfs/boot_sector.h"

#include <bit>
#include <cstring>

#include <fmt/format.h>

namespace bootmirror::ntfs {

namespace {

constexpr char kOemId[8] = {'N', 'T', 'F', 'S', ' ', ' ', ' ', ' '};

// Record sizes: a positive count of clusters, or (signed, negative) 2^-v bytes.
std::uint64_t record_bytes(std::int8_t encoded, std::uint32_t cluster_bytes) {
  if (encoded > 0) return std::uint64_t(encoded) * cluster_bytes;
  if (encoded < 0 && encoded >= -31) return std::uint64_t(1) << unsigned(-encoded);
  return 0;
}

}  // namespace

bool looks_like_ntfs(ByteSpan sector) {
  return sector.size() >= 512 && std::memcmp(sector.data() + 3, kOemId, sizeof kOemId) == 0;
}

BootSector BootSector::decode(ByteSpan sector, std::uint64_t volume_bytes, std::uint64_t base) {
  auto fail = [&](const std::string& what, std::size_t offset) -> void {
    throw FormatError(fmt::format("NTFS boot sector: {}", what), base + offset);
  };
  if (sector.size() < 512) fail(fmt::format("{} bytes, less than a sector", sector.size()), 0);
  if (!looks_like_ntfs(sector)) fail("OEM id is not \"NTFS    \"", 3);
  if (load_le<std::uint16_t>(sector, 510) != 0xAA55) fail("no 55 AA signature", 510);
  BootSector b;
  b.bytes_per_sector = load_le<std::uint16_t>(sector, 11);
  if (b.bytes_per_sector < 256 || b.bytes_per_sector > 4096 || !std::has_single_bit(b.bytes_per_sector))
    fail(fmt::format("{} bytes per sector", b.bytes_per_sector), 11);
  const std::uint8_t spc = std::to_integer<std::uint8_t>(sector[13]);
  std::uint64_t cluster_sectors = 0;
  if (spc >= 1 && spc <= 128 && std::has_single_bit(unsigned(spc))) cluster_sectors = spc;
  else if (spc >= 0xF4) cluster_sectors = std::uint64_t(1) << (256 - spc);
  const std::uint64_t cluster = cluster_sectors * b.bytes_per_sector;
  if (cluster == 0 || cluster > (2u << 20)) fail(fmt::format("sectors per cluster 0x{:02X}", spc), 13);
  b.cluster_bytes = std::uint32_t(cluster);
  b.hidden_sectors = load_le<std::uint32_t>(sector, 28);
  b.total_sectors = load_le<std::uint64_t>(sector, 40);
  if (b.total_sectors == 0 || b.total_sectors > volume_bytes / b.bytes_per_sector)
    fail(fmt::format("{} sectors, more than the volume's {} bytes hold", b.total_sectors, volume_bytes), 40);
  const std::uint64_t clusters = b.cluster_count();
  b.mft_cluster = load_le<std::uint64_t>(sector, 48);
  b.mft_mirror_cluster = load_le<std::uint64_t>(sector, 56);
  if (b.mft_cluster == 0 || b.mft_cluster >= clusters) fail(fmt::format("$MFT at cluster {} of {}", b.mft_cluster, clusters), 48);
  if (b.mft_mirror_cluster == 0 || b.mft_mirror_cluster >= clusters)
    fail(fmt::format("$MFTMirr at cluster {} of {}", b.mft_mirror_cluster, clusters), 56);
  const std::uint64_t mft_record = record_bytes(std::int8_t(std::to_integer<std::uint8_t>(sector[64])), b.cluster_bytes);
  // A record holds at least its header and whole 512-byte fixup strides; Windows writes 1024 (and
  // 4096 on 4Kn disks). Anything past 64 KiB is nobody's.
  if (mft_record < 512 || mft_record > 65536 || !std::has_single_bit(mft_record) || mft_record < b.bytes_per_sector)
    fail(fmt::format("MFT record size {} bytes", mft_record), 64);
  b.mft_record_bytes = std::uint32_t(mft_record);
  const std::uint64_t index_record = record_bytes(std::int8_t(std::to_integer<std::uint8_t>(sector[68])), b.cluster_bytes);
  if (index_record < 512 || index_record > 65536 || !std::has_single_bit(index_record))
    fail(fmt::format("index record size {} bytes", index_record), 68);
  b.index_record_bytes = std::uint32_t(index_record);
  b.serial = load_le<std::uint64_t>(sector, 72);
  return b;
}

}  // namespace bootmirror::ntfs
