// Running outside programs (see program.h).
#include "core/program.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

#include "bootmirror/error.h"

extern char** environ;

namespace bootmirror {

namespace fs = std::filesystem;

namespace {

// The last few lines of what a failed program said: enough to name its complaint.
std::string tail_lines(const std::string& text, int lines) {
  std::size_t end = text.find_last_not_of("\n ");
  if (end == std::string::npos) return {};
  std::size_t from = end + 1;
  for (int n = 0; n < lines && from > 0; ++n) {
    std::size_t nl = text.rfind('\n', from - 1);
    from = nl == std::string::npos ? 0 : nl;
    if (from == 0) break;
  }
  std::string out = text.substr(from, end + 1 - from);
  while (!out.empty() && out.front() == '\n') out.erase(out.begin());
  return out;
}

std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with("LC_") || v.starts_with("LANG=") || v.starts_with("LANGUAGE=")) continue;
    env.emplace_back(v);
  }
  env.emplace_back("LC_ALL=C.UTF-8");
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

using Clock = std::chrono::steady_clock;

// Reads the child's output until it closes the pipe into `result`. A child still running past the
// deadline, or once `finished` says so, gets SIGTERM, then SIGKILL after a grace period; the result
// says which stopped it.
void read_output(int fd, pid_t pid, std::optional<Clock::time_point> deadline, const std::function<bool()>& finished,
                 ProgramResult& result) {
  constexpr auto kGrace = std::chrono::seconds(5);
  constexpr long long kAskEveryMs = 200;
  bool stopping = false, killed = false;
  char buffer[4096];
  auto stop = [&] {
    stopping = true;
    ::kill(pid, SIGTERM);
    deadline = Clock::now() + kGrace;
  };
  for (;;) {
    int wait_ms = -1;
    if (deadline) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      if (left <= 0) {
        if (!stopping) {
          result.timed_out = true;
          stop();
          continue;
        }
        if (killed) return;  // a descendant still holds the pipe: stop reading it
        ::kill(pid, SIGKILL);
        killed = true;
        deadline = Clock::now() + kGrace;
        continue;
      }
      wait_ms = int(std::min<long long>(left, 1000 * 60));
    }
    if (finished && !stopping) {
      if (finished()) {
        result.stopped = true;
        stop();
        continue;
      }
      wait_ms = wait_ms < 0 ? int(kAskEveryMs) : int(std::min<long long>(wait_ms, kAskEveryMs));
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, wait_ms);
    if (ready < 0 && errno != EINTR) throw OsError(errno, "", "wait for a program's output");
    if (ready <= 0) continue;
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;
    result.output.append(buffer, std::size_t(n));
  }
}

}  // namespace

fs::path find_program(std::string_view program) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  path += ":/usr/sbin:/sbin";
  for (std::size_t from = 0; from <= path.size();) {
    std::size_t colon = path.find(':', from);
    if (colon == std::string::npos) colon = path.size();
    if (colon > from) {
      fs::path candidate = fs::path(path.substr(from, colon - from)) / program;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    from = colon + 1;
  }
  return {};
}

ProgramResult run_program(const std::vector<std::string>& argv, std::string_view debian_package) {
  return run_program(argv, debian_package, RunLimits{});
}

ProgramResult run_program(const std::vector<std::string>& argv, std::string_view debian_package, const RunLimits& limits) {
  if (argv.empty()) throw UsageError("no program to run");
  const fs::path program = find_program(argv[0]);
  if (program.empty())
    throw UsageError(fmt::format("{} is not installed: it comes with the Debian package {} (apt-get install {})",
                                 argv[0], debian_package, debian_package));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw OsError(errno, argv[0], "pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  std::vector<std::string> args(argv), env = child_environment();
  args[0] = program.string();
  std::vector<char*> arg_pointers = pointers(args), env_pointers = pointers(env);
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, arg_pointers.data(), env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (spawned != 0) {
    ::close(pipe_fds[0]);
    throw OsError(spawned, program.string(), "run");
  }
  ProgramResult result;
  std::optional<Clock::time_point> deadline;
  if (limits.timeout.count() > 0) deadline = Clock::now() + limits.timeout;
  try {
    read_output(pipe_fds[0], pid, deadline, limits.finished, result);
  } catch (...) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(pipe_fds[0]);
    throw;
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw OsError(errno, program.string(), "wait for");
  if (result.timed_out || result.stopped) {
    result.exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    return result;
  }
  if (WIFSIGNALED(status))
    throw Error(fmt::format("{} was killed by signal {}: {}", argv[0], WTERMSIG(status), tail_lines(result.output, 3)));
  result.exit_code = WEXITSTATUS(status);
  if (result.exit_code != 0)
    throw Error(fmt::format("{} failed (exit code {}): {}", argv[0], result.exit_code, tail_lines(result.output, 3)));
  return result;
}

TemporaryFolder::TemporaryFolder(std::string_view purpose) {
  std::string pattern = (fs::temp_directory_path() / fmt::format("bootmirror-{}-XXXXXX", purpose)).string();
  if (!::mkdtemp(pattern.data())) throw OsError(errno, pattern, "create the temporary folder");
  path_ = pattern;
}

TemporaryFolder::~TemporaryFolder() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

}  // namespace bootmirror
