// File contents: reading and writing through cluster runs, growing and shrinking chains.
// Each contiguous run is one device call, whatever the cluster size.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>

#include <fmt/format.h>

#include "bootmirror/host_files.h"
#include "fat/volume_impl.h"

namespace bootmirror::fat {

namespace {

constexpr std::uint64_t max_file_size = 0xFFFFFFFFull;
constexpr std::uint64_t staged_file_limit = 1 << 20;  // files up to this size are write-combined
constexpr std::size_t staging_limit = 2 << 20;  // per request: a larger buffer only costs page faults

// Calls fn(device_offset, position_in_span, length) for each contiguous piece of [offset,
// offset+length) of a chain.
template <typename Fn>
void for_each_piece(const Geometry& g, const std::vector<Run>& runs, std::uint64_t offset, std::uint64_t length, Fn fn) {
  const std::uint64_t cs = g.cluster_size();
  std::uint64_t run_start = 0, done = 0;
  for (const Run& r : runs) {
    std::uint64_t run_bytes = std::uint64_t(r.count) * cs;
    std::uint64_t run_end = run_start + run_bytes;
    if (offset + done < run_end && done < length) {
      std::uint64_t within = offset + done - run_start;
      std::uint64_t n = std::min(run_bytes - within, length - done);
      fn(g.cluster_offset(r.first) + within, done, n);
      done += n;
    }
    if (done == length) return;
    run_start = run_end;
  }
  if (done < length) throw FormatError("FAT: a file is longer than its cluster chain");
}

}  // namespace

void Volume::Impl::read_runs(const std::vector<Run>& runs, std::uint64_t offset, MutableByteSpan out) {
  flush_staging();
  for_each_piece(geometry, runs, offset, out.size(), [&](std::uint64_t at, std::uint64_t pos, std::uint64_t n) {
    device->read(at, out.subspan(pos, n));
  });
}

void Volume::Impl::copy_runs_to_host(const std::vector<Run>& runs, std::uint64_t size, int fd, const std::string& shown,
                                     AlignedBuffer& buffer, bool& in_kernel) {
  constexpr std::size_t chunk = 8 << 20;
  flush_staging();
  for_each_piece(geometry, runs, 0, size, [&](std::uint64_t at, std::uint64_t pos, std::uint64_t n) {
    if (in_kernel && device->copy_to_host(at, n, fd, pos)) return;
    in_kernel = false;
    buffer.ensure(std::size_t(std::min<std::uint64_t>(n, chunk)));
    for (std::uint64_t done = 0; done < n;) {
      const MutableByteSpan piece(buffer.data(), std::size_t(std::min<std::uint64_t>(buffer.size(), n - done)));
      device->read(at + done, piece);
      write_fully(fd, pos + done, piece, shown);
      done += piece.size();
    }
  });
}

void Volume::Impl::write_runs(const std::vector<Run>& runs, std::uint64_t offset, ByteSpan data) {
  flush_staging();
  for_each_piece(geometry, runs, offset, data.size(), [&](std::uint64_t at, std::uint64_t pos, std::uint64_t n) {
    device->write(at, data.subspan(pos, n));
  });
}

void Volume::Impl::zero_runs(const std::vector<Run>& runs, std::uint64_t offset, std::uint64_t length) {
  flush_staging();
  for_each_piece(geometry, runs, offset, length,
                 [&](std::uint64_t at, std::uint64_t, std::uint64_t n) { write_zeros(*device, at, n); });
}

// ---- helpers on an open file's state ----------------------------------------------------------

namespace {

struct FileOps {
  Volume::Impl& v;
  FileState& f;

  DirNode& node() {
    Directory& dir = v.directory(f.dir);
    auto it = dir.nodes().find(f.slot);
    if (it == dir.nodes().end()) throw UsageError("the file's entry is gone");
    return const_cast<DirNode&>(it->second);
  }

  std::uint64_t allocated() const {
    std::uint64_t n = 0;
    for (const Run& r : f.runs) n += r.count;
    return n * v.geometry.cluster_size();
  }

