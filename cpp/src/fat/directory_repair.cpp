// The repairs check() makes to a folder's entries, as fsck.fat -a makes them: new short names,
// '.' and '..' put in their slots, long names dropped, stale slots and long-name fields zeroed.
#include <cstring>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

void Directory::rename_short(std::uint32_t slot, const ShortName& name) {
  auto it = nodes_.find(slot);
  if (it == nodes_.end()) return;
  DirNode& node = it->second;
  unindex(node);
  node.entry.name = name;
  node.entry.case_flags = 0;
  node.short_text = short_name_text(name, 0, *volume_.codepage);
  std::uint8_t sum = lfn_checksum(name);
  touch(slot - node.lfn_count, node.lfn_count + 1);
  for (std::uint32_t s = slot - node.lfn_count; s < slot; ++s) slot_bytes(s)[13] = std::byte{sum};
  node.entry.encode(slot_bytes(slot));
  mark(slot - node.lfn_count, node.lfn_count + 1);
  index(node);
}

bool Directory::place_dot(std::uint32_t slot, const ShortEntry& entry) {
  if (slot >= capacity()) return false;
  // A live entry whose slots cover `slot` moves (long name and all) to free slots elsewhere.
  for (auto it = nodes_.begin(); it != nodes_.end(); ++it) {
    DirNode& node = it->second;
    if (slot < node.slot - node.lfn_count || slot > node.slot) continue;
    const std::uint32_t count = node.lfn_count + 1;
    // The first run of free slots past '.' and '..' that holds it; the folder grows by a cluster
    // when none does (the run then reaches into the new cluster, so no end mark comes before it).
    auto free_run_at = [&]() -> std::optional<std::uint32_t> {
      std::uint32_t run = 0;
      for (std::uint32_t s = 2; s < capacity(); ++s) {
        auto first = std::to_integer<std::uint8_t>(buffer_[std::size_t(s) * entry_size]);
        run = (first == deleted_mark || first == 0) ? run + 1 : 0;
        if (run == count) return s + 1 - count;
      }
      return std::nullopt;
    };
    std::optional<std::uint32_t> found = free_run_at();
    if (!found && !fixed_root()) {
      try {
        grow();
      } catch (const OsError&) {
        return false;
      }
      found = free_run_at();
    }
    if (!found) return false;
    const std::uint32_t at = *found;
    std::vector<std::array<std::byte, entry_size>> moved(count);
    for (std::uint32_t k = 0; k < count; ++k)
      std::memcpy(moved[k].data(), buffer_.data() + std::size_t(node.slot - node.lfn_count + k) * entry_size, entry_size);
    DirNode copy = node;
    unindex(node);
    erase_slots(node.slot - node.lfn_count, count);
    nodes_.erase(it);
    touch(at, count);
    for (std::uint32_t k = 0; k < count; ++k) {
      if (std::to_integer<std::uint8_t>(buffer_[std::size_t(at + k) * entry_size]) == deleted_mark && deleted_) --deleted_;
      std::memcpy(buffer_.data() + std::size_t(at + k) * entry_size, moved[k].data(), entry_size);
    }
    mark(at, count);
    if (at + count > end_slot_) end_slot_ = at + count;
    copy.slot = at + count - 1;
    auto& stored = nodes_[copy.slot] = copy;
    index(stored);
    break;
  }
  std::uint8_t first = std::to_integer<std::uint8_t>(buffer_[std::size_t(slot) * entry_size]);
  if (first == deleted_mark && deleted_) --deleted_;
  store_raw(slot, entry);
  if (slot >= end_slot_) {
    // Slots between the old end mark and this one become deleted entries, not a second end.
    for (std::uint32_t s = end_slot_; s < slot; ++s) {
      touch(s, 1);
      buffer_[std::size_t(s) * entry_size] = std::byte{deleted_mark};
      ++deleted_;
      mark(s, 1);
    }
    end_slot_ = slot + 1;
  }
  (entry.name[1] == '.' ? dotdot_cluster : dot_cluster) = entry.first_cluster;
  return true;
}

void Directory::write_zero_tail(std::uint32_t first) {
  begin_change();  // the bytes are zero in the buffer since parse(); only the marks change
  if (first < capacity()) mark(first, capacity() - first);
}

void Directory::clear_lfn_fields(std::uint32_t slot) {
  touch(slot, 1);
  slot_bytes(slot)[12] = std::byte{0};
  store_le<std::uint16_t>(slot_bytes(slot), 26, 0);
  mark(slot, 1);
}

void Directory::drop_long_name(std::uint32_t slot) {
  auto it = nodes_.find(slot);
  if (it == nodes_.end() || it->second.long_name.empty()) return;
  DirNode& node = it->second;
  unindex(node);
  erase_slots(slot - node.lfn_count, node.lfn_count);
  node.lfn_count = 0;
  node.long_name.clear();
  index(node);
}

}  // namespace bootmirror::fat
