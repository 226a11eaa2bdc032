// The two ways crc32() computes, exposed so a test can hold each to the bitwise definition.
#pragma once

#include <cstdint>

#include "bootmirror/bytes.h"

namespace bootmirror::crc32_kernels {

// Both take and return the CRC register: not inverted (crc32() inverts on the way in and out).

// Slicing-by-8 tables: any length, any machine.
std::uint32_t tables(const std::byte* p, std::size_t n, std::uint32_t reg);

// Carry-less multiplication folding (Intel, "Fast CRC Computation for Generic Polynomials Using
// PCLMULQDQ Instruction", 2009): 64 bytes a step, about four times the tables' speed (a 16 KiB GPT
// entry array, which an LDM scan checks on every GPT disk: 2.0 against 8.4 microseconds here).
// Only where folding_available(); n >= 64 and a multiple of 16.
bool folding_available();
std::uint32_t folding(const std::byte* p, std::size_t n, std::uint32_t reg);

}  // namespace bootmirror::crc32_kernels
