#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include <fmt/format.h>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

namespace {
std::string raw_key(const ShortName& n) { return std::string(n.begin(), n.end()); }
bool is_dot_name(const ShortName& n) { return raw_key(n) == ".          " || raw_key(n) == "..         "; }
}  // namespace

Directory::Directory(Volume::Impl& v, std::uint32_t first_cluster) : volume_(v), first_cluster_(first_cluster) {
  const Geometry& g = v.geometry;
  if (fixed_root()) {
    buffer_.resize(std::size_t(g.root_dir_sectors()) * g.bytes_per_sector);
    v.device->read(g.root_dir_offset(), buffer_);
  } else {
    runs_ = v.fat->chain(first_cluster, v.max_dir_clusters());
    std::uint64_t clusters = 0;
    for (const Run& r : runs_) clusters += r.count;
    buffer_.resize(clusters * g.cluster_size());
    v.read_runs(runs_, 0, buffer_);
  }
  dirty_.assign(buffer_.size() / g.bytes_per_sector, false);
  parse();
}

Directory::Directory(Volume::Impl& v, std::uint32_t first_cluster, const Fresh& fresh)
    : volume_(v), first_cluster_(first_cluster) {
  const Geometry& g = v.geometry;
  runs_ = {{first_cluster, 1}};
  buffer_.assign(g.cluster_size(), std::byte{0});
  dirty_.assign(buffer_.size() / g.bytes_per_sector, false);
  fresh_from_ = 0;
  ShortEntry dot = fresh.stamp;
  dot.name.fill(' ');
  dot.name[0] = '.';
  dot.attributes = attr::directory;
  dot.size = 0;
  dot.first_cluster = first_cluster;
  ShortEntry dotdot = dot;
  dotdot.name[1] = '.';
  dotdot.first_cluster = fresh.parent_cluster;
  add_raw(dot);
  add_raw(dotdot);
  dot_cluster = dot.first_cluster;
  dotdot_cluster = dotdot.first_cluster;
}

DirNode Directory::make_node(std::uint32_t slot, const ShortEntry& entry, std::u16string long_name,
                             std::uint32_t lfn_count) const {
  DirNode node;
  node.slot = slot;
  node.entry = entry;
  node.long_name = std::move(long_name);
  node.lfn_count = lfn_count;
  node.short_text = short_name_text(entry.name, entry.case_flags, *volume_.codepage);
  return node;
}

