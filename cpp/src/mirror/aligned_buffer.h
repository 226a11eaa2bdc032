// A page-aligned byte buffer for the copy and hash loops: the kernel copies into an aligned user
// buffer with whole-page moves, and a std::vector's storage (16 bytes past a malloc header) was
// measured to halve hot-cache read speed.
#pragma once

#include <cstdlib>
#include <memory>
#include <new>

#include "bootmirror/bytes.h"

namespace bootmirror::mirror {

class AlignedBuffer {
 public:
  explicit AlignedBuffer(std::size_t size) : size_(size) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlignment, size ? size : kAlignment) != 0) throw std::bad_alloc();
    data_.reset(static_cast<std::byte*>(p));
  }
  MutableByteSpan span() { return MutableByteSpan(data_.get(), size_); }
  std::size_t size() const { return size_; }

 private:
  static constexpr std::size_t kAlignment = 4096;
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> data_;
  std::size_t size_;
};

}  // namespace bootmirror::mirror
