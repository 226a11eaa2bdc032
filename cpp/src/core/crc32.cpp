#include "bootmirror/crc32.h"

#include <array>

#include "core/crc32_kernels.h"

namespace bootmirror {

std::uint32_t crc32(ByteSpan bytes, std::uint32_t previous) {
  static const bool folding = crc32_kernels::folding_available();
  std::uint32_t reg = ~previous;
  const std::byte* p = bytes.data();
  std::size_t n = bytes.size();
  if (folding && n >= 64) {
    const std::size_t head = n & ~std::size_t(15);
    reg = crc32_kernels::folding(p, head, reg);
    p += head;
    n -= head;
  }
  return ~crc32_kernels::tables(p, n, reg);
}

namespace crc32_kernels {

namespace {
// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes, so eight input
// bytes fold in with eight lookups instead of eight dependent shift loops.
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][b] = c;
  }
  for (std::uint32_t b = 0; b < 256; ++b)
    for (std::size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  return t;
}

constexpr Tables kTables = make_tables();
}  // namespace

std::uint32_t tables(const std::byte* bytes, std::size_t n, std::uint32_t c) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes);
  while (n >= 8) {
    std::uint32_t lo = c ^ (std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                            std::uint32_t(p[3]) << 24);
    c = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
        kTables[4][lo >> 24] ^ kTables[3][p[4]] ^ kTables[2][p[5]] ^ kTables[1][p[6]] ^ kTables[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n--) c = kTables[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return c;
}

}  // namespace crc32_kernels

}  // namespace bootmirror