void Directory::parse() {
  const std::uint32_t n = capacity();
  std::vector<LongEntry> pending;  // long-name entries seen since the last short entry
  std::uint32_t pending_first = 0;
  auto drop_pending = [&](const char* why, std::uint32_t at) {
    if (!pending.empty())
      report(at, {pending_first, at - pending_first,
                           fmt::format("slots {}..{}: long name entries {}", pending_first, at - 1, why),
                           DirProblem::Fix::erase});
    pending.clear();
  };
  end_slot_ = n;
  for (std::uint32_t slot = 0; slot < n; ++slot) {
    ByteSpan s(buffer_.data() + std::size_t(slot) * entry_size, entry_size);
    auto first = std::to_integer<std::uint8_t>(s[0]);
    if (first == 0) {
      drop_pending("without a short entry", slot);
      end_slot_ = slot;
      // Everything after the end mark is free and must be zero; stale bytes there are cleared
      // on the next write (and by repair: fsck.fat reads them as entries).
      std::uint32_t stale = 0;
      for (std::uint32_t k = slot; k < n; ++k)
        if (!is_all_zero(ByteSpan(buffer_.data() + std::size_t(k) * entry_size, entry_size))) {
          std::fill_n(buffer_.begin() + std::ptrdiff_t(k) * entry_size, entry_size, std::byte{0});
          mark(k, 1);
          ++stale;
        }
      dirty_any_ = false;  // not a change by itself; written only along with one
      if (stale)
        report(slot, {slot, n - slot,
                             fmt::format("slots {}..{}: {} entries after the end mark are not zero", slot, n - 1, stale),
                             DirProblem::Fix::zero_tail});
      break;
    }
    if (first == deleted_mark) {
      drop_pending("without a short entry", slot);
      ++deleted_;
      continue;
    }
    auto attributes = std::to_integer<std::uint8_t>(s[11]);
    if ((attributes & 0x3F) == lfn_attributes) {
      LongEntry e = LongEntry::decode(s);
      if (s[12] != std::byte{0} || load_le<std::uint16_t>(s, 26) != 0)
        report(slot, {slot, 1, fmt::format("slot {}: long name entry whose type or cluster field is not 0", slot),
                             DirProblem::Fix::lfn_fields});
      if (e.last) {
        drop_pending("without a short entry", slot);
        pending_first = slot;
        if (e.ordinal == 0 || e.ordinal > 20) {
          report(slot, {slot, 1, fmt::format("slot {}: long name ordinal {} is out of range", slot, e.ordinal),
                               DirProblem::Fix::erase});
          continue;
        }
        pending.push_back(e);
      } else if (!pending.empty() && e.ordinal == pending.back().ordinal - 1 && e.checksum == pending.back().checksum) {
        pending.push_back(e);
      } else {
        drop_pending("out of sequence", slot);
        report(slot, {slot, 1, fmt::format("slot {}: stray long name entry", slot), DirProblem::Fix::erase});
      }
      continue;
    }
    ShortEntry e = ShortEntry::decode(s);
    if ((attributes & attr::volume_label) && !(attributes & attr::directory)) {
      drop_pending("before a volume label", slot);
      if (fixed_root() || first_cluster_ == volume_.root_key()) label_slot_ = slot;
      else
        report(slot, {slot, 1, fmt::format("slot {}: volume label outside the root directory", slot),
                             DirProblem::Fix::erase});
      continue;
    }
    if (is_dot_name(e.name)) {
      drop_pending("before a dot entry", slot);
      bool is_root = fixed_root() || first_cluster_ == volume_.root_key();
      bool dotdot = e.name[1] == '.';
      // '.' belongs in slot 0 and '..' in slot 1 of a folder that is not the root (fatgen103 6.3).
      if (is_root || slot != (dotdot ? 1u : 0u) || !(attributes & attr::directory)) {
        report(slot, {slot, 1,
                             fmt::format("slot {}: '{}' entry {}", slot, dotdot ? ".." : ".",
                                         is_root ? "in the root directory" : "out of place or not a folder"),
                             DirProblem::Fix::erase});
        continue;
      }
      (dotdot ? dotdot_cluster : dot_cluster) = e.first_cluster;
      continue;
    }
    std::u16string long_name;
    std::uint32_t lfn_count = 0;
    if (!pending.empty()) {
      if (pending.back().ordinal != 1 || pending.back().checksum != lfn_checksum(e.name)) {
        drop_pending("whose checksum or count does not match the short entry", slot);
      } else {
        for (auto it = pending.rbegin(); it != pending.rend(); ++it)
          for (char16_t c : it->chars) long_name.push_back(c);
        auto end = long_name.find(char16_t(0));
        if (end != std::u16string::npos) long_name.resize(end);
        while (!long_name.empty() && long_name.back() == 0xFFFF) long_name.pop_back();
        if (long_name.find_first_of(u"/\\") != std::u16string::npos) {
          // A path separator in a name makes its path name another file ("ab/cd" is cd in ab):
          // no FAT driver writes one. The entry goes by its short name; repair erases the long one.
          long_name.clear();
          drop_pending("hold a path separator ('/' or '\\')", slot);
        } else {
          lfn_count = std::uint32_t(pending.size());
          pending.clear();
        }
      }
    }
    DirNode node = make_node(slot, e, std::move(long_name), lfn_count);
    if (!valid_short_name(e.name))
      report(slot, {slot, 1,
                           fmt::format("slot {}: short name '{}' has characters FAT does not allow", slot,
                                       escape_bytes(raw_key(e.name))),
                           DirProblem::Fix::rename, "bad-name"});
    nodes_.insert_or_assign(slot, std::move(node));  // names are indexed when first looked up
  }
}

