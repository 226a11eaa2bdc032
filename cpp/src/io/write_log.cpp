// The write-back crash model: recording, and the crash states a recording allows.
#include "bootmirror/write_log.h"

#include <algorithm>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/xxh3.h"

namespace bootmirror {

std::size_t WriteLog::add_device(std::string name, std::uint32_t sector_size) {
  std::lock_guard lock(mutex_);
  devices_.emplace_back(std::move(name), sector_size);
  return devices_.size() - 1;
}

void WriteLog::record_write(std::size_t device, std::uint64_t offset, ByteSpan data) {
  std::lock_guard lock(mutex_);
  Event e;
  e.kind = Kind::write;
  e.device = device;
  e.offset = offset;
  e.data.assign(data.begin(), data.end());
  events_.push_back(std::move(e));
}

void WriteLog::record_flush(std::size_t device) {
  std::lock_guard lock(mutex_);
  Event e;
  e.kind = Kind::flush;
  e.device = device;
  events_.push_back(std::move(e));
}

void WriteLog::record_file_write(const std::string& name, std::string_view contents) {
  std::lock_guard lock(mutex_);
  Event e;
  e.kind = Kind::file_write;
  e.name = name;
  e.data.assign(as_bytes(contents).begin(), as_bytes(contents).end());
  events_.push_back(std::move(e));
}

void WriteLog::record_file_sync(const std::string& name) {
  std::lock_guard lock(mutex_);
  Event e;
  e.kind = Kind::file_sync;
  e.name = name;
  events_.push_back(std::move(e));
}

void WriteLog::record_rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mutex_);
  Event e;
  e.kind = Kind::rename;
  e.name = from;
  e.new_name = to;
  events_.push_back(std::move(e));
}

void WriteLog::record_folder_sync() {
  std::lock_guard lock(mutex_);
  Event e;
  e.kind = Kind::folder_sync;
  events_.push_back(std::move(e));
}

std::size_t WriteLog::device_count() const {
  std::lock_guard lock(mutex_);
  return devices_.size();
}

std::string WriteLog::device_name(std::size_t device) const {
  std::lock_guard lock(mutex_);
  if (device >= devices_.size()) throw UsageError(fmt::format("the write log has no device {}", device));
  return devices_[device].first;
}

std::size_t WriteLog::event_count() const {
  std::lock_guard lock(mutex_);
  return events_.size();
}

std::size_t WriteLog::write_count() const {
  std::lock_guard lock(mutex_);
  return std::size_t(std::count_if(events_.begin(), events_.end(), [](const Event& e) { return e.kind == Kind::write; }));
}

namespace {

std::string describe(const WriteLog::Event& e, const std::string& device) {
  switch (e.kind) {
    case WriteLog::Kind::write: return fmt::format("write of {} bytes at {} on {}", e.data.size(), e.offset, device);
    case WriteLog::Kind::flush: return fmt::format("flush of {}", device);
    case WriteLog::Kind::file_write: return fmt::format("write of {} ({} bytes)", e.name, e.data.size());
    case WriteLog::Kind::file_sync: return fmt::format("fsync of {}", e.name);
    case WriteLog::Kind::rename: return fmt::format("rename of {} to {}", e.name, e.new_name);
    case WriteLog::Kind::folder_sync: return "fsync of the folder";
  }
  return "event";
}

bool makes_durable(WriteLog::Kind kind) {
  return kind == WriteLog::Kind::flush || kind == WriteLog::Kind::file_sync || kind == WriteLog::Kind::folder_sync;
}

}  // namespace

std::string WriteLog::describe_event(std::size_t index) const {
  std::lock_guard lock(mutex_);
  if (index >= events_.size()) throw UsageError(fmt::format("the write log has no event {}", index));
  const Event& e = events_[index];
  return describe(e, e.kind == Kind::write || e.kind == Kind::flush ? devices_.at(e.device).first : "");
}

std::vector<std::size_t> WriteLog::crash_points() const {
  std::lock_guard lock(mutex_);
  std::vector<std::size_t> points{0};
  for (std::size_t i = 0; i < events_.size(); ++i)
    if (makes_durable(events_[i].kind) && i != 0) points.push_back(i);
  if (events_.size() != 0) points.push_back(events_.size());
  return points;
}

