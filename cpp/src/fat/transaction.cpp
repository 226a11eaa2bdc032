// Transactions: what one public operation changed in the cache is undone if it fails, so that a
// failed operation leaves the device and the cache as they were.
#include <cstring>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

void Volume::Impl::reload() {
  abandon_staging();
  directories.clear();
  fat = std::make_unique<FatTable>(*device, geometry);
}

void Volume::Impl::rollback() {
  Changes undone = std::move(changes);
  changes = Changes{};
  abandon_staging();  // this operation's data only: every operation flushes before it ends
  if (undone.wrote_metadata) {
    // Part of the change reached the disk (the device failed mid-flush): the disk is the truth.
    try {
      reload();
    } catch (...) {
    }
    return;
  }
  fat->rollback_undo();
  for (std::uint32_t key : undone.created) directories.erase(key);
  for (std::uint32_t key : undone.changed)
    if (auto it = directories.find(key); it != directories.end()) it->second->rollback();
}

Transaction::Transaction(Volume::Impl& volume) : volume_(volume), owner_(!volume.changes.active) {
  if (!owner_) return;
  volume_.changes = Volume::Impl::Changes{};
  volume_.changes.active = true;
  volume_.fat->begin_undo();
}

void Transaction::commit() {
  done_ = true;
  if (!owner_) return;
  volume_.fat->commit_undo();
  for (std::uint32_t key : volume_.changes.changed)
    if (auto it = volume_.directories.find(key); it != volume_.directories.end()) it->second->commit();
  volume_.changes = Volume::Impl::Changes{};
}

Transaction::~Transaction() {
  if (owner_ && !done_) volume_.rollback();
}

// ---- a folder's undo records ----------------------------------------------------------------

void Directory::begin_change() {
  if (!volume_.changes.active || undo_) return;
  undo_ = Undo{buffer_.size(), runs_, dirty_, dirty_any_, fresh_from_, {}};
  volume_.changes.changed.push_back(first_cluster_);
}

void Directory::touch(std::uint32_t slot, std::uint32_t count) {
  begin_change();
  if (!undo_) return;
  const std::uint32_t recorded = std::uint32_t(undo_->buffer_size / entry_size);  // slots past it go by resizing
  for (std::uint32_t s = slot; s < slot + count && s < recorded; ++s) {
    std::array<std::byte, entry_size> old;
    std::memcpy(old.data(), buffer_.data() + std::size_t(s) * entry_size, entry_size);
    undo_->slots.emplace_back(s, old);
  }
}

void Directory::rollback() {
  if (!undo_) return;
  Undo undo = std::move(*undo_);
  undo_.reset();
  for (auto it = undo.slots.rbegin(); it != undo.slots.rend(); ++it)
    std::memcpy(buffer_.data() + std::size_t(it->first) * entry_size, it->second.data(), entry_size);
  buffer_.resize(undo.buffer_size);
  runs_ = std::move(undo.runs);
  dirty_.assign(buffer_.size() / volume_.geometry.bytes_per_sector, false);
  reset_parse();
  parse();
  dirty_ = std::move(undo.dirty);  // the marks as they were, not those parse() set
  dirty_any_ = undo.dirty_any;
  fresh_from_ = undo.fresh_from;
}

}  // namespace bootmirror::fat
