// PageCachedReads: a decode's small reads served from the pages they share (io.h says why).
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "bootmirror/error.h"
#include "bootmirror/io.h"

namespace bootmirror {

ByteSpan PageCachedReads::page(std::uint64_t index) {
  for (const auto& [kept, bytes] : pages_)
    if (kept == index) return bytes;
  // The last page of a device whose size is not a whole number of pages is kept short.
  const std::uint64_t start = index * kPage;
  ByteVector bytes(std::min(kPage, size() - start));
  base_.read(start, bytes);
  if (pages_.size() < kPages) {
    pages_.emplace_back(index, std::move(bytes));
    return pages_.back().second;
  }
  auto& slot = pages_[next_++ % kPages];
  slot = {index, std::move(bytes)};
  return slot.second;
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
