// The write-intent bitmap of a plex that is behind: regions, marking, and the file it lives in
// (the layout is in bootmirror/mirror.h, beside the struct).
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "bootmirror/crc32.h"
#include "bootmirror/error.h"
#include "bootmirror/mirror.h"

namespace bootmirror::mirror {

namespace {

constexpr char kMagic[8] = {'B', 'M', 'W', 'I', 'N', 'T', 'N', 'T'};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint64_t kMinRegion = 64u << 10;
constexpr std::uint64_t kMaxRegions = 32768;
constexpr std::size_t kCrcOffset = 12;

std::uint64_t regions_of(std::uint64_t volume_bytes, std::uint64_t region_bytes) {
  return volume_bytes / region_bytes + (volume_bytes % region_bytes != 0);
}

std::uint32_t file_crc(ByteSpan file) {
  ByteVector copy(file.begin(), file.end());
  std::fill_n(copy.begin() + kCrcOffset, 4, std::byte{0});
  return crc32(copy);
}

}  // namespace

std::uint64_t WriteIntent::region_bytes_for(std::uint64_t volume_bytes) {
  std::uint64_t region = kMinRegion;
  while (regions_of(volume_bytes, region) > kMaxRegions) region *= 2;
  return region;
}

WriteIntent WriteIntent::empty(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes) {
  WriteIntent w{volume, disk, volume_bytes, region_bytes_for(volume_bytes), {}};
  w.bits.assign(std::size_t((w.region_count() + 7) / 8), 0);
  return w;
}

std::uint64_t WriteIntent::region_count() const { return regions_of(volume_bytes, region_bytes); }

bool WriteIntent::mark(std::uint64_t offset, std::uint64_t length) {
  if (length == 0 || offset >= volume_bytes) return false;
  const std::uint64_t last = std::min(offset + length, volume_bytes) - 1;
  bool changed = false;
  for (std::uint64_t k = offset / region_bytes; k <= last / region_bytes; ++k) {
    const std::uint8_t bit = std::uint8_t(1u << (k % 8));
    changed |= (bits[std::size_t(k / 8)] & bit) == 0;
    bits[std::size_t(k / 8)] |= bit;
  }
  return changed;
}

bool WriteIntent::clean() const {
  return std::all_of(bits.begin(), bits.end(), [](std::uint8_t b) { return b == 0; });
}

std::vector<Extent> WriteIntent::dirty() const {
  std::vector<Extent> out;
  for (std::uint64_t k = 0; k < region_count(); ++k) {
    if ((bits[std::size_t(k / 8)] & (1u << (k % 8))) == 0) continue;
    const std::uint64_t at = k * region_bytes, n = std::min(region_bytes, volume_bytes - at);
    if (!out.empty() && out.back().offset + out.back().length == at) out.back().length += n;
    else out.push_back(Extent{at, n});
  }
  return out;
}

ByteVector encode_write_intent(const WriteIntent& w) {
  ByteVector file(kWriteIntentHeaderBytes + w.bits.size());
  std::memcpy(file.data(), kMagic, sizeof kMagic);
  store_le<std::uint32_t>(file, 8, kVersion);
  std::copy(w.volume.rfc_bytes().begin(), w.volume.rfc_bytes().end(), file.begin() + 16);
  std::copy(w.disk.rfc_bytes().begin(), w.disk.rfc_bytes().end(), file.begin() + 32);
  store_le<std::uint64_t>(file, 48, w.volume_bytes);
  store_le<std::uint64_t>(file, 56, w.region_bytes);
  store_le<std::uint64_t>(file, 64, w.region_count());
  std::transform(w.bits.begin(), w.bits.end(), file.begin() + kWriteIntentHeaderBytes,
                 [](std::uint8_t b) { return std::byte{b}; });
  store_le<std::uint32_t>(file, kCrcOffset, file_crc(file));
  return file;
}

WriteIntent decode_write_intent(ByteSpan file) {
  auto bad = [](const std::string& what, std::uint64_t at) { return FormatError("write-intent bitmap: " + what, at); };
  if (file.size() < kWriteIntentHeaderBytes)
    throw bad(fmt::format("{} bytes, shorter than its {}-byte header", file.size(), kWriteIntentHeaderBytes), 0);
  if (std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) throw bad("no BMWINTNT magic", 0);
  if (const auto v = load_le<std::uint32_t>(file, 8); v != kVersion) throw bad(fmt::format("version {}, not 1", v), 8);
  if (const auto crc = load_le<std::uint32_t>(file, kCrcOffset); crc != file_crc(file))
    throw bad(fmt::format("CRC32 {:#010x} does not match its bytes ({:#010x})", crc, file_crc(file)), kCrcOffset);
  WriteIntent w;
  w.volume = Guid::from_rfc_bytes(file.subspan(16, 16));
  w.disk = Guid::from_rfc_bytes(file.subspan(32, 16));
  w.volume_bytes = load_le<std::uint64_t>(file, 48);
  w.region_bytes = load_le<std::uint64_t>(file, 56);
  if (w.region_bytes < kMinRegion || (w.region_bytes & (w.region_bytes - 1)) != 0)
    throw bad(fmt::format("region size {} is not a power of two of at least {}", w.region_bytes, kMinRegion), 56);
  const std::uint64_t count = load_le<std::uint64_t>(file, 64);
  if (count != regions_of(w.volume_bytes, w.region_bytes))
    throw bad(fmt::format("{} regions for a {}-byte volume in {}-byte regions", count, w.volume_bytes, w.region_bytes), 64);
  if (file.size() - kWriteIntentHeaderBytes != (count + 7) / 8)
    throw bad(fmt::format("{} bytes of bits for {} regions", file.size() - kWriteIntentHeaderBytes, count), kWriteIntentHeaderBytes);
  for (std::size_t i = kWriteIntentHeaderBytes; i < file.size(); ++i) w.bits.push_back(std::uint8_t(file[i]));
  if (count % 8 != 0 && (w.bits.back() >> (count % 8)) != 0)
    throw bad("bits set past the last region", file.size() - 1);
  return w;
}

}  // namespace bootmirror::mirror