CrashState WriteLog::crash(std::size_t point, Choice choice, std::uint64_t seed) const {
  std::lock_guard lock(mutex_);
  if (point > events_.size())
    throw UsageError(fmt::format("crash point {} is past the {} events recorded", point, events_.size()));
  CrashState state;
  state.log_ = shared_from_this();
  state.point_ = point;
  // One generator per (seed, point), so a state is reproduced from the two numbers alone.
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + point);
  auto pick = [&](std::uint64_t n) { return n == 0 ? 0 : rng() % n; };
  std::vector<std::string> in_flight;

  // Devices: a write is durable when a flush of its device follows it before the crash point.
  std::vector<std::size_t> last_flush(devices_.size(), 0);
  std::vector<bool> flushed(devices_.size(), false);
  for (std::size_t i = 0; i < point; ++i)
    if (events_[i].kind == Kind::flush) last_flush[events_[i].device] = i, flushed[events_[i].device] = true;
  for (std::size_t i = 0; i < point; ++i) {
    const Event& e = events_[i];
    if (e.kind != Kind::write) continue;
    const bool durable = flushed[e.device] && i < last_flush[e.device];
    if (durable) {
      state.pieces_.push_back({i, 0, e.data.size()});
      continue;
    }
    const std::uint64_t sector = devices_[e.device].second, sectors = (e.data.size() + sector - 1) / sector;
    const std::uint64_t fate = choice == Choice::none_survive ? 0 : choice == Choice::all_survive ? 1 : pick(3);
    if (fate == 0) {
      in_flight.push_back(fmt::format("write {} lost", i));
    } else if (fate == 1 || sectors < 2) {
      state.pieces_.push_back({i, 0, e.data.size()});
      in_flight.push_back(fmt::format("write {} whole", i));
    } else {
      // Torn: each sector of the write reached the disk or not.
      std::vector<std::uint64_t> kept;
      for (std::uint64_t s = 0; s < sectors; ++s) {
        if (pick(2) == 0) continue;
        kept.push_back(s);
        const std::uint64_t skip = s * sector;
        state.pieces_.push_back({i, skip, std::min<std::uint64_t>(sector, e.data.size() - skip)});
      }
      in_flight.push_back(fmt::format("write {} torn ({} of {} sectors)", i, kept.size(), sectors));
    }
  }

  // Files: directory changes are durable up to the last fsync of the folder, later ones survive
  // in order up to some point; a file's contents are durable once it was fsynced.
  struct Inode {
    std::size_t event;
    bool synced = false;
  };
  std::vector<Inode> inodes;
  std::map<std::string, long> binding;  // name -> inode; -1: the file as it was before the log
  std::vector<std::pair<std::string, long>> changes;  // directory changes in order (-2: removed)
  std::size_t durable_changes = 0;
  std::set<std::string> touched;
  auto bound = [&](const std::string& name) {
    auto it = binding.find(name);
    return it == binding.end() ? -1L : it->second;
  };
  for (std::size_t i = 0; i < point; ++i) {
    const Event& e = events_[i];
    if (e.kind == Kind::file_write) {
      inodes.push_back({i});
      changes.emplace_back(e.name, long(inodes.size() - 1));
      binding[e.name] = long(inodes.size() - 1);
      touched.insert(e.name);
    } else if (e.kind == Kind::file_sync) {
      if (long inode = bound(e.name); inode >= 0) inodes[std::size_t(inode)].synced = true;
    } else if (e.kind == Kind::rename) {
      const long inode = bound(e.name);
      changes.emplace_back(e.new_name, inode);
      changes.emplace_back(e.name, -2L);
      binding[e.new_name] = inode;
      binding[e.name] = -2;
      touched.insert(e.name);
      touched.insert(e.new_name);
    } else if (e.kind == Kind::folder_sync) {
      durable_changes = changes.size();
    }
  }
  std::size_t surviving = durable_changes;
  const std::size_t pending = changes.size() - durable_changes;
  if (pending) {
    surviving += choice == Choice::none_survive ? 0 : choice == Choice::all_survive ? pending : pick(pending + 1);
    in_flight.push_back(fmt::format("{} of {} directory changes survive", surviving - durable_changes, pending));
  }
  std::map<std::string, long> after;
  for (std::size_t c = 0; c < surviving; ++c) after[changes[c].first] = changes[c].second;
  for (const std::string& name : touched) {
    auto it = after.find(name);
    if (it == after.end() || it->second == -1) continue;  // as before the operation
    FileOutcome outcome;
    if (it->second >= 0) {
      const Inode& inode = inodes[std::size_t(it->second)];
      const ByteVector& data = events_[inode.event].data;
      std::uint64_t length = data.size();
      if (!inode.synced) {
        const std::uint64_t fate = choice == Choice::none_survive ? 0 : choice == Choice::all_survive ? 1 : pick(3);
        length = fate == 0 ? 0 : fate == 1 ? data.size() : pick(data.size() + 1);
        in_flight.push_back(fmt::format("{} keeps {} of {} unsynced bytes", name, length, data.size()));
      }
      outcome.exists = true;
      outcome.contents.assign(reinterpret_cast<const char*>(data.data()), std::size_t(length));
    }
    state.files_[name] = std::move(outcome);
  }

  const std::string where = point < events_.size()
                                ? describe(events_[point], events_[point].kind == Kind::write || events_[point].kind == Kind::flush
                                                               ? devices_.at(events_[point].device).first
                                                               : "")
                                : std::string("the end");
  state.description_ = fmt::format("crash before event {} ({}), seed {}: {}", point, where, seed,
                                   in_flight.empty() ? std::string("nothing in flight") : fmt::format("{}", fmt::join(in_flight, ", ")));

  XXH3_state_t* hash = XXH3_createState();
  XXH3_128bits_reset(hash);
  for (const auto& p : state.pieces_) {
    const Event& e = events_[p.event];
    const std::uint64_t header[3] = {e.device, e.offset + p.skip, p.length};
    XXH3_128bits_update(hash, header, sizeof header);
    XXH3_128bits_update(hash, e.data.data() + p.skip, std::size_t(p.length));
  }
  for (const auto& [name, outcome] : state.files_) {
    XXH3_128bits_update(hash, name.data(), name.size() + 1);
    const char exists = outcome.exists ? 1 : 0;
    XXH3_128bits_update(hash, &exists, 1);
    XXH3_128bits_update(hash, outcome.contents.data(), outcome.contents.size());
  }
  const XXH128_hash_t digest = XXH3_128bits_digest(hash);
  XXH3_freeState(hash);
  state.signature_ = fmt::format("{:016x}{:016x}", digest.high64, digest.low64);
  return state;
}

