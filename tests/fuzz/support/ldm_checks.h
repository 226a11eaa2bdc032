// What a machine does with its dynamic disks, shared by the LDM targets, with what must hold of
// every answer:
//   - reading (read_database, read_group, scan) never writes;
//   - a database that decodes encodes to bytes that, on a fresh disk, decode and encode the same;
//   - the logical disk a PRIVHEAD describes lies inside its device (issue 9: offsets from disk are
//     checked before use);
//   - scan puts each device in one category at most;
//   - on a Machine, each volume's device lies inside its disk's data area, and diskpart lists the
//     disks and volumes;
//   - a group that reads takes a commit (a drive-letter hint) on copies of its disks, and the
//     copies read back with it.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "bootmirror/ldm.h"
#include "support/sector_overlay.h"

namespace bootmirror::fuzz {

// Reads the disks every way a machine does; returns the group when read_group gives one.
std::optional<ldm::Group> read_dynamic_disks(const std::vector<std::shared_ptr<SectorOverlay>>& disks);

// Commits a new drive-letter hint for the first volume of `group` to copies of `disks`.
void commit_round_trip(const ldm::Group& group, const std::vector<std::shared_ptr<SectorOverlay>>& disks);

}  // namespace bootmirror::fuzz
