// PageCachedReads: a decode's small reads served from the pages they share (io.h says why).
#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include <fmt/format.h>

#include "bootmirror/error.h"
#include "bootmirror/io.h"

namespace bootmirror {

namespace {

// The slot buffers of views that ended on this thread, for the next ones: a group's decode makes
// a view per disk, and a fresh 64 KiB aligned allocation and its free for each were 2% of decoding
// the 19 Windows images. A view alive beside another takes its own.
constexpr std::size_t kSpares = 2;
thread_local std::vector<AlignedBuffer> spare_slots;

}  // namespace

PageCachedReads::~PageCachedReads() {
  if (slots_.data() && spare_slots.size() < kSpares) {
    try {
      spare_slots.push_back(std::move(slots_));
    } catch (const std::bad_alloc&) {
      // slots_ is freed with the view instead
    }
  }
}

ByteSpan PageCachedReads::page(std::uint64_t index) {
  for (std::size_t i = 0; i < used_; ++i)
    if (index_[i] == index) return ByteSpan(slots_.data() + i * kPage, length_[i]);
  if (!slots_.data()) {
    if (!spare_slots.empty()) {
      slots_ = std::move(spare_slots.back());
      spare_slots.pop_back();
    }
    slots_.ensure(kPages * kPage);
  }
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
