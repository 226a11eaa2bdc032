// The machine's part of machine.json that the dynamic-disk files share ("ldm": the group, its
// disks by number, pending conversions, rebuilds in progress).
#pragma once

#include "bootmirror/machine.h"

namespace bootmirror::dynamic {

Json::Object& ldm_section(Machine& machine);

}  // namespace bootmirror::dynamic
