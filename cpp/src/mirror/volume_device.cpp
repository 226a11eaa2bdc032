// A dynamic volume as a block device: reads from a plex in sync (failing over on I/O errors),
// writes to every plex that holds the written range. See bootmirror/mirror.h for the rules.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "bootmirror/error.h"
#include "bootmirror/mirror.h"

namespace bootmirror::mirror {

namespace {

bool overlaps(const std::vector<Extent>& extents, std::uint64_t offset, std::uint64_t length) {
  auto it = std::upper_bound(extents.begin(), extents.end(), offset,
                             [](std::uint64_t at, const Extent& e) { return at < e.offset + e.length; });
  return it != extents.end() && it->offset < offset + length;
}

// Applies f(run) to each device run of volume bytes [offset, offset+length) on a plex.
template <typename F>
void for_each_run(const PlexLayout& layout, std::uint64_t offset, std::uint64_t length, F f) {
  while (length > 0) {
    const Run run = layout.locate(offset, length);
    f(run);
    offset += run.length;
    length -= run.length;
  }
}

// The kernel copies `length` bytes at volume `offset` from plex `from` into plex `to` when each
// side is one run on an image file (a mirror's plexes are one partition each): copy_file_range,
// with no pass through user space. False when it cannot; the caller copies through its buffer.
bool copy_in_kernel(const std::vector<DevicePtr>& devices, const PlexLayout& from, const PlexLayout& to,
                    std::uint64_t offset, std::uint64_t length) {
  const Run a = from.locate(offset, length), b = to.locate(offset, length);
  if (a.length != length || b.length != length) return false;
  auto* source = dynamic_cast<ImageFile*>(devices.at(a.device).get());
  auto* target = dynamic_cast<ImageFile*>(devices.at(b.device).get());
  return source && target && source != target && source->copy_to(*target, a.device_offset, b.device_offset, length);
}

}  // namespace

VolumeDevice::ConfigPtr VolumeDevice::checked(std::vector<DevicePtr> devices, std::vector<PlexLayout> plexes,
                                              const std::string& name, std::uint64_t size, std::uint32_t sector_size) {
  for (const PlexLayout& p : plexes) {
    if (p.runs.empty()) throw UsageError(fmt::format("plex {} has no runs", p.name));
    if (p.striped && (p.stripe_bytes == 0 || p.stripe_bytes % sector_size != 0))
      throw UsageError(fmt::format("plex {}: stripe size {} is not a whole number of sectors", p.name, p.stripe_bytes));
    bool present = true;
    std::uint64_t covered = 0, rows = std::numeric_limits<std::uint64_t>::max();
    for (const Run& r : p.runs) {
      if (r.device >= devices.size()) throw UsageError(fmt::format("plex {} names device {}", p.name, r.device));
      // A run on a missing disk still takes its place in the volume: the runs after it follow it.
      if (!p.striped && r.volume_offset != covered)
        throw UsageError(fmt::format("plex {}: its runs leave a gap at volume byte {}", p.name, covered));
      covered += r.length;
      if (!devices[r.device]) {
        present = false;
        continue;
      }
      devices[r.device]->check_range(r.device_offset, r.length, "map");
      if (p.striped) rows = std::min(rows, r.length / p.stripe_bytes);
    }
    // A striped plex holds rows of whole chunks: what its smallest column allows.
    if (p.striped) covered = rows * p.stripe_bytes * p.runs.size();
    if (present && covered < size)
      throw UsageError(fmt::format("plex {} holds {} bytes of the {}-byte volume {}", p.name, covered, size, name));
  }
  return std::make_shared<const Config>(Config{std::move(devices), std::move(plexes)});
}

std::vector<VolumeDevice::Plex> VolumeDevice::initial_states(const Config& config) {
  std::vector<Plex> states(config.layouts.size());
  for (std::size_t i = 0; i < states.size(); ++i)
    for (const Run& r : config.layouts[i].runs)
      if (!config.devices[r.device]) states[i] = Plex{PlexState::failed, 0, fmt::format("a disk of {} is missing", config.layouts[i].name), {}};
  return states;
}

VolumeDevice::VolumeDevice(std::string name, std::uint64_t size, std::uint32_t sector_size,
                           std::vector<DevicePtr> devices, std::vector<PlexLayout> plexes)
    : name_(std::move(name)), size_(size), sector_size_(sector_size) {
  check_sector_size(sector_size_);
  if (plexes.empty()) throw UsageError(fmt::format("volume {} has no plex", name_));
  config_ = checked(std::move(devices), std::move(plexes), name_, size_, sector_size_);
  plexes_ = initial_states(*config_);
}

void VolumeDevice::reconfigure(std::vector<DevicePtr> devices, std::vector<PlexLayout> plexes,
                               const std::vector<std::optional<std::uint64_t>>& rebuild_from) {
  ConfigPtr next = checked(std::move(devices), std::move(plexes), name_, size_, sector_size_);
  std::vector<Plex> states = initial_states(*next);
  for (std::size_t i = 0; i < states.size() && i < rebuild_from.size(); ++i)
    if (rebuild_from[i] && states[i].state == PlexState::in_sync)
      states[i] = Plex{PlexState::rebuilding, std::min(*rebuild_from[i], size_), {}, {}};
  std::lock_guard write_lock(write_mutex_);
  std::lock_guard lock(state_mutex_);
  if (next->devices == config_->devices && next->layouts == config_->layouts) return;
  // A plex still there on the same devices keeps what it was (in sync, failed, or rebuilding with
  // its cursor and the writes that landed ahead of it); a missing device fails it all the same.
  for (std::size_t i = 0; i < states.size(); ++i) {
    if (states[i].state == PlexState::failed) continue;
    for (std::size_t j = 0; j < config_->layouts.size(); ++j) {
      const PlexLayout &now = next->layouts[i], &was = config_->layouts[j];
      const bool same = now == was && std::all_of(now.runs.begin(), now.runs.end(), [&](const Run& r) {
        return next->devices[r.device] == config_->devices[r.device];
      });
      if (same) states[i] = plexes_[j];
    }
  }
  config_ = std::move(next);
  plexes_ = std::move(states);
  ++generation_;
}

std::uint64_t VolumeDevice::generation() const {
  std::lock_guard lock(state_mutex_);
  return generation_;
}

void VolumeDevice::check_generation(std::uint64_t generation) const {
  if (generation != generation_) throw Reconfigured(fmt::format("the plexes of {} changed during the rebuild", name_));
}

void VolumeDevice::check_rebuilding_locked(std::uint64_t generation, std::size_t plex) const {
  check_generation(generation);
  const Plex& p = plexes_.at(plex);
  if (p.state == PlexState::rebuilding) return;
  const std::string& name = config_->layouts[plex].name;
  // A write that failed on the plex while it was being rebuilt failed it: that is the rebuild's
  // end, and its error.
  if (p.state == PlexState::failed)
    throw OsError(EIO, name_, fmt::format("plex {} failed during its rebuild ({})", name, p.problem));
  throw UsageError(fmt::format("plex {} is not being rebuilt", name));
}

void VolumeDevice::check_rebuilding(std::uint64_t generation, std::size_t plex) const {
  std::lock_guard lock(state_mutex_);
  check_rebuilding_locked(generation, plex);
}

VolumeDevice::ConfigPtr VolumeDevice::config() const {
  std::lock_guard lock(state_mutex_);
  return config_;
}

std::size_t VolumeDevice::plex_count() const { return config()->layouts.size(); }
PlexLayout VolumeDevice::layout(std::size_t plex) const { return config()->layouts.at(plex); }
std::vector<DevicePtr> VolumeDevice::devices() const { return config()->devices; }

bool VolumeDevice::writable() const {
  ConfigPtr c = config();
  const auto states = plexes();
  for (std::size_t i = 0; i < c->layouts.size(); ++i) {
    if (states[i].state == PlexState::failed) continue;
    for (const Run& r : c->layouts[i].runs)
      if (!c->devices[r.device]->writable()) return false;
  }
  return true;
}

PlexStatus VolumeDevice::status_locked(std::size_t i) const {
  return PlexStatus{config_->layouts[i].name, plexes_[i].state, plexes_[i].cursor, plexes_[i].problem};
}

std::vector<PlexStatus> VolumeDevice::plexes() const {
  std::lock_guard lock(state_mutex_);
  std::vector<PlexStatus> out;
  for (std::size_t i = 0; i < plexes_.size(); ++i) out.push_back(status_locked(i));
  return out;
}

std::size_t VolumeDevice::source_plex_locked(std::size_t except) const {
  for (std::size_t i = 0; i < plexes_.size(); ++i)
    if (i != except && plexes_[i].state == PlexState::in_sync) return i;
  return plexes_.size();
}

std::size_t VolumeDevice::source_plex(std::size_t except) const {
  std::lock_guard lock(state_mutex_);
  return source_plex_locked(except);
}

bool VolumeDevice::readable() const { return source_plex(std::numeric_limits<std::size_t>::max()) != plex_count(); }

void VolumeDevice::on_missed_write(MissedWrite callback) {
  std::lock_guard lock(state_mutex_);
  on_missed_write_ = std::move(callback);
}

void VolumeDevice::set_state(std::size_t plex, PlexState state, std::string problem) {
  std::lock_guard lock(state_mutex_);
  set_state_locked(plex, state, std::move(problem));
}

void VolumeDevice::set_state_locked(std::size_t plex, PlexState state, std::string problem) {
  Plex& p = plexes_.at(plex);
  if (p.state == state && p.problem == problem) return;
  p.state = state;
  p.problem = std::move(problem);
  p.written_ahead.clear();
  if (state == PlexState::in_sync) p.cursor = size_;
}

void VolumeDevice::start_rebuild(std::size_t plex, std::uint64_t cursor) {
  {
    std::lock_guard lock(state_mutex_);
    Plex& p = plexes_.at(plex);
    cursor = std::min(cursor, size_);
    // Already rebuilding (a rebuild restarted after a reconfiguration): what it copied since its
    // last checkpoint is in the plex, and writes below its cursor have reached it.
    p.cursor = p.state == PlexState::rebuilding ? std::max(p.cursor, cursor) : cursor;
  }
  set_state(plex, PlexState::rebuilding);
}

void VolumeDevice::fail(std::size_t plex, std::string problem) { set_state(plex, PlexState::failed, std::move(problem)); }

void VolumeDevice::mark_in_sync(std::size_t plex, std::uint64_t generation) {
  std::lock_guard lock(state_mutex_);
  // Under the lock the check took: a write failing the plex cannot come between.
  check_rebuilding_locked(generation, plex);
  set_state_locked(plex, PlexState::in_sync);
}

void VolumeDevice::read_plex(const Config& c, std::size_t plex, std::uint64_t offset, MutableByteSpan out) {
  std::size_t done = 0;
  for_each_run(c.layouts.at(plex), offset, out.size(), [&](const Run& run) {
    c.devices[run.device]->read(run.device_offset, out.subspan(done, std::size_t(run.length)));
    done += std::size_t(run.length);
  });
}

void VolumeDevice::write_plex(const Config& c, std::size_t plex, std::uint64_t offset, ByteSpan data) {
  std::size_t done = 0;
  for_each_run(c.layouts.at(plex), offset, data.size(), [&](const Run& run) {
    c.devices[run.device]->write(run.device_offset, data.subspan(done, std::size_t(run.length)));
    done += std::size_t(run.length);
  });
}

void VolumeDevice::read_plex(std::size_t plex, std::uint64_t offset, MutableByteSpan out) {
  check_range(offset, out.size(), "read");
  read_plex(*config(), plex, offset, out);
}

void VolumeDevice::do_read(std::uint64_t offset, MutableByteSpan out) {
  const ConfigPtr c = config();
  for (;;) {
    const std::size_t source = source_plex(c->layouts.size());
    if (source >= c->layouts.size()) throw OsError(EIO, name_, "read (no plex of the volume can serve)");
    try {
      read_plex(*c, source, offset, out);
      return;
    } catch (const OsError& e) {
      // The disk under this plex failed: the next plex serves, and this one needs a rebuild.
      fail(source, e.what());
    }
  }
}

void VolumeDevice::do_write(std::uint64_t offset, ByteSpan data) {
  std::lock_guard write_lock(write_mutex_);
  const ConfigPtr c = config();
  std::vector<std::size_t> targets;
  std::vector<std::string> missed;
  MissedWrite record_missed;
  {
    std::lock_guard lock(state_mutex_);
    for (std::size_t i = 0; i < plexes_.size(); ++i) {
      Plex& p = plexes_[i];
      // A rebuilding plex takes only what lies below its cursor (a write that straddles it is
      // taken whole: the copy then rewrites the part above with the same bytes).
      if (p.state == PlexState::in_sync || (p.state == PlexState::rebuilding && offset < p.cursor)) targets.push_back(i);
      if (p.state == PlexState::rebuilding && offset + data.size() > p.cursor) p.written_ahead.push_back(Extent{offset, data.size()});
      if (p.state == PlexState::failed || (p.state == PlexState::rebuilding && offset + data.size() > p.cursor))
        missed.push_back(c->layouts[i].name);
    }
    record_missed = on_missed_write_;
  }
  // Durably recorded before any plex has it: a crash after the write leaves the record.
  if (!missed.empty() && record_missed) record_missed(missed, offset, data.size());
  bool written = false;
  std::string last_error;
  for (std::size_t plex : targets) {
    try {
      write_plex(*c, plex, offset, data);
      written |= plexes()[plex].state == PlexState::in_sync;
    } catch (const OsError& e) {
      fail(plex, e.what());
      last_error = e.what();
      // It missed this write, and misses the ones after it (marked before they are issued).
      if (record_missed) record_missed({c->layouts[plex].name}, offset, data.size());
    }
  }
  if (!written)
    throw OsError(EIO, name_, fmt::format("write at byte {} (no plex took it{})", offset,
                                          last_error.empty() ? "" : "; last error: " + last_error));
}

void VolumeDevice::flush() {
  const ConfigPtr c = config();
  const auto states = plexes();
  std::vector<bool> flushed(c->devices.size());
  for (std::size_t i = 0; i < c->layouts.size(); ++i) {
    if (states[i].state == PlexState::failed) continue;
    for (const Run& r : c->layouts[i].runs) {
      if (flushed[r.device]) continue;
      flushed[r.device] = true;
      try {
        c->devices[r.device]->flush();
      } catch (const OsError& e) {
        fail(i, e.what());
      }
    }
  }
  if (!readable()) throw OsError(EIO, name_, "flush (no plex could be flushed)");
}

std::vector<Extent> VolumeDevice::plex_extents(std::size_t plex) const {
  // Each run's allocated device ranges, mapped back to volume offsets (striped plexes: per chunk).
  const ConfigPtr c = config();
  const PlexLayout& layout = c->layouts.at(plex);
  std::vector<std::vector<Extent>> device_extents(c->devices.size());
  for (const Run& r : layout.runs)
    if (device_extents[r.device].empty() && c->devices[r.device]) device_extents[r.device] = c->devices[r.device]->allocated_extents();
  std::vector<Extent> out;
  const std::uint64_t step = layout.striped ? layout.stripe_bytes : size_;
  for (std::uint64_t at = 0; at < size_;) {
    const Run run = layout.locate(at, std::min(step, size_ - at));
    if (overlaps(device_extents[run.device], run.device_offset, run.length)) {
      if (!layout.striped) {  // concatenated runs are mapped precisely; stripes are taken whole
        for (const Extent& e : device_extents[run.device]) {
          const std::uint64_t lo = std::max(e.offset, run.device_offset);
          const std::uint64_t hi = std::min(e.offset + e.length, run.device_offset + run.length);
          if (lo < hi) out.push_back(Extent{at + (lo - run.device_offset), hi - lo});
        }
      } else if (!out.empty() && out.back().offset + out.back().length == at) {
        out.back().length += run.length;
      } else {
        out.push_back(Extent{at, run.length});
      }
    }
    at += run.length;
  }
  return out;
}

std::vector<Extent> VolumeDevice::allocated_extents() const {
  const std::size_t source = source_plex(std::numeric_limits<std::size_t>::max());
  return source < plex_count() ? plex_extents(source) : std::vector<Extent>{};
}

void VolumeDevice::copy_chunk(std::uint64_t generation, std::size_t plex, std::uint64_t offset, std::uint64_t length,
                              MutableByteSpan buffer) {
  check_range(offset, length, "copy");
  std::lock_guard write_lock(write_mutex_);
  const ConfigPtr c = config();
  bool copied = false;
  for (;;) {
    std::size_t source;
    {
      std::lock_guard lock(state_mutex_);
      check_rebuilding_locked(generation, plex);
      source = source_plex_locked(plex);
    }
    if (source >= c->layouts.size()) throw OsError(EIO, name_, "rebuild (no plex to copy from)");
    if (copy_in_kernel(c->devices, c->layouts[source], c->layouts[plex], offset, length)) {
      copied = true;
      break;
    }
    try {
      read_plex(*c, source, offset, buffer.first(std::size_t(length)));
      break;
    } catch (const OsError& e) {
      fail(source, e.what());
    }
  }
  if (!copied) write_plex(*c, plex, offset, ByteSpan(buffer.first(std::size_t(length))));
  std::lock_guard lock(state_mutex_);
  Plex& p = plexes_[plex];
  p.cursor = std::max(p.cursor, offset + length);
  std::erase_if(p.written_ahead, [&](const Extent& e) { return e.offset + e.length <= p.cursor; });
}

bool VolumeDevice::skip_hole(std::uint64_t generation, std::size_t plex, std::uint64_t offset, std::uint64_t length) {
  std::lock_guard write_lock(write_mutex_);
  std::lock_guard lock(state_mutex_);
  check_rebuilding_locked(generation, plex);
  Plex& p = plexes_[plex];
  for (const Extent& e : p.written_ahead)
    if (e.offset < offset + length && offset < e.offset + e.length) return false;
  p.cursor = std::max(p.cursor, offset + length);
  // Writes wholly below the cursor are in the plex now; forget them.
  std::erase_if(p.written_ahead, [&](const Extent& e) { return e.offset + e.length <= p.cursor; });
  return true;
}

bool VolumeDevice::same_bytes(std::uint64_t generation, std::size_t a, std::size_t b, std::uint64_t offset,
                              std::uint64_t length, MutableByteSpan buffer_a, MutableByteSpan buffer_b) {
  check_range(offset, length, "compare");
  auto first = buffer_a.first(std::size_t(length)), second = buffer_b.first(std::size_t(length));
  auto read_both = [&] {
    ConfigPtr c;
    {
      std::lock_guard lock(state_mutex_);
      check_generation(generation);
      c = config_;
    }
    read_plex(*c, a, offset, first);
    read_plex(*c, b, offset, second);
    // memcmp, not std::equal: libstdc++ compares std::byte ranges a byte at a time (std::byte is
    // not an integer type to it), measured at a third of memcmp's speed.
    return std::memcmp(first.data(), second.data(), first.size()) == 0;
  };
  // First without the write lock, as the volume's reads are, so that compares on both cores run
  // at once. Each write reaches both plexes (the range lies below the cursor of a plex being
  // rebuilt), so bytes found equal are equal whatever landed between the two reads; bytes found
  // different are read again under the lock, where no write can land between the reads.
  if (read_both()) return true;
  std::lock_guard write_lock(write_mutex_);
  return read_both();
}

}  // namespace bootmirror::mirror
