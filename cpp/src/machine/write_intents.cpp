// The machine's write-intent bitmaps (see write_intents.h).
#include "machine/write_intents.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "bootmirror/error.h"
#include "bootmirror/write_log.h"
#include "machine/folder_lock.h"

namespace bootmirror {

namespace fs = std::filesystem;

std::string WriteIntents::key(const Guid& volume, const Guid& disk) const {
  return "write-intent-" + volume.to_string() + "-" + disk.to_string() + ".bin";
}

mirror::WriteIntent& WriteIntents::load(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes, bool* unreadable) {
  const std::string name = key(volume, disk);
  if (auto it = loaded_.find(name); it != loaded_.end()) {
    if (unreadable) *unreadable = unreadable_.count(name) != 0;
    return it->second;
  }
  mirror::WriteIntent intent = mirror::WriteIntent::empty(volume, disk, volume_bytes);
  bool bad = false;
  if (folder_) {
    const fs::path path = fs::path(*folder_) / name;
    std::error_code error;
    const bool exists = fs::exists(path, error);
    if (!exists && expected_.count(name)) bad = true;  // lost: what the plex missed is unknown
    if (exists) {
      std::ifstream in(path, std::ios::binary);
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      try {
        if (!in.good() && !in.eof()) throw OsError(EIO, path.string(), "read");
        auto found = mirror::decode_write_intent(ByteSpan(reinterpret_cast<const std::byte*>(text.data()), text.size()));
        // Another volume's, or a volume since resized: it says nothing about this plex.
        if (found.volume == volume && found.disk == disk && found.volume_bytes == volume_bytes) intent = std::move(found);
        else bad = true;
      } catch (const Error&) {
        bad = true;  // torn, damaged or foreign: the plex is copied whole
      }
    }
  }
  if (bad) unreadable_.insert(name);
  if (unreadable) *unreadable = bad;
  return loaded_.emplace(name, std::move(intent)).first->second;
}

void WriteIntents::prepare_change() {
  if (folder_ && lock_) lock_->prepare_write();
}

void WriteIntents::store(const mirror::WriteIntent& intent) {
  if (!folder_) return;
  prepare_change();
  const ByteVector bytes = mirror::encode_write_intent(intent);
  replace_file(*folder_, key(intent.volume, intent.disk),
               std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), log_.get());
}

void WriteIntents::mark(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes, std::uint64_t offset,
                        std::uint64_t length) {
  std::lock_guard lock(mutex_);
  if (full_copies_.count(key(volume, disk))) return;
  bool unreadable = false;
  mirror::WriteIntent& intent = load(volume, disk, volume_bytes, &unreadable);
  // An unreadable bitmap already means "copy everything"; rewriting it would lose that.
  if (unreadable) return;
  prepare_change();
  if (intent.mark(offset, length)) store(intent);
}

std::optional<std::vector<Extent>> WriteIntents::behind(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes) {
  std::lock_guard lock(mutex_);
  bool unreadable = false;
  const mirror::WriteIntent& intent = load(volume, disk, volume_bytes, &unreadable);
  if (unreadable) return std::vector<Extent>{Extent{0, volume_bytes}};
  if (intent.clean()) return std::nullopt;
  return intent.dirty();
}

void WriteIntents::clear(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes,
                         const std::function<bool()>& still_in_sync) {
  std::lock_guard lock(mutex_);
  if (!still_in_sync()) return;
  const std::string name = key(volume, disk);
  bool unreadable = false;
  mirror::WriteIntent& intent = load(volume, disk, volume_bytes, &unreadable);
  if (intent.clean() && !unreadable) {
    full_copies_.erase(name);
    return;
  }
  prepare_change();
  full_copies_.erase(name);
  intent = mirror::WriteIntent::empty(volume, disk, volume_bytes);
  unreadable_.erase(name);
  store(intent);
}

void WriteIntents::track(const Guid& volume, const Guid& disk, std::uint64_t volume_bytes) {
  std::lock_guard lock(mutex_);
  const std::string name = key(volume, disk);
  bool unreadable = false;
  mirror::WriteIntent& intent = load(volume, disk, volume_bytes, &unreadable);
  std::error_code error;
  if (folder_ && !unreadable && !fs::exists(fs::path(*folder_) / name, error)) store(intent);
  expected_.insert(name);
}

void WriteIntents::expect(std::set<std::pair<Guid, Guid>> volume_and_disk) {
  std::lock_guard lock(mutex_);
  for (const auto& [volume, disk] : volume_and_disk) expected_.insert(key(volume, disk));
}

void WriteIntents::full_copy(const Guid& volume, const Guid& disk, bool copying) {
  std::lock_guard lock(mutex_);
  if (copying) full_copies_.insert(key(volume, disk));
  else full_copies_.erase(key(volume, disk));
}

}  // namespace bootmirror
