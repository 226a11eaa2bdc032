// NVRAM (cpp/src/nvram) through the engine's public API. The first input byte picks what the rest
// is:
//   0  the head of a VARS file (firmware volume header, store header, records); the file is the
//      input padded with 0xFF (free flash) to its FvLength (2M size at least, 1 MiB at most), so
//      seeds stay small;
//   1  an EFI_LOAD_OPTION (a Boot#### value);
//   2  a device path in the UEFI text form;
//   3  Windows' WINDOWS_OS_OPTIONS.
// What must hold: decoding never writes and answers bad bytes with a bootmirror::Error; a store
// that reads has at most one live copy per name and vendor, setting a variable it holds to the
// same value writes nothing, and a new variable set (or a live one deleted) on a copy reads back
// with every other variable unchanged; a load option, device path or Windows options structure
// that decodes encodes to bytes that decode the same, and a device path's text parses back to it.
#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "bootmirror/nvram.h"
#include "support/harness.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;
using namespace bootmirror::nvram;

namespace {

constexpr std::size_t kOvmf2MSize = 0x20000;
constexpr std::size_t kMaxImage = 1 << 20;
const Guid kFuzzVendor = Guid::parse("0f0f0f0f-1111-2222-3333-444455556666");

std::map<std::pair<Guid, std::u16string>, ByteVector> live_values(const Store& store) {
  std::map<std::pair<Guid, std::u16string>, ByteVector> out;
  for (const Record& r : store.records())
    if (r.live) {
      const bool fresh = out.emplace(std::make_pair(r.variable.vendor, r.variable.name), r.variable.data).second;
      require(fresh, "a store has at most one live copy of each variable");
    }
  return out;
}

void device_path_round_trip(const DevicePath& path) {
  const ByteVector bytes = path.encode();
  DevicePath decoded;
  require(attempt([&] { decoded = DevicePath::decode(bytes); }), "an encoded device path decodes");
  require(decoded == path, "an encoded device path decodes to itself");
  DevicePath parsed;
  require(attempt([&] { parsed = DevicePath::parse(path.to_text()); }), "a device path's text parses");
  require(parsed == path, "a device path's text parses back to the same nodes");
}

void load_option(ByteSpan bytes) {
  LoadOption option;
  if (!attempt([&] { option = LoadOption::decode(bytes); })) return;
  require(same_bytes(option.encode(), bytes), "a decoded load option encodes to its bytes");
  for (const DevicePath& path : option.file_paths) device_path_round_trip(path);
  if (WindowsOsOptions::present_in(option.optional_data)) {
    WindowsOsOptions windows;
    if (attempt([&] { windows = WindowsOsOptions::decode(option.optional_data); })) {
      require(WindowsOsOptions::decode(windows.encode()) == windows, "Windows' options encode to bytes that decode the same");
      DevicePath os_path;
      if (attempt([&] { os_path = windows.os_load_path(); })) device_path_round_trip(os_path);
    }
  }
}

void store_image(ByteSpan input) {
  if (input.size() > kMaxImage) return;
  // Up to the volume's FvLength when the input names a plausible one (OVMF's 4M layout), else
  // the 2M size.
  std::size_t padded = kOvmf2MSize;
  if (input.size() >= 0x28) padded = std::size_t(std::clamp<std::uint64_t>(load_le<std::uint64_t>(input, 0x20), kOvmf2MSize, kMaxImage));
  ByteVector image(input.begin(), input.end());
  // Whole 512-byte sectors: the disk in memory holding it wants them.
  image.resize((std::max(image.size(), padded) + 511) / 512 * 512, std::byte{0xFF});
  auto disk = std::make_shared<MemoryDisk>(image.size());
  disk->write(0, image);
  std::shared_ptr<Store> store;
  if (!attempt([&] { store = Store::on_device(disk); })) {
    require(same_bytes(disk->read(0, disk->size()), image), "a store that does not read is not written");
    return;
  }
  const auto before = live_values(*store);
  std::vector<BootEntry> entries;
  if (attempt([&] { entries = store->boot_entries(); }))
    for (const BootEntry& entry : entries) load_option(entry.option.encode());
  attempt([&] { store->boot_order(), store->timeout(), store->boot_next(); });

  // The same value again writes nothing.
  for (const Variable& v : store->variables()) {
    if (!attempt([&] { store->set(v.name, v.vendor, v.data, v.attributes); })) continue;
    require(same_bytes(disk->read(0, disk->size()), image), "setting a variable to its value writes nothing");
    break;
  }
  // A new variable, then a deletion, on a copy.
  if (attempt([&] { store->set(u"BootmirrorFuzz", kFuzzVendor, as_bytes("value"), kDefaultAttributes); })) {
    auto reread = Store::on_device(disk);
    auto after = live_values(*reread);
    const auto key = std::make_pair(kFuzzVendor, std::u16string(u"BootmirrorFuzz"));
    require(after.count(key) && after[key] == ByteVector(as_bytes("value").begin(), as_bytes("value").end()),
            "a variable set reads back");
    after.erase(key);
    auto others = before;
    others.erase(key);
    require(after == others, "setting a variable leaves the others as they were");
    if (!before.empty()) {
      const auto& victim = before.begin()->first;
      if (victim != key && attempt([&] { reread->remove(victim.second, victim.first); })) {
        auto gone = live_values(*Store::on_device(disk));
        require(!gone.count(victim), "a deleted variable is gone");
      }
    }
  } else {
    require(same_bytes(disk->read(0, disk->size()), image), "a set that fails writes nothing");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  if (size == 0) return 0;
  const ByteSpan rest(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: store_image(rest); break;
    case 1: load_option(rest); break;
    case 2: {
      DevicePath path;
      const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
      if (attempt([&] { path = DevicePath::parse(text); })) {
        ByteVector bytes;
        if (attempt([&] { bytes = path.encode(); })) device_path_round_trip(path);
      }
      break;
    }
    default: {
      WindowsOsOptions windows;
      if (attempt([&] { windows = WindowsOsOptions::decode(rest); }))
        require(WindowsOsOptions::decode(windows.encode()) == windows, "Windows' options encode to bytes that decode the same");
      break;
    }
  }
  return 0;
}
