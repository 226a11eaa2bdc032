// One MFT FILE record (cpp/src/ntfs/record.cpp, attributes.cpp): its update sequence, header,
// attribute records and run lists, on a volume of a fixed 1 GiB of 4 KiB clusters. The input is
// the record as stored (1024 bytes; shorter inputs are padded with zeros, longer ones cut), seeded
// with the records of mkntfs volumes. What must hold: each step answers values or a FormatError;
// every run it answers lies on the volume and the runs follow each other in VCN order.
#include <algorithm>

#include "ntfs/attributes.h"
#include "ntfs/record.h"
#include "support/harness.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  constexpr std::uint64_t kClusters = (1ull << 30) / 4096;
  ByteVector record(1024);
  std::copy_n(reinterpret_cast<const std::byte*>(data), std::min<std::size_t>(size, record.size()), record.begin());
  if (!attempt([&] { ntfs::apply_fixups(record, "FILE", 0); })) return 0;
  ntfs::RecordHeader header;
  if (!attempt([&] { header = ntfs::RecordHeader::decode(record, 0); })) return 0;
  std::vector<ntfs::Attribute> attributes;
  if (!attempt([&] { attributes = ntfs::decode_attributes(record, header.first_attribute, header.bytes_in_use, kClusters, 0); }))
    return 0;
  for (const ntfs::Attribute& a : attributes) {
    if (a.resident) {
      require(a.value.size() <= record.size(), "a resident value fits in its record");
      continue;
    }
    std::uint64_t vcn = a.lowest_vcn;
    for (const ntfs::Run& r : a.runs) {
      require(r.vcn == vcn && r.length > 0, "runs follow each other in VCN order");
      if (r.lcn) require(*r.lcn < kClusters && r.length <= kClusters - *r.lcn, "a run lies on the volume");
      vcn += r.length;
    }
  }
  return 0;
}
