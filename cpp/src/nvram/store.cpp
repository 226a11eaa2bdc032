// Opening a VARS file (or any device holding one), reading its variables, and the writes every
// update goes through: each reaches the device and this object's copy of its bytes, and each
// state change is flushed before the next step (EDK2 writes them one flash write at a time).
#include <filesystem>

#include <fmt/format.h>

#include "nvram/codec.h"

namespace bootmirror::nvram {

namespace fs = std::filesystem;

namespace {

// A VARS file is a few hundred KiB; anything far larger is not one, and is not read whole.
constexpr std::uint64_t kMaxImageBytes = 64ull << 20;

ByteVector read_whole(BlockDevice& device) {
  if (device.size() > kMaxImageBytes)
    throw FormatError(fmt::format("{} bytes is far more than a variable store's firmware volume", device.size()), 0);
  return device.read(0, std::size_t(device.size()));
}

}  // namespace

DevicePtr codec::open_store_file(const std::string& path, bool writable, const std::shared_ptr<WriteLog>& log) {
  auto image = ImageFile::open(path, writable);
  if (!log) return image;
  auto recorded = std::make_shared<FaultyDisk>(image);
  recorded->record_to(log);
  return recorded;
}

void Store::load_image(ByteVector image) {
  StoreLayout layout = codec::decode_layout(image);
  std::vector<Record> records = codec::decode_records(image, layout);
  image_ = std::move(image);
  layout_ = std::move(layout);
  records_ = std::move(records);
}

std::shared_ptr<Store> Store::open(const std::string& path, bool writable, std::shared_ptr<WriteLog> log) {
  auto store = std::shared_ptr<Store>(new Store());
  store->device_ = codec::open_store_file(path, writable, log);
  store->path_ = path;
  store->writable_ = writable;
  store->log_ = std::move(log);
  try {
    store->load_image(read_whole(*store->device_));
  } catch (const FormatError& e) {
    throw e.within(path);
  }
  return store;
}

std::shared_ptr<Store> Store::on_device(DevicePtr device) {
  if (!device) throw UsageError("a variable store needs a device");
  auto store = std::shared_ptr<Store>(new Store());
  store->writable_ = device->writable();
  store->device_ = std::move(device);
  try {
    store->load_image(read_whole(*store->device_));
  } catch (const FormatError& e) {
    throw e.within(store->device_->name());
  }
  return store;
}

std::shared_ptr<Store> Store::create(const std::string& path, const std::string& template_path) {
  auto source = ImageFile::open(template_path, false);
  ByteVector bytes = read_whole(*source);
  try {
    StoreLayout layout = codec::decode_layout(bytes);
    codec::decode_records(bytes, layout);
  } catch (const FormatError& e) {
    throw e.within(template_path);
  }
  std::error_code ec;
  if (fs::exists(path, ec)) throw OsError(EEXIST, path, "a variable store is not created over an existing file");
  const fs::path target(path);
  const std::string folder = target.has_parent_path() ? target.parent_path().string() : ".";
  replace_file(folder, target.filename().string(), {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  return open(path, true);
}

void Store::check_writable(const char* action) const {
  if (!writable_) throw UsageError(fmt::format("cannot {}: the variable store {} is open read-only", action,
                                               path_.empty() ? device_->name() : path_));
}

void Store::write_at(std::uint64_t offset, ByteSpan bytes) {
  device_->write(offset, bytes);
  std::copy(bytes.begin(), bytes.end(), image_.begin() + std::ptrdiff_t(offset));
}

void Store::write_state(std::uint64_t record_offset, std::uint8_t state) {
  const std::byte byte{state};
  write_at(record_offset + codec::kStateOffset, {&byte, 1});
  device_->flush();
}

std::vector<Record> Store::records() const {
  std::lock_guard lock(mutex_);
  return records_;
}

std::vector<Variable> Store::variables() const {
  std::lock_guard lock(mutex_);
  std::vector<Variable> out;
  for (const Record& r : records_)
    if (r.live) out.push_back(r.variable);
  return out;
}

std::optional<Variable> Store::get_locked(std::u16string_view name, const Guid& vendor) const {
  for (const Record& r : records_)
    if (r.live && r.variable.vendor == vendor && r.variable.name == name) return r.variable;
  return std::nullopt;
}

std::optional<Variable> Store::get(std::u16string_view name, const Guid& vendor) const {
  std::lock_guard lock(mutex_);
  return get_locked(name, vendor);
}

std::uint64_t Store::free_bytes() const {
  std::lock_guard lock(mutex_);
  return free_locked();
}

std::uint64_t Store::free_locked() const {
  const auto tail = ByteSpan(image_).subspan(layout_.variables_end, layout_.store_end() - layout_.variables_end);
  // Bytes that are not free space (a header cut short by a crash) must go before anything is
  // appended: EDK2 reclaims such a store when it starts, and so do we on the next write.
  if (!std::all_of(tail.begin(), tail.end(), [](std::byte b) { return b == std::byte{0xFF}; })) return 0;
  const std::uint64_t used = codec::common_bytes(records_), space = codec::common_space(layout_);
  return std::min<std::uint64_t>(tail.size(), used < space ? space - used : 0);
}

std::uint64_t Store::record_bytes(std::u16string_view name, std::size_t data_size) const {
  Variable probe;
  probe.name = std::u16string(name);
  probe.data.resize(data_size);
  return codec::align_header(codec::encode_record(probe, layout_.authenticated).size());
}

std::uint64_t Store::reclaimable_bytes() const {
  std::lock_guard lock(mutex_);
  std::uint64_t dead = 0;
  for (const Record& r : records_)
    if (!r.live) dead += r.size;
  return dead;
}

ByteVector Store::image() const {
  std::lock_guard lock(mutex_);
  return image_;
}

}  // namespace bootmirror::nvram
