// The write-intent bitmap file of a plex that is behind (cpp/src/mirror/write_intent.cpp): what a
// machine folder holds for a mirror whose disk went missing, read back when the disk returns.
// The input is the file. What must hold: a file that decodes encodes to itself (every byte is a
// field the CRC covers), its dirty regions are sorted, apart and inside the volume, and marking
// them on a clean bitmap gives the same bits; bad files are FormatErrors.
#include <algorithm>

#include "bootmirror/mirror.h"
#include "support/harness.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan file(reinterpret_cast<const std::byte*>(data), size);
  mirror::WriteIntent intent;
  if (!attempt([&] { intent = mirror::decode_write_intent(file); })) return 0;
  require(same_bytes(mirror::encode_write_intent(intent), file), "a decoded bitmap encodes to the same file");
  const std::vector<Extent> dirty = intent.dirty();
  mirror::WriteIntent again = mirror::WriteIntent::empty(intent.volume, intent.disk, intent.volume_bytes);
  again.region_bytes = intent.region_bytes;
  again.bits.assign(intent.bits.size(), 0);
  std::uint64_t end = 0;
  for (const Extent& e : dirty) {
    require(e.length > 0 && (&e == &dirty.front() || e.offset > end), "dirty runs are sorted and apart");
    require(e.offset + e.length <= intent.volume_bytes, "dirty runs lie inside the volume");
    end = e.offset + e.length;
    again.mark(e.offset, e.length);
  }
  require(again.bits == intent.bits, "marking the dirty runs gives the same bits");
  require(intent.clean() == dirty.empty(), "a clean bitmap has no dirty runs");
  return 0;
}
