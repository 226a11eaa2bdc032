#include <fmt/format.h>

#include "bootmirror/aligned_buffer.h"
#include "bootmirror/io.h"

namespace bootmirror {

void check_sector_size(std::uint32_t sector_size) {
  if (sector_size != 512 && sector_size != 4096)
    throw UsageError(fmt::format("sector size {} is not supported (use 512 or 4096)", sector_size));
}

void BlockDevice::check_range(std::uint64_t offset, std::uint64_t length, const char* action) const {
  std::uint64_t device_size = size();
  if (offset > device_size || device_size - offset < length)
    throw UsageError(fmt::format("cannot {} {} bytes at offset {} of {}: the device holds {} bytes", action,
                                 length, offset, name(), device_size));
}

void BlockDevice::read(std::uint64_t offset, MutableByteSpan out) {
  check_range(offset, out.size(), "read");
  if (!out.empty()) do_read(offset, out);
}

ByteVector BlockDevice::read(std::uint64_t offset, std::size_t length) {
  check_range(offset, length, "read");
  ByteVector buffer(length);
  if (length) do_read(offset, buffer);
  return buffer;
}

SectorRead::SectorRead(BlockDevice& device, std::uint64_t offset, std::size_t length) : length_(length) {
  MutableByteSpan out(inline_, length);
  if (length > kInline) {
    heap_.resize(length);
    out = heap_;
  }
  data_ = out.data();
  device.read(offset, out);
}

void BlockDevice::write(std::uint64_t offset, ByteSpan data) {
  if (!writable()) throw UsageError(fmt::format("{} is open read-only", name()));
  check_range(offset, data.size(), "write");
  if (!data.empty()) do_write(offset, data);
}

bool BlockDevice::copy_to_host(std::uint64_t, std::uint64_t, int, std::uint64_t) { return false; }

std::vector<Extent> BlockDevice::allocated_extents() const {
  if (size() == 0) return {};
  return {Extent{0, size()}};
}

void write_zeros(BlockDevice& device, std::uint64_t offset, std::uint64_t length, ProgressMeter* meter) {
  static const AlignedBuffer zeros = [] {
    AlignedBuffer z(1 << 20);
    std::memset(z.data(), 0, z.size());
    return z;
  }();
  for (std::uint64_t done = 0; done < length;) {
    const std::uint64_t n = std::min<std::uint64_t>(length - done, zeros.size());
    device.write(offset + done, ByteSpan(zeros.data(), n));
    done += n;
    if (meter) meter->advance(n);
  }
}

}  // namespace bootmirror
