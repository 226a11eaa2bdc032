// CRC-32 as UEFI (GPT headers and arrays) and zlib compute it: reflected polynomial 0xEDB88320,
// initial value and final XOR 0xFFFFFFFF.
#pragma once

#include <cstdint>

#include "bootmirror/bytes.h"

namespace bootmirror {

std::uint32_t crc32(ByteSpan bytes, std::uint32_t previous = 0);

}  // namespace bootmirror
