// Which OVMF code goes with a variable store. Debian's ovmf package ships two builds whose flash
// layouts differ: the "4M" one (OVMF_CODE_4M.fd, 3,653,632 bytes, with OVMF_VARS_4M.fd of
// 540,672) and the older "2M" one (OVMF_CODE.fd, 1,966,080 bytes, with OVMF_VARS.fd of 131,072).
// The code of one with the store of the other does not work (measured: the 4M code ignores a 2M
// store and leaves it as it was, the 2M code with a 4M store stops at a CPU exception), so the
// store's size decides.
// The .secboot (.ms, .snakeoil) code is left out: it is built for SMM, which needs a machine set up
// for it (smm=on, a secure flash) that these boots do not make. A .ms store pairs with the plain code.
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "bootmirror/qemu.h"
#include "bootmirror/units.h"

namespace bootmirror::qemu {

namespace {

constexpr const char* kFolder = "/usr/share/OVMF";

struct Pairing {
  std::uintmax_t vars_size;
  const char* code;
  const char* vars;
};
constexpr Pairing kPairings[] = {
    {540672, "OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"},
    {131072, "OVMF_CODE.fd", "OVMF_VARS.fd"},
};

}  // namespace

std::string firmware_code_for(const std::string& vars) {
  std::error_code error;
  const std::uintmax_t size = std::filesystem::file_size(vars, error);
  if (error) throw OsError(error.value(), vars, "read the size of the variable store");
  for (const Pairing& pairing : kPairings) {
    if (pairing.vars_size != size) continue;
    const std::filesystem::path code = std::filesystem::path(kFolder) / pairing.code;
    if (!std::filesystem::is_regular_file(code))
      throw UsageError(fmt::format("OVMF is not installed ({} is missing): it comes with the Debian package ovmf "
                                   "(apt-get install ovmf)", code.string()));
    return code.string();
  }
  throw UsageError(fmt::format("{} is {} bytes, the size of no OVMF variable store: a copy of {}/{} ({} bytes) or "
                               "{}/{} ({} bytes) is one",
                               vars, with_thousands(size), kFolder, kPairings[0].vars, with_thousands(kPairings[0].vars_size),
                               kFolder, kPairings[1].vars, with_thousands(kPairings[1].vars_size)));
}

}  // namespace bootmirror::qemu
