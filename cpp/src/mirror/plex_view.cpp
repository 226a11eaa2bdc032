// One plex of a dynamic volume as a read-only device (bootmirror/mirror.h, PlexView).
#include <fmt/format.h>

#include "bootmirror/mirror.h"

namespace bootmirror::mirror {

PlexView::PlexView(std::shared_ptr<VolumeDevice> volume, std::string plex) : volume_(std::move(volume)), plex_(std::move(plex)) {
  index();  // refuses a plex the volume does not have, or one on a missing disk, at once
}

std::string PlexView::name() const { return fmt::format("plex {} of {}", plex_, volume_->name()); }

std::size_t PlexView::index() const {
  const auto devices = volume_->devices();
  for (std::size_t i = 0; i < volume_->plex_count(); ++i) {
    const PlexLayout layout = volume_->layout(i);
    if (layout.name != plex_) continue;
    for (const Run& run : layout.runs)
      if (run.device >= devices.size() || !devices[run.device])
        throw UsageError(fmt::format("plex {} of {} is on a missing disk", plex_, volume_->name()));
    return i;
  }
  throw UsageError(fmt::format("{} has no plex {}", volume_->name(), plex_));
}

std::vector<Extent> PlexView::allocated_extents() const { return volume_->plex_extents(index()); }

void PlexView::do_read(std::uint64_t offset, MutableByteSpan out) {
  // A reconfiguration between finding the plex and reading it could renumber the plexes: read
  // again until the configuration held still over the whole read (it changes at human pace).
  for (;;) {
    const std::uint64_t generation = volume_->generation();
    volume_->read_plex(index(), offset, out);
    if (volume_->generation() == generation) return;
  }
}

void PlexView::do_write(std::uint64_t, ByteSpan) {
  throw UsageError(fmt::format("{} is open read-only", name()));  // writable() is false: never reached
}

}  // namespace bootmirror::mirror
