// Outside programs we run but never link (GPL tools: mkntfs, wimlib-imagex, grub-mkstandalone,
// QEMU): found on PATH or in the sbin folders a non-root PATH leaves out, run with their output
// captured, and a temporary folder for the files they work on.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace bootmirror {

struct ProgramResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr together, as a terminal would show them
  bool timed_out = false;  // stopped at RunLimits::timeout (then exit_code is whatever it left with)
  bool stopped = false;    // stopped because RunLimits::finished said so (likewise)
};

struct RunLimits {
  // Zero waits as long as the program runs. Past it the program is asked to stop (SIGTERM, which
  // lets QEMU close its files), killed 5 s later if it has not, and the result says timed_out
  // instead of raising: a guest that never shuts down is an answer, not a failure.
  std::chrono::milliseconds timeout{0};
  // Asked every 200 ms while the program runs: true stops it as the timeout does (a program that
  // has done what it was run for but would wait for input, such as a guest at a shell prompt).
  std::function<bool()> finished;
};

// Runs `argv` (argv[0] a program name) and waits for it. A program that is not installed is a
// UsageError naming the Debian package that has it; one that fails (non-zero exit, killed) is an
// Error quoting its last lines. The child runs in the C.UTF-8 locale, so that names and labels
// pass through as UTF-8 whatever this process's locale.
ProgramResult run_program(const std::vector<std::string>& argv, std::string_view debian_package);
ProgramResult run_program(const std::vector<std::string>& argv, std::string_view debian_package, const RunLimits& limits);

// The path of `program` (PATH, then /usr/sbin and /sbin), or empty when it is not installed.
std::filesystem::path find_program(std::string_view program);

// A private folder under the system's temporary folder, removed with everything in it.
class TemporaryFolder {
 public:
  explicit TemporaryFolder(std::string_view purpose);
  ~TemporaryFolder();
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace bootmirror
