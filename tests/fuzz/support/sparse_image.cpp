#include "support/sparse_image.h"

#include <algorithm>

#include "support/harness.h"

namespace bootmirror::fuzz {

SparseImage decode_sparse_image(ByteSpan bytes, std::size_t max_disks) {
  Input in(bytes);
  SparseImage image;
  const std::uint8_t flags = in.u8();
  image.sector_size = (flags & 1) ? 4096 : 512;
  const std::size_t count = std::min<std::size_t>(((flags >> 1) & 3) + 1, std::clamp<std::size_t>(max_disks, 1, 3));
  const std::uint64_t most = kMaxSparseDiskBytes / image.sector_size;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t sectors = std::clamp<std::uint64_t>(in.u32(), 16, most);
    image.disks.push_back(std::make_shared<SectorOverlay>(sectors * image.sector_size, image.sector_size));
  }
  while (in.remaining() > 0) {
    SectorOverlay& disk = *image.disks[in.u8() % count];
    const std::uint64_t first = in.u32();
    const std::uint64_t sectors = in.u16();
    ByteSpan data = in.take(std::size_t(sectors) * image.sector_size);
    if (first >= disk.sector_count()) continue;
    const std::uint64_t room = (disk.sector_count() - first) * image.sector_size;
    data = data.first(std::size_t(std::min<std::uint64_t>(data.size(), room)));
    if (!data.empty()) disk.write(first * image.sector_size, data);
  }
  return image;
}

}  // namespace bootmirror::fuzz
