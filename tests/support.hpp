// Test helpers shared by every tests/test_*.cpp.
//
// Linking this library also installs a global GoogleTest environment that fails
// the run if, when all tests are done, this process still has children (alive or
// zombie) or /dev/shm holds an entry that was not there at the start.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mp::test {

/// Open fds of this process (entries of /proc/self/fd), without the one used to list them.
std::set<int> open_fds();
/// The pids of this process's children that still exist (running or zombie).
std::vector<pid_t> child_pids();
/// The state letter of /proc/<pid>/stat ('R', 'S' asleep, 'T' stopped, 'Z' zombie), or 0
/// if there is no such process.
char process_state(pid_t pid);
/// Entries of /dev/shm.
std::set<std::string> dev_shm_entries();

/// Records fds at construction; check() reports any fd opened since and still open.
class FdLeakCheck {
  public:
    FdLeakCheck();
    /// The fds open now that were not open at construction.
    [[nodiscard]] std::vector<int> leaked() const;

  private:
    std::set<int> before_;
};

/// Spins (with short sleeps) until `pred` is true or `timeout` passes; returns pred().
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return pred();
        struct timespec ts {
            0, 1'000'000
        };
        nanosleep(&ts, nullptr);
    }
    return true;
}

/// Whether `text` contains `what` (output checks).
inline bool contains(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

}  // namespace mp::test

namespace mp::test {

/// What a finished program printed and how it ended.
struct ProgramResult {
    int exit_code = -1;  ///< -N if killed by signal N
    std::string out;     ///< its stdout
    std::string err;     ///< its stderr
};

/// Runs `path` with `args`, feeding `input` on stdin; kills it after `timeout`
/// (then exit_code is -9). `env` entries ("NAME=value") are added to the
/// environment, replacing a variable of the same name. For checking what
/// examples and the tour print.
ProgramResult run_program(const std::string& path, const std::vector<std::string>& args = {},
                          const std::string& input = "",
                          std::chrono::seconds timeout = std::chrono::seconds(60),
                          const std::vector<std::string>& env = {});

/// The path of a program built by this project, e.g. binary("examples/01_process").
std::string binary(const std::string& relative);

/// The number printed right after the first `prefix` at or after `from` in `text`
/// (spaces skipped), e.g. number_after(out, "Final value: "); nullopt if absent.
/// For reading figures out of a program's output (std::regex trips GCC 12 under ASan).
std::optional<double> number_after(const std::string& text, const std::string& prefix,
                                   std::size_t from = 0);

}  // namespace mp::test
