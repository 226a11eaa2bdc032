// What the background resynchronisation (rebuild_worker.h) asks of the machine's rebuild records
// (rebuilds.cpp), each call taking the machine's lock only for as long as it reads or writes them.
#pragma once

#include <string>
#include <vector>

#include "bootmirror/machine.h"
#include "bootmirror/mirror.h"

namespace bootmirror::dynamic {

// A recorded rebuild: the volume's GUID and the GUID of the disk whose plex receives the copy.
struct RebuildJob {
  std::string volume, disk;
};

// The recorded rebuilds that can run now (their disk present), in record order. Records whose
// volume, disk or plex is gone are dropped first; nothing when the machine is closed.
std::vector<RebuildJob> runnable_rebuilds(Machine& machine);

enum class RebuildEnd {
  done,          // copied, verified, the plex in sync and the record cleared
  stopped,       // `pace` said stop: the record holds the last checkpoint
  reconfigured,  // the volume's plexes changed during the copy: look at the records again
};
// Copies the plex of `job` from its cursor (the live one if a copy of it already ran in this
// process, else the recorded checkpoint), without the machine's lock while it copies.
RebuildEnd run_recorded_rebuild(Machine& machine, const RebuildJob& job, const mirror::ProgressCallback& pace);

}  // namespace bootmirror::dynamic
