// A page-aligned byte buffer for the engine's staging and copy loops. The kernel copies to and
// from an aligned user buffer with whole-line moves; a std::vector's storage starts 16 bytes past
// a malloc header, and reads into such a buffer from the page cache were measured 2.1x slower,
// writes from it 1.3x (issue 15). Every buffer that a bulk read or write goes through is one of
// these: FAT import, export and staging, mirror rebuild and verify, extent copies.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "bootmirror/bytes.h"

namespace bootmirror {

class AlignedBuffer {
 public:
  static constexpr std::size_t kAlignment = 4096;

  AlignedBuffer() = default;
  // `size` bytes, not initialised.
  explicit AlignedBuffer(std::size_t size) { ensure(size); }

  // At least `size` bytes; what the buffer held is not kept when it has to grow.
  void ensure(std::size_t size) {
    if (data_ && size <= capacity_) {
      size_ = size;
      return;
    }
    // Grown at least twofold, so that a loop asking for ever larger pieces allocates a few times.
    const std::size_t capacity = std::max({size, 2 * capacity_, kAlignment});
    void* p = nullptr;
    if (posix_memalign(&p, kAlignment, capacity) != 0) throw std::bad_alloc();
    data_.reset(static_cast<std::byte*>(p));
    capacity_ = capacity;
    size_ = size;
  }

  std::byte* data() { return data_.get(); }
  const std::byte* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  MutableByteSpan span() { return MutableByteSpan(data_.get(), size_); }
  ByteSpan span() const { return ByteSpan(data_.get(), size_); }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace bootmirror
