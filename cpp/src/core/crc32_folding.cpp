// CRC-32 by carry-less multiplication (see crc32_kernels.h). The polynomial is bit-reflected, so
// the register sits in the low bits of each 128-bit lane. The folding constants are powers of x
// modulo P(x) = 0x104C11DB7, bit-reflected (32 bits) and shifted left by one:
//   fold 512 bits:  x^(4*128+32), x^(4*128-32)     fold 128 bits: x^(128+32), x^(128-32)
//   128 -> 64 bits: x^64
// and the Barrett pair is P(x) and floor(x^64 / P(x)), bit-reflected (33 bits). Each was computed
// again from these definitions when written.
// core_test (Crc32.*) holds this to the bitwise definition at every length and alignment it takes.
#include "core/crc32_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BOOTMIRROR_CRC_FOLDING 1
#endif

namespace bootmirror::crc32_kernels {

#ifdef BOOTMIRROR_CRC_FOLDING

namespace {
constexpr std::uint64_t kFold4Low = 0x154442bd4, kFold4High = 0x1c6e41596;
constexpr std::uint64_t kFold1Low = 0x1751997d0, kFold1High = 0x0ccaa009e;
constexpr std::uint64_t kFold64 = 0x163cd6124;
constexpr std::uint64_t kPoly = 0x1db710641, kMu = 0x1f7011641;

#define BOOTMIRROR_CLMUL __attribute__((target("pclmul,sse4.1")))

BOOTMIRROR_CLMUL inline __m128i load(const std::byte* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// One lane carried 128 bits further and added to `next`: low half times one constant, high half
// times the other.
BOOTMIRROR_CLMUL inline __m128i fold(__m128i lane, __m128i k, __m128i next) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(lane, k, 0x00), _mm_clmulepi64_si128(lane, k, 0x11)), next);
}
}  // namespace

bool folding_available() { return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"); }

BOOTMIRROR_CLMUL std::uint32_t folding(const std::byte* p, std::size_t n, std::uint32_t reg) {
  // Four lanes of 16 bytes, each folded 64 bytes ahead while input remains.
  __m128i x0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(int(reg)));
  __m128i x1 = load(p + 16), x2 = load(p + 32), x3 = load(p + 48);
  p += 64;
  n -= 64;
  const __m128i k4 = _mm_set_epi64x(std::int64_t(kFold4High), std::int64_t(kFold4Low));
  for (; n >= 64; p += 64, n -= 64) {
    x0 = fold(x0, k4, load(p));
    x1 = fold(x1, k4, load(p + 16));
    x2 = fold(x2, k4, load(p + 32));
    x3 = fold(x3, k4, load(p + 48));
  }
  // The four lanes into one, then the 16-byte blocks left.
  const __m128i k1 = _mm_set_epi64x(std::int64_t(kFold1High), std::int64_t(kFold1Low));
  __m128i x = fold(fold(fold(x0, k1, x1), k1, x2), k1, x3);
  for (; n >= 16; p += 16, n -= 16) x = fold(x, k1, load(p));

  // 128 bits to 64: the low half carried 64 bits on, then the low 32 bits carried 32 more.
  const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
  x = _mm_xor_si128(_mm_srli_si128(x, 8), _mm_clmulepi64_si128(x, k1, 0x10));
  const __m128i k64 = _mm_set_epi64x(0, std::int64_t(kFold64));
  x = _mm_xor_si128(_mm_srli_si128(x, 4), _mm_clmulepi64_si128(_mm_and_si128(x, low32), k64, 0x00));
  // Barrett reduction of the 64 bits left to the 32-bit remainder.
  const __m128i barrett = _mm_set_epi64x(std::int64_t(kMu), std::int64_t(kPoly));
  __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x, low32), barrett, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
  return std::uint32_t(_mm_extract_epi32(_mm_xor_si128(x, t), 1));
}

#else

bool folding_available() { return false; }
std::uint32_t folding(const std::byte* p, std::size_t n, std::uint32_t reg) { return tables(p, n, reg); }

#endif

}  // namespace bootmirror::crc32_kernels
