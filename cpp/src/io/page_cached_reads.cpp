// PageCachedReads: a decode's small reads served from the pages they share (io.h says why).
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "bootmirror/error.h"
#include "bootmirror/io.h"

namespace bootmirror {

ByteSpan PageCachedReads::page(std::uint64_t index) {
  for (std::size_t i = 0; i < used_; ++i)
    if (index_[i] == index) return ByteSpan(slots_.data() + i * kPage, length_[i]);
  if (!slots_.data()) slots_.ensure(kPages * kPage);
  const std::size_t slot = used_ < kPages ? used_ : next_++ % kPages;
  // The last page of a device whose size is not a whole number of pages is kept short.
  const std::uint64_t start = index * kPage;
  const MutableByteSpan bytes(slots_.data() + slot * kPage, std::size_t(std::min(kPage, size() - start)));
  if (slot < used_) index_[slot] = ~std::uint64_t(0);  // a failed read leaves no stale page behind
  base_.read(start, bytes);
  index_[slot] = index;
  length_[slot] = std::uint32_t(bytes.size());
  if (slot == used_) ++used_;
  return bytes;
}

void PageCachedReads::do_read(std::uint64_t offset, MutableByteSpan out) {
  if (out.size() >= kPage) return base_.read(offset, out);
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t at = offset + done;
    ByteSpan bytes;
    try {
      bytes = page(at / kPage);
    } catch (const OsError&) {
      // A page that cannot be read whole may still hold the bytes asked for (a bad sector beside
      // a good copy of a header): those alone are read, and fail only if they themselves do.
      return base_.read(at, out.subspan(done));
    }
    const std::size_t from = std::size_t(at % kPage);
    const std::size_t n = std::min(out.size() - done, bytes.size() - from);
    std::memcpy(out.data() + done, bytes.data() + from, n);
    done += n;
  }
}

void PageCachedReads::do_write(std::uint64_t, ByteSpan) {
  throw UsageError(fmt::format("{}: a decode's cached reads cannot write", name()));
}

}  // namespace bootmirror
