#include "bootmirror/ldm.h"

namespace bootmirror::ldm {

std::optional<char> drive_letter(const VolumeRecord& volume) {
  if (!volume.drive_hint || volume.drive_hint->empty()) return std::nullopt;
  const char c = (*volume.drive_hint)[0];
  if (c >= 'a' && c <= 'z') return char(c - 'a' + 'A');
  if (c >= 'A' && c <= 'Z') return c;
  return std::nullopt;
}

}  // namespace bootmirror::ldm
