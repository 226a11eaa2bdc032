// The diskpart shell (cpp/src/shell): its parser (words abbreviated to three letters, key=value
// options, quoted text) and every command it reaches, on an in-memory Machine with two blank disks
// (64 and 160 MiB; a GPT needs 128). The input is a script, one command a line (at most 64 lines of
// 256 bytes); a line "reboot" restarts the machine (dynamic::reboot, which completes a conversion of
// the system disk), as the runbooks do between diskpart sessions. What must hold:
//   - execute() answers every line; a failure is diskpart's text, never an exception;
//   - whatever the script did, a disk that carries a GPT verifies clean, and the dynamic disks
//     read as a group (the shell may refuse a command, but never leave a damaged disk).
#include <memory>
#include <optional>
#include <string_view>

#include "bootmirror/dynamic.h"
#include "bootmirror/gpt.h"
#include "bootmirror/ldm.h"
#include "bootmirror/shell.h"
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  Machine machine;
  std::vector<DevicePtr> disks;
  for (int i = 0; i < 2; ++i) {
    disks.push_back(std::make_shared<SectorOverlay>(kDiskBytes[i], 512));
    machine.attach(disks.back());
  }
  shell::Diskpart diskpart(machine);
  const std::string_view script(reinterpret_cast<const char*>(data), size);
  std::size_t start = 0;
  for (std::size_t line = 0; line < kMaxLines && start < script.size(); ++line) {
    std::size_t end = script.find('\n', start);
    if (end == std::string_view::npos) end = script.size();
    const std::string_view command = script.substr(start, std::min(end - start, kMaxLine));
    start = end + 1;
    if (command == "reboot") {
      attempt([&] { dynamic::reboot(machine); });
      continue;
    }
    if (diskpart.execute(command).leave) break;
  }
  diskpart.execute("list disk");
  diskpart.execute("list volume");
  check_disks(disks);
  return 0;
}