void Directory::reset_parse() {
  nodes_.clear();
  by_name_.clear();
  short_names_.clear();
  indexed_ = false;
  problems_.clear();
  found_at_.clear();
  label_slot_.reset();
  dot_cluster.reset();
  dotdot_cluster.reset();
  end_slot_ = 0;
  deleted_ = 0;
}

void Directory::report(std::uint32_t found_at, DirProblem problem) {
  problems_.push_back(std::move(problem));
  found_at_.push_back(found_at);
}

// Names are indexed in slot order, as parse() met them, so the first of two equal names keeps its
// place in the table and the later one is the duplicate; its problem goes where parse() would have
// put it, after those found at its slot or before.
void Directory::index_all() {
  if (indexed_) return;
  indexed_ = true;
  std::vector<DirProblem> merged;
  std::size_t next = 0;
  for (const auto& [slot, node] : nodes_) {
    if (index(node)) continue;
    if (merged.empty()) merged.reserve(problems_.size() + 1);
    while (next < problems_.size() && found_at_[next] <= slot) merged.push_back(std::move(problems_[next++]));
    merged.push_back({slot, 1, fmt::format("slot {}: duplicate name '{}'", slot, node.shown()), DirProblem::Fix::rename,
                      "duplicate-name"});
  }
  found_at_.clear();
  if (merged.empty()) return;
  std::move(problems_.begin() + std::ptrdiff_t(next), problems_.end(), std::back_inserter(merged));
  problems_ = std::move(merged);
}

const std::vector<DirProblem>& Directory::problems() {
  index_all();
  return problems_;
}

// The name table hashes and compares folded characters (FoldedHash, FoldedEqual), so its keys are
// the names as they are: no folded copies (and no copies at all: views of the node's own names).
bool Directory::index(const DirNode& node) {
  bool fresh = by_name_.emplace(std::u16string_view(node.short_text), node.slot).second;
  if (!node.long_name.empty()) {
    // A long name may fold to its own short name ("Readme.txt", README.TXT): not a duplicate.
    const auto [at, added] = by_name_.emplace(std::u16string_view(node.long_name), node.slot);
    fresh = fresh && (added || at->second == node.slot);
  }
  short_names_.insert(node.entry.name);
  return fresh;
}

void Directory::unindex(const DirNode& node) {
  index_all();  // every change to a node's names begins here
  auto drop = [&](std::u16string_view key) {
    auto it = by_name_.find(key);
    if (it != by_name_.end() && it->second == node.slot) by_name_.erase(it);
  };
  drop(node.short_text);
  if (!node.long_name.empty()) drop(node.long_name);
  short_names_.erase(node.entry.name);
}

DirNode* Directory::find(std::u16string_view name) {
  index_all();
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return nullptr;
  auto n = nodes_.find(it->second);
  return n == nodes_.end() ? nullptr : &n->second;
}

void Directory::mark(std::uint32_t slot, std::uint32_t count) {
  const std::uint32_t bps = volume_.geometry.bytes_per_sector;
  std::uint64_t first = std::uint64_t(slot) * entry_size / bps;
  std::uint64_t last = (std::uint64_t(slot + count) * entry_size - 1) / bps;
  for (std::uint64_t s = first; s <= last; ++s) dirty_[s] = true;
  dirty_any_ = true;
}

bool Directory::has_room(std::uint32_t count) const {
  if (end_slot_ + count <= capacity()) return true;
  if (deleted_ >= count) return true;  // reserve_slots finds a run, or grows
  return !fixed_root();
}