  void add_runs(const std::vector<Run>& added) {
    for (const Run& r : added) {
      if (!f.runs.empty() && f.runs.back().first + f.runs.back().count == r.first) f.runs.back().count += r.count;
      else f.runs.push_back(r);
    }
  }

  // Makes the chain long enough for `bytes`, zeroing the stretch between the old size and `from`.
  void ensure(std::uint64_t bytes) {
    if (bytes > max_file_size)
      throw OsError(EFBIG, "", fmt::format("a FAT file holds at most {} bytes", max_file_size));
    std::uint32_t have = v.clusters_for(allocated());
    std::uint32_t need = v.clusters_for(bytes);
    if (need <= have) return;
    std::uint32_t last = f.runs.empty() ? 0 : f.runs.back().first + f.runs.back().count - 1;
    std::vector<Run> added;
    try {
      added = v.fat->allocate(need - have, last);
    } catch (const UsageError&) {
      throw OsError(ENOSPC, "", "write: there is not enough space on the disk");
    }
    if (f.first_cluster == 0) f.first_cluster = added[0].first;
    add_runs(added);
    f.entry_dirty = true;
  }

  void write(std::uint64_t offset, ByteSpan data) {
    // Before anything changes, and without the sum wrapping (an offset near 2^64 once got past
    // ensure's check and zero-filled the file's slack).
    if (offset > max_file_size || data.size() > max_file_size - offset)
      throw OsError(EFBIG, "", fmt::format("a FAT file holds at most {} bytes", max_file_size));
    std::uint64_t end = offset + data.size();
    ensure(std::max(end, f.size));
    if (offset > f.size) v.zero_runs(f.runs, f.size, offset - f.size);
    v.write_runs(f.runs, offset, data);
    if (end > f.size) f.size = end;
    f.entry_dirty = true;
  }

  void truncate(std::uint64_t size) {
    if (size > f.size) {
      ensure(size);
      v.zero_runs(f.runs, f.size, size - f.size);
    } else {
      std::uint32_t keep = v.clusters_for(size);
      if (keep == 0) {
        if (f.first_cluster) v.fat->free_chain(f.first_cluster);
        f.first_cluster = 0;
        f.runs.clear();
      } else if (keep < v.clusters_for(allocated())) {
        std::vector<Run> kept;
        std::uint32_t left = keep;
        for (const Run& r : f.runs) {
          if (!left) break;
          std::uint32_t n = std::min(left, r.count);
          kept.push_back({r.first, n});
          left -= n;
        }
        v.fat->truncate_after(kept.back().first + kept.back().count - 1);
        f.runs = std::move(kept);
      }
    }
    f.size = size;
    f.entry_dirty = true;
  }

