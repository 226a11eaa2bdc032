// Progress of long work, counted in bytes, and the caller's way to stop it: one callback type for
// mirror rebuilds and verifies, tree copies and formats, so that a front end (a tqdm bar, JSON
// lines, Ctrl-C) is written once for all of them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "bootmirror/error.h"

namespace bootmirror {

struct Progress {
  std::uint64_t done = 0, total = 0;  // bytes
};
// Return false to stop the work. Each operation says what stopping leaves behind.
using ProgressCallback = std::function<bool(const Progress&)>;

// Thrown by work that its progress callback stopped (a tree copy, a format), after it has left
// things as its documentation says. A UsageError: the caller asked for it.
class Stopped : public UsageError {
 public:
  using UsageError::UsageError;
};

// A progress callback seen through a meter: it is called at most about `kReports` times over the
// work (a call into Python for each file of a ten-thousand-file tree would cost more than the
// copy itself), always at the start and at the end, and a "stop" answer becomes a Stopped error
// naming the work. Without a callback every call is a test of an empty std::function.
class ProgressMeter {
 public:
  static constexpr std::uint64_t kReports = 500;

  ProgressMeter(const ProgressCallback& callback, std::string work);
  // The work's size is known: reports 0 of `total` (and may stop before anything is done).
  void start(std::uint64_t total);
  // `bytes` more are done; reports when a step's worth has gathered since the last report.
  void advance(std::uint64_t bytes);
  // All is done: reports total of total. Never stops: the work is already complete.
  void finish();
  std::uint64_t done() const { return done_; }

 private:
  void report();

  const ProgressCallback& callback_;
  std::string work_;
  std::uint64_t total_ = 0, done_ = 0, next_report_ = 0, step_ = 1;
};

}  // namespace bootmirror