void Directory::grow() {
  if (fixed_root()) throw OsError(ENOSPC, "\\", "the root directory is full");
  if (runs_.empty()) throw FormatError("FAT: directory without clusters");
  std::uint64_t clusters = buffer_.size() / volume_.geometry.cluster_size();
  if (clusters + 1 > volume_.max_dir_clusters())
    throw OsError(ENOSPC, "", "the directory holds the maximum of 65,536 entries");
  begin_change();
  const Run& last = runs_.back();
  std::vector<Run> added;
  try {
    added = volume_.fat->allocate(1, last.first + last.count - 1);
  } catch (const UsageError&) {
    throw OsError(ENOSPC, "", "a folder cannot grow: there is not enough space on the disk");
  }
  // The new cluster is zeroed here and written by flush_fresh(), before the FAT links it in.
  std::size_t old = buffer_.size();
  buffer_.resize(old + volume_.geometry.cluster_size());
  fresh_from_ = std::min(fresh_from_, old);
  if (runs_.back().first + runs_.back().count == added[0].first) ++runs_.back().count;
  else runs_.push_back(added[0]);
  dirty_.resize(buffer_.size() / volume_.geometry.bytes_per_sector, false);
}

std::uint32_t Directory::reserve_slots(std::uint32_t count) {
  // Windows appends at the end mark; it reuses deleted slots once the directory is full.
  while (true) {
    if (end_slot_ + count <= capacity()) {
      std::uint32_t at = end_slot_;
      end_slot_ += count;
      return at;
    }
    if (deleted_ >= count) {
      std::uint32_t run = 0;
      for (std::uint32_t slot = 0; slot < end_slot_; ++slot) {
        auto first = std::to_integer<std::uint8_t>(buffer_[std::size_t(slot) * entry_size]);
        run = first == deleted_mark ? run + 1 : 0;
        if (run == count) {
          deleted_ -= count;
          return slot + 1 - count;
        }
      }
    }
    grow();
  }
}

DirNode& Directory::add(std::u16string_view name, ShortEntry entry) {
  check_long_name(name);
  if (find(name)) throw OsError(EEXIST, utf16_to_wtf8(name), "create");
  return add_absent(name, entry);
}

DirNode& Directory::add_absent(std::u16string_view name, ShortEntry entry) {
  index_all();
  const OemCodePage& page = *volume_.codepage;
  // generate_short_name's steps, the exact 8.3 form made once for both questions.
  std::optional<ExactShort> exact = exact_short_name(name, page);
  bool long_needed = true;
  if (exact && !short_names_.count(exact->name)) {
    entry.name = exact->name;
    long_needed = exact->needs_long_name;  // mixed case: the 8.3 name, and the long one beside it
    entry.case_flags = long_needed ? 0 : exact->case_flags;
  } else {
    entry.name = numbered_short_name(name, [&](const ShortName& s) { return short_names_.count(s) > 0; }, page);
    entry.case_flags = 0;
  }
  std::vector<LongEntry> longs;
  if (long_needed) longs = long_entries_for(name, lfn_checksum(entry.name));
  std::uint32_t count = std::uint32_t(longs.size()) + 1;
  std::uint32_t at = reserve_slots(count);
  touch(at, count);
  for (std::uint32_t i = 0; i < longs.size(); ++i) longs[i].encode(slot_bytes(at + i));
  std::uint32_t slot = at + count - 1;
  entry.encode(slot_bytes(slot));
  mark(at, count);
  auto& stored = nodes_[slot] = make_node(slot, entry, long_needed ? std::u16string(name) : std::u16string(),
                                          std::uint32_t(longs.size()));
  index(stored);
  return stored;
}

std::uint32_t Directory::add_raw(const ShortEntry& entry) {
  std::uint32_t slot = reserve_slots(1);
  touch(slot, 1);
  entry.encode(slot_bytes(slot));
  mark(slot, 1);
  if (entry.attributes & attr::volume_label) label_slot_ = slot;
  return slot;
}

void Directory::erase_slots(std::uint32_t first, std::uint32_t count) {
  touch(first, count);
  for (std::uint32_t s = first; s < first + count && s < capacity(); ++s) {
    buffer_[std::size_t(s) * entry_size] = std::byte{deleted_mark};
    ++deleted_;
    if (label_slot_ == s) label_slot_.reset();
  }
  mark(first, count);
}

void Directory::remove(std::uint32_t slot) {
  auto it = nodes_.find(slot);
  if (it == nodes_.end()) return;
  unindex(it->second);
  erase_slots(slot - it->second.lfn_count, it->second.lfn_count + 1);
  nodes_.erase(it);
}

