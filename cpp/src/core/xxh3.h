// xxHash as the project calls it. On x86-64 the library's runtime dispatch takes the place of
// the plain XXH3 entry points: those are built for baseline x86-64 (SSE2) and hash at half the
// speed of the AVX2 or AVX-512 code the dispatch picks where the CPU has it (as xxhsum does).
// The hashes are the same either way.
#pragma once

#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif
