// Reclaim: the store rewritten with its live variables only, as EDK2's Reclaim (Variable.c) builds
// it: added records first, in store order and byte for byte; then copies in deleted transition
// that no added copy shadows, promoted to added; then the variable being set.
//
// Why a whole-file replacement: rewriting the store in place would leave it torn if the power
// failed midway. EDK2 makes the same rewrite safe with its fault-tolerant-write protocol (the new
// store goes to the FTW spare block first and a working-block record says which copy to trust),
// which only the firmware resumes, at its next start. Offline, the file itself gives a simpler
// proof: replace_file writes the new image to a temporary file, fsyncs it, renames it over the
// store and fsyncs the folder, so a crash at any point leaves the old file or the new one whole
// (the crash suite replays every such point). Stores on bare devices (no file to replace) refuse
// a reclaim rather than rewrite in place.
#include <filesystem>

#include <fmt/format.h>

#include "nvram/codec.h"

namespace bootmirror::nvram {

namespace codec {

std::optional<ByteVector> reclaimed_image(ByteSpan image, const StoreLayout& layout, const std::vector<Record>& records,
                                          const std::vector<std::uint64_t>& skip, ByteSpan extra) {
  ByteVector out(image.begin(), image.end());
  const std::uint64_t end = layout.store_end();
  std::fill(out.begin() + std::ptrdiff_t(layout.store_offset + kStoreHeaderSize), out.begin() + std::ptrdiff_t(end),
            std::byte{0xFF});
  std::uint64_t at = layout.variables_offset;
  // Exactly the copies the store reads as live (mark_live): a reclaim changes no value. Keeping
  // every added copy and the first in deleted transition once turned a Timeout of 7 (the last of
  // two copies in transition, the one read) into 5.
  auto skipped = [&](const Record& r) { return std::find(skip.begin(), skip.end(), r.offset) != skip.end(); };
  for (const Record& r : records) {
    if (!r.live || skipped(r)) continue;
    const std::uint64_t length = std::min(r.size, end - r.offset);
    std::copy_n(image.begin() + std::ptrdiff_t(r.offset), length, out.begin() + std::ptrdiff_t(at));
    out[at + kStateOffset] = std::byte{kAdded};
    at += length;
  }
  if (!extra.empty()) {
    const std::uint64_t used = at - layout.variables_offset, size = align_header(extra.size());
    if (size > end - at || used + size > common_space(layout)) return std::nullopt;
    std::copy(extra.begin(), extra.end(), out.begin() + std::ptrdiff_t(at));
    out[at + kStateOffset] = std::byte{kAdded};
  }
  return out;
}

}  // namespace codec

void Store::reclaim() {
  std::lock_guard lock(mutex_);
  check_writable("reclaim the variable store");
  auto image = codec::reclaimed_image(image_, layout_, records_, {}, {});
  replace_image(std::move(*image));
}

void Store::replace_image(ByteVector image) {
  if (path_.empty())
    throw UsageError(fmt::format("the variable store on {} needs a reclaim, which replaces the store's file, and this store "
                                 "was not opened from a file", device_->name()));
  const std::filesystem::path target(path_);
  const std::string folder = target.has_parent_path() ? target.parent_path().string() : ".";
  replace_file(folder, target.filename().string(), {reinterpret_cast<const char*>(image.data()), image.size()}, log_.get());
  // The old descriptor still reads the replaced file: open the new one.
  device_.reset();
  device_ = codec::open_store_file(path_, true, log_);
  load_image(std::move(image));
}

}  // namespace bootmirror::nvram