std::vector<CrashState> WriteLog::crash_states(std::size_t random_per_point, std::uint64_t seed) const {
  if (random_per_point > kMaxRandomPerPoint)
    throw UsageError(fmt::format("random_per_point {} is more than {}", random_per_point, kMaxRandomPerPoint));
  std::vector<CrashState> states;
  std::set<std::string> seen;
  auto keep = [&](CrashState s) {
    if (seen.insert(s.signature()).second) states.push_back(std::move(s));
  };
  for (std::size_t point : crash_points()) {
    keep(crash(point, Choice::none_survive));
    keep(crash(point, Choice::all_survive));
    for (std::size_t k = 0; k < random_per_point; ++k) keep(crash(point, Choice::random, seed + k));
  }
  return states;
}

std::size_t CrashState::surviving_writes() const {
  std::set<std::size_t> events;
  for (const Piece& p : pieces_) events.insert(p.event);
  return events.size();
}

void CrashState::apply(const std::vector<DevicePtr>& targets) const {
  if (targets.size() != log_->device_count())
    throw UsageError(fmt::format("the crash state needs {} devices, not {}", log_->device_count(), targets.size()));
  // The surviving pieces are copied out under the log's lock and written after it: a target may
  // record into this same log (a FaultyDisk given it), which takes the lock again and grows the
  // events the pieces point into.
  struct Write {
    std::size_t device;
    std::uint64_t offset;
    ByteVector data;
  };
  std::vector<Write> writes;
  {
    std::lock_guard lock(log_->mutex_);
    writes.reserve(pieces_.size());
    for (const Piece& p : pieces_) {
      const WriteLog::Event& e = log_->events_[p.event];
      const ByteSpan bytes = ByteSpan(e.data).subspan(std::size_t(p.skip), std::size_t(p.length));
      writes.push_back(Write{e.device, e.offset + p.skip, ByteVector(bytes.begin(), bytes.end())});
    }
  }
  for (const Write& w : writes) targets.at(w.device)->write(w.offset, w.data);
}

std::string CrashState::signature() const { return signature_; }

}  // namespace bootmirror