  void store_entry() {
    if (!f.entry_dirty) return;
    DirNode& n = node();
    n.entry.first_cluster = f.first_cluster;
    n.entry.size = std::uint32_t(f.size);
    n.entry.attributes |= attr::archive;
    n.entry.stamp_modified(IdentitySource::now());
    v.directory(f.dir).store(n);
    f.entry_dirty = false;
  }
};

}  // namespace

// ---- File -------------------------------------------------------------------------------------
// Every File call holds the volume's lock, and checks that the file is open under it: two threads
// may share a File (one closing it while the other reads).

File::File(std::shared_ptr<Volume> volume, std::string path, std::shared_ptr<FileState> state)
    : volume_(std::move(volume)), path_(std::move(path)), state_(std::move(state)) {}

FileState& File::state() const {
  if (!state_) throw UsageError(fmt::format("'{}' is closed", wtf8_for_display(path_)));
  return *state_;
}

File::~File() {
  if (!state_ || !volume_) return;
  try {
    close();
  } catch (...) {
  }
}

bool File::closed() const {
  std::lock_guard lock(volume_->impl().mutex);
  return !state_;
}

std::uint64_t File::size() const {
  auto lock = volume_->impl().guard();
  return state().size;
}

std::size_t File::read(std::uint64_t offset, MutableByteSpan out) {
  auto lock = volume_->impl().guard();
  FileState& f = state();
  if (offset >= f.size) return 0;
  std::size_t n = std::size_t(std::min<std::uint64_t>(out.size(), f.size - offset));
  volume_->impl().read_runs(f.runs, offset, out.first(n));
  return n;
}

namespace {
// Runs one change to an open file: its state and the volume's cache are put back if it fails.
template <typename Fn>
void change_file(Volume::Impl& v, FileState& f, Fn fn) {
  Transaction change(v);
  FileState before = f;
  try {
    fn();
  } catch (...) {
    f = std::move(before);
    throw;
  }
  change.commit();
}
}  // namespace

void File::write(std::uint64_t offset, ByteSpan data) {
  auto lock = volume_->impl().guard();
  FileState& f = state();
  if (!f.writable) throw UsageError(fmt::format("'{}' is open for reading only", wtf8_for_display(path_)));
  change_file(volume_->impl(), f, [&] { FileOps{volume_->impl(), f}.write(offset, data); });
}

void File::truncate(std::uint64_t size) {
  auto lock = volume_->impl().guard();
  FileState& f = state();
  if (!f.writable) throw UsageError(fmt::format("'{}' is open for reading only", wtf8_for_display(path_)));
  change_file(volume_->impl(), f, [&] { FileOps{volume_->impl(), f}.truncate(size); });
}

void File::flush() {
  auto lock = volume_->impl().guard();
  FileState& f = state();
  change_file(volume_->impl(), f, [&] {
    FileOps{volume_->impl(), f}.store_entry();
    volume_->impl().flush();
  });
}

void File::close() {
  std::lock_guard lock(volume_->impl().mutex);
  if (!state_) return;
  if (state_->writable) flush();  // UsageError once the volume is detached, as any other write
  state_.reset();
}

// ---- whole files -----------------------------------------------------------------------------

File Volume::open_file(const std::string& path, bool writable, bool create, bool truncate, bool exclusive) {
  if ((create || truncate) && !writable) throw UsageError("creating or truncating a file needs write access");
  auto lock = impl_->guard();
  if (writable) impl_->require_writable();
  Transaction change(*impl_);
  auto parts = split_path(path);
  Directory& parent = impl_->parent_of(path, parts);
  std::u16string name = wtf8_to_utf16(parts.back());
  DirNode* node = parent.find(name);
  if (node && exclusive) throw OsError(EEXIST, path, "create");
  if (!node) {
    if (!create) throw OsError(ENOENT, path, "open");
    ShortEntry e;
    e.attributes = attr::archive;
    Timestamp now = IdentitySource::now();
    e.stamp_created(now);
    e.stamp_modified(now);
    node = &parent.add(name, e);
  } else if (node->is_dir()) {
    throw OsError(EISDIR, path, "open");
  } else if (writable && (node->entry.attributes & attr::read_only)) {
    throw OsError(EACCES, path, "open a read-only file for writing");
  } else if (impl_->is_open(parent.first_cluster(), node->slot, !writable)) {
    // One writer or any number of readers at a time: each handle keeps the file's size and
    // clusters, so a second writer would store its own over the first's (cross-linking the
    // clusters one freed), and a reader would read clusters a writer freed.
    throw OsError(EBUSY, path, writable ? "open for writing (another handle has it open)" : "open (another handle is writing it)");
  }
  auto state = std::make_shared<FileState>();
  state->dir = parent.first_cluster();
  state->slot = node->slot;
  state->first_cluster = node->entry.first_cluster;
  state->size = node->entry.size;
  state->writable = writable;
  if (state->first_cluster) {
    state->runs = impl_->fat->chain(state->first_cluster, impl_->fat->limit());
    std::uint64_t have = 0;
    for (const Run& r : state->runs) have += r.count;
    if (have * geometry().cluster_size() < state->size)
      throw FormatError(fmt::format("FAT: '{}' is {} bytes but its chain holds {} clusters", wtf8_for_display(path),
                                    state->size, have),
                        geometry().cluster_offset(state->first_cluster));
  } else if (state->size) {
    throw FormatError(fmt::format("FAT: '{}' is {} bytes but has no clusters", wtf8_for_display(path), state->size));
  }
  if (truncate) FileOps{*impl_, *state}.truncate(0);
  if (state->writable) {
    FileOps{*impl_, *state}.store_entry();
    impl_->flush();
  }
  change.commit();
  impl_->open_files.push_back(state);
  return File(shared_from_this(), path, state);
}

ByteVector Volume::read_file(const std::string& path) {
  File f = open_file(path, false, false, false);
  ByteVector data(f.size());
  f.read(0, data);
  return data;
}

void Volume::write_file(const std::string& path, ByteSpan data) {
  auto lock = impl_->guard();
  impl_->require_writable();
  Transaction change(*impl_);
  auto parts = split_path(path);
  Directory& parent = impl_->parent_of(path, parts);
  std::u16string name = wtf8_to_utf16(parts.back());
  ShortEntry e;
  e.attributes = attr::archive;
  Timestamp now = IdentitySource::now();
  e.stamp_created(now);
  e.stamp_modified(now);
  const std::uint32_t need = impl_->clusters_for(data.size());
  if (DirNode* existing = parent.find(name);
      existing && !existing->is_dir() && !(existing->entry.attributes & attr::read_only) && existing->entry.first_cluster &&
      need > impl_->fat->free_count() && !impl_->is_open(parent.first_cluster(), existing->slot)) {
    // The new contents fit only in the old one's clusters: the file is emptied on the disk first
    // (as Windows truncates on overwrite), which a crash leaves as an empty file, never a mix.
    std::uint64_t old = 0;
    for (const Run& r : impl_->fat->chain(existing->entry.first_cluster, impl_->fat->limit())) old += r.count;
    if (need > impl_->fat->free_count() + old)
      throw OsError(ENOSPC, path, "write: there is not enough space on the disk");
    std::uint32_t first = existing->entry.first_cluster;
    existing->entry.first_cluster = 0;
    existing->entry.size = 0;
    parent.store(*existing);
    impl_->fat->free_chain(first);
    impl_->flush();
  }
  Impl::PlannedFile planned = impl_->plan_file(parent, name, data.size(), e);
  AlignedBuffer buffer;
  impl_->fill_file(planned, [&](std::uint64_t offset, MutableByteSpan out) {
    std::copy_n(data.begin() + std::ptrdiff_t(offset), out.size(), out.begin());
  }, buffer);
  impl_->flush();
  change.commit();
}

Volume::Impl::PlannedFile Volume::Impl::plan_file(Directory& dir, std::u16string_view name, std::uint64_t size,
                                                  ShortEntry entry) {
  auto shown = [&] { return utf16_to_wtf8(name); };  // for messages only
  if (size > max_file_size) throw OsError(EFBIG, shown(), "create (FAT files end at 4 GiB)");
  check_long_name(name);
  DirNode* existing = dir.find(name);
  if (existing) {
    if (existing->is_dir()) throw OsError(EISDIR, shown(), "replace a folder with a file");
    if (existing->entry.attributes & attr::read_only) throw OsError(EACCES, shown(), "replace a read-only file");
    if (is_open(dir.first_cluster(), existing->slot)) throw OsError(EBUSY, shown(), "replace");
  }
  std::vector<Run> runs;
  if (std::uint32_t clusters = clusters_for(size)) {
    try {
      runs = fat->allocate(clusters, 0);
    } catch (const UsageError&) {
      throw OsError(ENOSPC, shown(), "create: there is not enough space on the disk");
    }
  }
  entry.first_cluster = runs.empty() ? 0 : runs[0].first;
  entry.size = std::uint32_t(size);
  PlannedFile planned{dir.first_cluster(), 0, size, std::move(runs)};
  if (existing) {
    // The entry keeps its slot and name and takes the new chain; the old chain is freed once the
    // entry is on the disk (deferred), so a crash leaves the old file or the new one.
    std::uint32_t old = existing->entry.first_cluster;
    entry.name = existing->entry.name;
    entry.case_flags = existing->entry.case_flags;
    existing->entry = entry;
    dir.store(*existing);
    if (old) fat->free_chain(old);
    planned.slot = existing->slot;
  } else {
    planned.slot = dir.add_absent(name, entry).slot;  // checked and not found above
  }
  return planned;
}

void Volume::Impl::fill_file(const PlannedFile& file, const std::function<void(std::uint64_t, MutableByteSpan)>& fill,
                             AlignedBuffer& buffer) {
  constexpr std::size_t chunk = 8 << 20;
  const std::uint64_t size = file.size;
  if (size == 0) return;
  const std::uint64_t cs = geometry.cluster_size();
  const std::vector<Run>& runs = file.runs;
  if (runs.size() == 1 && size <= staged_file_limit) {
    // A small file in one run: stage it behind the previous one when it follows it on the device.
    std::uint64_t at = geometry.cluster_offset(runs[0].first);
    const std::size_t need = std::size_t(runs[0].count) * cs;
    if (!staging.empty() && at > staging.device_offset + staging.used) stage_folder_gap(at);
    if (staging.empty() || staging.device_offset + staging.used != at || staging.used + need > staging_limit) {
      flush_staging_behind();
      staging.device_offset = at;
    }
    if (staging.bytes.size() < staging_limit) staging.bytes.ensure(staging_limit);  // after a write behind swapped it
    std::byte* start = staging.bytes.data() + staging.used;
    fill(0, MutableByteSpan(start, std::size_t(size)));
    std::memset(start + size, 0, need - std::size_t(size));  // the last cluster's tail
    staging.used += need;
    return;
  }
  if (buffer.size() < std::min<std::uint64_t>(size, chunk)) buffer.ensure(std::size_t(std::min<std::uint64_t>(size, chunk)));
  for (std::uint64_t done = 0; done < size;) {
    std::size_t n = std::size_t(std::min<std::uint64_t>(size - done, chunk));
    MutableByteSpan piece(buffer.data(), n);
    fill(done, piece);
    write_runs(runs, done, piece);
    // Started on its way to the disk while the next piece is read, as the small files' buffers
    // are: the flush at the end then waits for the last pieces alone.
    for_each_piece(geometry, runs, done, n, [&](std::uint64_t at, std::uint64_t, std::uint64_t length) {
      device->start_writeback(at, length);
    });
    done += n;
  }
}

Volume::Impl::SealedFolders::SealedFolders(Impl& v) : volume(v) {
  for (const auto& [key, dir] : v.directories)
    for (std::uint32_t cluster : dir->fresh_clusters()) v.sealed_folder_clusters.emplace(cluster, key);
}

void Volume::Impl::stage_folder_gap(std::uint64_t at) {
  if (sealed_folder_clusters.empty()) return;
  const std::uint64_t cs = geometry.cluster_size(), first = geometry.cluster_offset(2);
  while (staging.device_offset + staging.used < at && staging.used + cs <= staging_limit) {
    const std::uint64_t end = staging.device_offset + staging.used;
    if (end < first || (end - first) % cs != 0) return;
    const std::uint32_t cluster = std::uint32_t((end - first) / cs + 2);
    auto it = sealed_folder_clusters.find(cluster);
    if (it == sealed_folder_clusters.end()) return;
    auto dir = directories.find(it->second);
    if (dir == directories.end() ||
        !dir->second->stage_fresh_cluster(cluster, MutableByteSpan(staging.bytes.data() + staging.used, std::size_t(cs))))
      return;
    staging.used += std::size_t(cs);
    sealed_folder_clusters.erase(it);
  }
}

void Volume::Impl::flush_staging() {
  if (staging.in_flight.valid()) staging.in_flight.get();
  if (staging.empty()) return;
  device->write(staging.device_offset, ByteSpan(staging.bytes.data(), staging.used));
  staging.clear();
}

void Volume::Impl::flush_staging_behind() {
  if (!staging.behind) return flush_staging();
  if (staging.in_flight.valid()) staging.in_flight.get();
  if (staging.empty()) return;
  std::swap(staging.bytes, staging.writing);
  staging.in_flight = std::async(std::launch::async, [device = device, at = staging.device_offset,
                                                      data = ByteSpan(staging.writing.data(), staging.used)] {
    device->write(at, data);
    device->start_writeback(at, data.size());  // the disk writes it while the next host files are read
  });
  staging.clear();
}

void Volume::Impl::abandon_staging() noexcept {
  if (staging.in_flight.valid()) staging.in_flight.wait();
  staging.in_flight = {};
  staging.clear();
}

}  // namespace bootmirror::fat
