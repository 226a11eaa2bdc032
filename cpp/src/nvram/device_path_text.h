// The text form of device path nodes, both ways (UEFI 2.10, 10.6). Internal to cpp/nvram.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "bootmirror/nvram.h"

namespace bootmirror::nvram::text {

// A node's standard text when it has one (PciRoot(0x0), HD(...), a file path...), nullopt for a
// kind without one.
std::optional<std::string> standard_node_text(const DevicePathNode& node);
// Path(type,subtype,hexdata): the form every node has.
std::string generic_node_text(const DevicePathNode& node);
// One node's text back to its bytes: UsageError for a known node name with bad arguments.
DevicePathNode parse_node(std::string_view text);

}  // namespace bootmirror::nvram::text
