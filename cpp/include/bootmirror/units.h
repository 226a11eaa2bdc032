// Sizes as people write them. Following diskpart and Windows, KB/MB/GB/TB are powers of 1024
// (KiB/MiB/GiB/TiB are accepted as the same); a bare number is bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bootmirror {

// "204 MiB", "10GB", "4096", "1.5 GiB" -> bytes. UsageError on anything else, on zero digits,
// negative values, fractions of a byte, or overflow.
std::uint64_t parse_size(std::string_view text);

// 213680128 -> "203.8 MiB": a human reading, for reprs and logs (not diskpart's format).
std::string describe_size(std::uint64_t bytes);

// 213680128 -> "213,680,128", as Windows' console tools print byte counts.
std::string with_thousands(std::uint64_t value);

}  // namespace bootmirror
