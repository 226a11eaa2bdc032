// KLOG: the transaction log at the TOCBLOCK's "log" bitmap (config + 1498, 224 sectors). Neither
// libldm nor the kernel reads it (zeroing the whole area leaves `ldmtool scan` unchanged), so its
// fields are known only from the images: every image has two KLOG sectors and zeros after them.
//  off   size field (observed)
//  0x00  4    "KLOG"
//  0x04  4    zeros
//  0x08  4    unknown (2003 R2: 0x404, 2008 R2: 0)
//  0x0C  4    sector 0: unknown small number (3 / 4); sector 1: 0
//  0x10  4    number of KLOG sectors (2)
//  0x14  4    this sector's index (0, 1)
//  0x18  1    unknown (2003 R2: 3)
//  0x19  24n  sector 0: entries of three u64 (first seq, last seq, 0); 2008 R2: (0, committed, 0)
//             twice. We write the 2008 R2 form for a new group.
#include "ldm/codec.h"

namespace bootmirror::ldm::detail {

ByteVector new_klog(std::uint32_t ss, std::uint64_t log_sectors, std::uint64_t committed_seq) {
  ByteVector log(log_sectors * ss);
  for (std::uint32_t k = 0; k < 2 && k < log_sectors; ++k) {
    MutableByteSpan s = subspan(MutableByteSpan(log), std::size_t(k) * ss, ss);
    store_ascii(s, 0, 4, "KLOG");
    store_be<std::uint32_t>(s, 0x0C, k == 0 ? 4 : 0);
    store_be<std::uint32_t>(s, 0x10, 2);
    store_be<std::uint32_t>(s, 0x14, k);
    if (k == 0) {
      store_be<std::uint64_t>(s, 0x21, committed_seq);
      store_be<std::uint64_t>(s, 0x39, committed_seq);
    }
  }
  return log;
}

}  // namespace bootmirror::ldm::detail