void Directory::store(const DirNode& node) {
  touch(node.slot, 1);
  node.entry.encode(slot_bytes(node.slot));
  mark(node.slot, 1);
}

void Directory::store_raw(std::uint32_t slot, const ShortEntry& e) {
  touch(slot, 1);
  e.encode(slot_bytes(slot));
  mark(slot, 1);
}

ShortEntry Directory::raw(std::uint32_t slot) const { return ShortEntry::decode(raw_bytes(slot)); }

ByteSpan Directory::raw_bytes(std::uint32_t slot) const {
  return ByteSpan(buffer_.data() + std::size_t(slot) * entry_size, entry_size);
}

std::uint64_t Directory::device_offset(std::uint64_t byte) const {
  const Geometry& g = volume_.geometry;
  if (fixed_root()) return g.root_dir_offset() + byte;
  std::uint64_t cluster_index = byte / g.cluster_size();
  for (const Run& r : runs_) {
    if (cluster_index < r.count) return g.cluster_offset(r.first + std::uint32_t(cluster_index)) + byte % g.cluster_size();
    cluster_index -= r.count;
  }
  throw FormatError("FAT: directory offset past its clusters");
}

void Directory::write_sectors(std::size_t first, std::size_t end) {
  const std::uint32_t bps = volume_.geometry.bytes_per_sector;
  const std::size_t per_cluster = fixed_root() ? SIZE_MAX : volume_.geometry.sectors_per_cluster;
  for (std::size_t s = first; s < end;) {
    // One contiguous write per run of sectors within one cluster.
    std::size_t e = s + 1;
    while (e < end && e % per_cluster != 0) ++e;
    volume_.device->write(device_offset(s * bps), ByteSpan(buffer_.data() + s * bps, (e - s) * bps));
    for (std::size_t k = s; k < e; ++k) dirty_[k] = false;
    s = e;
  }
}

std::vector<std::uint32_t> Directory::fresh_clusters() const {
  std::vector<std::uint32_t> out;
  if (fixed_root() || fresh_from_ >= buffer_.size()) return out;
  const std::uint64_t cs = volume_.geometry.cluster_size();
  std::uint64_t at = 0;
  for (const Run& r : runs_)
    for (std::uint32_t k = 0; k < r.count; ++k, at += cs)
      if (at >= fresh_from_) out.push_back(r.first + k);
  return out;
}

bool Directory::stage_fresh_cluster(std::uint32_t cluster, MutableByteSpan out) {
  const std::uint64_t cs = volume_.geometry.cluster_size();
  if (fixed_root() || fresh_from_ >= buffer_.size() || fresh_from_ % cs != 0 || out.size() != cs) return false;
  if (device_offset(fresh_from_) != volume_.geometry.cluster_offset(cluster)) return false;
  std::memcpy(out.data(), buffer_.data() + fresh_from_, cs);
  const std::uint32_t bps = volume_.geometry.bytes_per_sector;
  for (std::size_t s = fresh_from_ / bps; s < (fresh_from_ + cs) / bps; ++s) dirty_[s] = false;
  fresh_from_ += cs;
  if (fresh_from_ >= buffer_.size()) fresh_from_ = SIZE_MAX;
  return true;
}

void Directory::flush_fresh() {
  if (fresh_from_ >= buffer_.size()) return;
  const std::uint32_t bps = volume_.geometry.bytes_per_sector;
  write_sectors(fresh_from_ / bps, buffer_.size() / bps);
  fresh_from_ = SIZE_MAX;
}

void Directory::flush() {
  flush_fresh();
  if (!dirty_any_) return;
  std::size_t n = dirty_.size();
  for (std::size_t s = 0; s < n;) {
    if (!dirty_[s]) {
      ++s;
      continue;
    }
    std::size_t e = s;
    const std::size_t per_cluster = fixed_root() ? SIZE_MAX : volume_.geometry.sectors_per_cluster;
    while (e < n && dirty_[e] && (e == s || e % per_cluster != 0)) ++e;
    write_sectors(s, e);
    s = e;
  }
  dirty_any_ = false;
}

}  // namespace bootmirror::fat
