// The serial console of a QEMU boot (cpp/src/qemu/console.cpp): what a guest prints is outside
// our control (firmware screens in code page 437, escape sequences cut short, a loader printing
// anything). The input is the console's raw bytes. What must hold:
//   - clean_console gives valid UTF-8 holding no ESC, CR or other control but '\n' and '\t', and
//     cleaning it again changes nothing;
//   - find_markers and find_boot_attempts answer for any text, and what they report stands in it:
//     each attempt's description and device path, each marker's tag and path.
#include <string>
#include <string_view>

#include "bootmirror/qemu.h"
#include "bootmirror/unicode.h"
#include "support/harness.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const std::string text = qemu::clean_console(raw);
  require(is_valid_utf8(text), "the cleaned console is valid UTF-8");
  for (char c : text)
    require(static_cast<unsigned char>(c) >= 0x20 ? c != 0x7F : c == '\n' || c == '\t', "no control characters are left");
  require(qemu::clean_console(text) == text, "cleaning twice changes nothing");
  for (const qemu::BootAttempt& a : qemu::find_boot_attempts(text)) {
    require(text.find(a.description) != std::string::npos, "an attempt's description stands in the console");
    require(text.find(a.device_path) != std::string::npos, "an attempt's device path stands in the console");
    require(!qemu::outcome_name(a.outcome).empty(), "every outcome has a name");
  }
  for (const qemu::Marker& m : qemu::find_markers(text)) {
    require(text.find(m.tag) != std::string::npos, "a marker's tag stands in the console");
    require(text.find(m.path) != std::string::npos, "a marker's path stands in the console");
  }
  return 0;
}
