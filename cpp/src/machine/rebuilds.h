// What the background resynchronisation (rebuild_worker.h) asks of the machine's rebuild records
// (rebuilds.cpp), each call taking the machine's lock only for as long as it reads or writes them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bootmirror/machine.h"
#include "bootmirror/mirror.h"

namespace bootmirror::dynamic {

// A rebuild to run: the volume's GUID and the GUID of the disk whose plex receives the copy; a
// recorded full copy (machine.json, from its checkpoint), or the regions a plex's write-intent
// bitmap marks.
struct RebuildJob {
  std::string volume, disk;
  bool from_bitmap = false;
};

// The rebuilds that can run now (their disk present): the recorded ones in record order, then the
// plexes whose bitmaps say they missed writes. Records whose volume, disk or plex is gone are
// dropped first; nothing when the machine is closed.
std::vector<RebuildJob> runnable_rebuilds(Machine& machine);

enum class RebuildEnd {
  done,          // copied, verified, the plex in sync and the record cleared
  stopped,       // `pace` said stop: the record holds the last checkpoint
  reconfigured,  // the volume's plexes changed during the copy: look at the records again
};
// Copies the plex of `job` from its cursor (the live one if a copy of it already ran in this
// process, else the recorded checkpoint; a bitmap's regions from the start), without the
// machine's lock while it copies; then clears its record and its bitmap.
RebuildEnd run_recorded_rebuild(Machine& machine, const RebuildJob& job, const mirror::ProgressCallback& pace);

// Plexes that failed in this run (I/O errors) on disk `number`, or on every disk, are copied
// again: from their recorded checkpoint, or the regions their bitmaps mark.
void reactivate_failed_plexes(Machine& machine, std::optional<int> number);

}  // namespace bootmirror::dynamic
