// The bootcfg shell: Windows Server 2003's bootcfg.exe as it works on EFI machines, on a Machine's
// NVRAM. It parses the command line and prints Windows' text; what the entries mean, where their
// paths lead and what the edits do is the model's (bootmirror/firmware.h).
#pragma once

#include <string>
#include <string_view>

#include "bootmirror/machine.h"

namespace bootmirror::shell {

struct BootcfgResult {
  std::string text;  // what bootcfg prints
  bool ok = true;    // false when it printed an ERROR line
};

// `bootcfg <arguments>`: no arguments or /query (the boot options and entries), /list N (disk N's
// partition table), /clone /sg {guid} /tg {guid} (/d+ text | /d text), /mirror /add {guid} /d
// "text", /delete /id N, /default /id N, /timeout N, /raw "options" /id N [/a], /?.
BootcfgResult bootcfg(Machine& machine, std::string_view arguments);

}  // namespace bootmirror::shell
