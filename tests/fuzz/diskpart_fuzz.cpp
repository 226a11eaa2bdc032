// The diskpart and bootcfg shells (cpp/src/shell): their parsers (words abbreviated to three
// letters, key=value options, quoted text, /switches) and every command they reach, on an
// in-memory Machine with two blank disks (64 and 160 MiB; a GPT needs 128) and the firmware's NVRAM
// (a copy of Debian's OVMF template, when installed). The input is a script, one command a line
// (at most 64 lines of 256 bytes); a line "reboot" restarts the machine (firmware::restart: the
// conversions waiting for it, then a boot), "boot" boots it, and "bootcfg ..." runs bootcfg.
// What must hold:
//   - execute() and bootcfg() answer every line; a failure is the tool's text, never an exception;
//   - whatever the script did, a disk that carries a GPT verifies clean, the dynamic disks read as
//     a group, and the NVRAM still decodes with every BootOrder number naming an entry (the shells
//     may refuse a command, but never leave damage behind).
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "bootmirror/dynamic.h"
#include "bootmirror/gpt.h"
#include "bootmirror/ldm.h"
#include "bootmirror/shell.h"
#include "bootmirror/bootcfg.h"
#include "bootmirror/firmware.h"
#include "support/harness.h"
#include "support/sector_overlay.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

namespace {

constexpr std::size_t kMaxLines = 64, kMaxLine = 256;
constexpr std::uint64_t kDiskBytes[2] = {64ull << 20, 160ull << 20};

void check_disks(const std::vector<DevicePtr>& disks) {
  for (const DevicePtr& disk : disks) {
    const gpt::Health health = gpt::verify(*disk);
    if (health.primary.header_found || health.backup.header_found)
      require(health.clean(), "a GPT diskpart wrote verifies clean");
  }
  std::optional<ldm::Scan> scan;
  require(attempt([&] { scan = ldm::scan(disks); }), "the disks diskpart left scan");
  require(scan->unreadable.empty(), "every dynamic disk diskpart left is readable");
}

void check_nvram(Machine& machine) {
  const auto store = firmware::store(machine);
  if (!store) return;
  auto copy = std::make_shared<MemoryDisk>(store->image().size());
  copy->write(0, store->image());
  std::shared_ptr<nvram::Store> again;
  require(attempt([&] { again = nvram::Store::on_device(copy); }), "the NVRAM the shells left decodes");
  for (std::uint16_t n : again->boot_order()) require(again->boot_entry(n).has_value(), "every BootOrder number names an entry");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  Machine machine;
  std::vector<DevicePtr> disks;
  for (int i = 0; i < 2; ++i) {
    disks.push_back(std::make_shared<SectorOverlay>(kDiskBytes[i], 512));
    machine.attach(disks.back());
  }
  if (std::filesystem::exists(nvram::kDefaultTemplate)) firmware::create_store(machine);
  shell::Diskpart diskpart(machine);
  const std::string_view script(reinterpret_cast<const char*>(data), size);
  std::size_t start = 0;
  for (std::size_t line = 0; line < kMaxLines && start < script.size(); ++line) {
    std::size_t end = script.find('\n', start);
    if (end == std::string_view::npos) end = script.size();
    const std::string_view command = script.substr(start, std::min(end - start, kMaxLine));
    start = end + 1;
    if (command == "reboot") {
      attempt([&] { firmware::restart(machine); });
      continue;
    }
    if (command == "boot") {
      attempt([&] { firmware::boot(machine); });
      continue;
    }
    if (command.substr(0, 8) == "bootcfg ") {
      shell::bootcfg(machine, command.substr(8));
      continue;
    }
    if (diskpart.execute(command).leave) break;
  }
  diskpart.execute("list disk");
  diskpart.execute("list volume");
  shell::bootcfg(machine, "");
  check_disks(disks);
  check_nvram(machine);
  return 0;
}
