#include "bootmirror/progress.h"

#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/bytes.h"

namespace bootmirror {

namespace {

// Below this a step is not worth a report: small work reports its start and end only.
constexpr std::uint64_t kMinimumStep = 64 << 10;

}  // namespace

ProgressMeter::ProgressMeter(const ProgressCallback& callback, std::string work)
    : callback_(callback), work_(std::move(work)) {}

void ProgressMeter::start(std::uint64_t total) {
  total_ = total;
  done_ = 0;
  step_ = std::max(kMinimumStep, total / kReports);
  next_report_ = step_;
  report();
}

void ProgressMeter::advance(std::uint64_t bytes) {
  done_ = saturating_add(done_, bytes);  // sizes from disk may claim anything
  if (done_ < next_report_ || !callback_) return;
  next_report_ = done_ + step_;
  report();
}

void ProgressMeter::finish() {
  done_ = total_ = std::max(done_, total_);
  if (callback_) callback_(Progress{done_, total_});
}

void ProgressMeter::report() {
  if (callback_ && !callback_(Progress{std::min(done_, total_), total_}))
    throw Stopped(fmt::format("{} was stopped", work_));
}

}  // namespace bootmirror
