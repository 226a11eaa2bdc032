#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

namespace {
std::string raw_key(const ShortName& n) { return std::string(n.begin(), n.end()); }
}  // namespace

std::string DirNode::name() const {
  return long_name.empty() ? display_short_name(entry.name, entry.case_flags) : utf16_to_utf8(long_name);
}

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

void Directory::parse() {
  const std::uint32_t n = capacity();
  std::vector<LongEntry> pending;  // long-name entries seen since the last short entry
  std::uint32_t pending_first = 0;
  auto drop_pending = [&](const char* why, std::uint32_t at) {
    if (!pending.empty())
      problems_.push_back({pending_first, at - pending_first,
                           fmt::format("slots {}..{}: long name entries {}", pending_first, at - 1, why), true});
    pending.clear();
  };
  end_slot_ = n;
  for (std::uint32_t slot = 0; slot < n; ++slot) {
    ByteSpan s(buffer_.data() + std::size_t(slot) * entry_size, entry_size);
    auto first = std::to_integer<std::uint8_t>(s[0]);
    if (first == 0) {
      drop_pending("without a short entry", slot);
      end_slot_ = slot;
      // Everything after the end mark is free; stale bytes there are cleared on the next write.
      for (std::uint32_t k = slot; k < n; ++k)
        if (!is_all_zero(ByteSpan(buffer_.data() + std::size_t(k) * entry_size, entry_size))) {
          std::fill_n(buffer_.begin() + std::ptrdiff_t(k) * entry_size, entry_size, std::byte{0});
          mark(k, 1);
        }
      dirty_any_ = false;  // not a change by itself; written only along with one
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
      if (e.last) {
        drop_pending("without a short entry", slot);
        pending_first = slot;
        if (e.ordinal == 0 || e.ordinal > 20) {
          problems_.push_back({slot, 1, fmt::format("slot {}: long name ordinal {} is out of range", slot, e.ordinal), true});
          continue;
        }
        pending.push_back(e);
      } else if (!pending.empty() && e.ordinal == pending.back().ordinal - 1 && e.checksum == pending.back().checksum) {
        pending.push_back(e);
      } else {
        drop_pending("out of sequence", slot);
        problems_.push_back({slot, 1, fmt::format("slot {}: stray long name entry", slot), true});
      }
      continue;
    }
    ShortEntry e = ShortEntry::decode(s);
    if ((attributes & attr::volume_label) && !(attributes & attr::directory)) {
      drop_pending("before a volume label", slot);
      if (fixed_root() || first_cluster_ == volume_.root_key()) label_slot_ = slot;
      else problems_.push_back({slot, 1, fmt::format("slot {}: volume label outside the root directory", slot), false});
      continue;
    }
    std::string raw = raw_key(e.name);
    if (raw == ".          " || raw == "..         ") {
      drop_pending("before a dot entry", slot);
      (raw[1] == '.' ? dotdot_cluster : dot_cluster) = e.first_cluster;
      continue;
    }
    DirNode node;
    node.slot = slot;
    node.entry = e;
    if (!pending.empty()) {
      if (pending.back().ordinal != 1 || pending.back().checksum != lfn_checksum(e.name)) {
        drop_pending("whose checksum or count does not match the short entry", slot);
      } else {
        std::u16string name;
        for (auto it = pending.rbegin(); it != pending.rend(); ++it)
          for (char16_t c : it->chars) name.push_back(c);
        auto end = name.find(char16_t(0));
        if (end != std::u16string::npos) name.resize(end);
        while (!name.empty() && name.back() == 0xFFFF) name.pop_back();
        node.long_name = name;
        node.lfn_count = std::uint32_t(pending.size());
        pending.clear();
      }
    }
    if (!valid_short_name(e.name))
      problems_.push_back({slot, 1,
                           fmt::format("slot {}: short name '{}' has characters FAT does not allow", slot,
                                       display_short_name(e.name)),
                           false});
    if (find(fold(utf8_to_utf16(node.name()))) != nullptr)
      problems_.push_back({slot, 1, fmt::format("slot {}: duplicate name '{}'", slot, node.name()), false});
    nodes_[slot] = node;
    index(nodes_[slot]);
  }
}

void Directory::index(const DirNode& node) {
  by_name_.emplace(fold(utf8_to_utf16(display_short_name(node.entry.name))), node.slot);
  if (!node.long_name.empty()) by_name_.emplace(fold(node.long_name), node.slot);
  short_names_.insert(raw_key(node.entry.name));
}

