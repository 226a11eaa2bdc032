#include "binding.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "bootmirror's C++ engine (use the bootmirror package, not this module, directly)";
  m.attr("__version__") = BOOTMIRROR_VERSION;
  using namespace bootmirror::bindings;
  bind_errors(m);
  bind_core(m);
  bind_io(m);
  bind_gpt(m);
  bind_fat(m);
  bind_machine(m);
  bind_shell(m);
  bind_ldm(m);
  bind_dynamic(m);
  bind_volumes(m);
  bind_mirror(m);
  bind_ntfs(m);
  bind_nvram(m);
  bind_firmware(m);
  bind_qemu(m);
  bind_redundancy(m);
}