void Directory::unindex(const DirNode& node) {
  auto drop = [&](const std::u16string& key) {
    auto it = by_name_.find(key);
    if (it != by_name_.end() && it->second == node.slot) by_name_.erase(it);
  };
  drop(fold(utf8_to_utf16(display_short_name(node.entry.name))));
  if (!node.long_name.empty()) drop(fold(node.long_name));
  short_names_.erase(raw_key(node.entry.name));
}

DirNode* Directory::find(std::u16string_view name) {
  auto it = by_name_.find(fold(name));
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

void Directory::grow() {
  if (fixed_root()) throw OsError(ENOSPC, "\\", "the root directory is full");
  if (runs_.empty()) throw FormatError("FAT: directory without clusters");
  std::uint64_t clusters = buffer_.size() / volume_.geometry.cluster_size();
  if (clusters + 1 > volume_.max_dir_clusters())
    throw OsError(ENOSPC, "", "the directory holds the maximum of 65,536 entries");
  const Run& last = runs_.back();
  std::vector<Run> added = volume_.fat->allocate(1, last.first + last.count - 1);
  // The new cluster is zeroed on the device before anything can link to it from an entry.
  std::size_t old = buffer_.size();
  buffer_.resize(old + volume_.geometry.cluster_size());
  volume_.device->write(volume_.geometry.cluster_offset(added[0].first),
                        ByteSpan(buffer_.data() + old, volume_.geometry.cluster_size()));
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
  if (find(name)) throw OsError(EEXIST, utf16_to_utf8(name), "create");
  std::optional<ExactShort> exact = exact_short_name(name);
  bool long_needed = true;
  if (exact && !short_names_.count(raw_key(exact->name)) && !exact->needs_long_name) {
    entry.name = exact->name;
    entry.case_flags = exact->case_flags;
    long_needed = false;
  } else {
    entry.name = generate_short_name(name, [&](const ShortName& s) { return short_names_.count(raw_key(s)) > 0; });
    entry.case_flags = 0;
  }
  std::vector<LongEntry> longs;
  if (long_needed) longs = long_entries_for(name, lfn_checksum(entry.name));
  std::uint32_t count = std::uint32_t(longs.size()) + 1;
  std::uint32_t at = reserve_slots(count);
  for (std::uint32_t i = 0; i < longs.size(); ++i)
    longs[i].encode(MutableByteSpan(buffer_.data() + std::size_t(at + i) * entry_size, entry_size));
  std::uint32_t slot = at + count - 1;
  entry.encode(MutableByteSpan(buffer_.data() + std::size_t(slot) * entry_size, entry_size));
  mark(at, count);
  DirNode node;
  node.slot = slot;
  node.lfn_count = std::uint32_t(longs.size());
  node.entry = entry;
  if (long_needed) node.long_name = std::u16string(name);
  auto& stored = nodes_[slot] = node;
  index(stored);
  return stored;
}

std::uint32_t Directory::add_raw(const ShortEntry& entry) {
  std::uint32_t slot = reserve_slots(1);
  entry.encode(MutableByteSpan(buffer_.data() + std::size_t(slot) * entry_size, entry_size));
  mark(slot, 1);
  if (entry.attributes & attr::volume_label) label_slot_ = slot;
  return slot;
}

void Directory::erase_slots(std::uint32_t first, std::uint32_t count) {
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
  node.entry.encode(MutableByteSpan(buffer_.data() + std::size_t(node.slot) * entry_size, entry_size));
  mark(node.slot, 1);
}

void Directory::store_raw(std::uint32_t slot, const ShortEntry& e) {
  e.encode(MutableByteSpan(buffer_.data() + std::size_t(slot) * entry_size, entry_size));
  mark(slot, 1);
}

ShortEntry Directory::raw(std::uint32_t slot) const {
  return ShortEntry::decode(ByteSpan(buffer_.data() + std::size_t(slot) * entry_size, entry_size));
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

void Directory::flush() {
  if (!dirty_any_) return;
  const std::uint32_t bps = volume_.geometry.bytes_per_sector;
  const std::uint32_t per_cluster = fixed_root() ? 0xFFFFFFFF : volume_.geometry.sectors_per_cluster;
  std::size_t n = dirty_.size();
  for (std::size_t s = 0; s < n;) {
    if (!dirty_[s]) {
      ++s;
      continue;
    }
    // A run of dirty sectors within one cluster is one contiguous write.
    std::size_t e = s;
    while (e < n && dirty_[e] && (e == s || e % per_cluster != 0)) dirty_[e++] = false;
    volume_.device->write(device_offset(s * bps), ByteSpan(buffer_.data() + s * bps, (e - s) * bps));
    s = e;
  }
  dirty_any_ = false;
}

}  // namespace bootmirror::fat
