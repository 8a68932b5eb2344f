// Internal: the seam for how a child process is made (Python's popen_<method>.py).
// process.cpp knows nothing about fork; a fork server or MPI launcher would be
// another Popen. Not installed.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>

#include "system.hpp"

namespace mp::detail {

class Popen {
  public:
    virtual ~Popen() = default;
    [[nodiscard]] virtual pid_t pid() const noexcept = 0;
    /// An fd that polls readable once the child has ended.
    [[nodiscard]] virtual int sentinel() const noexcept = 0;
    /// The exit code if the child has ended (reaping it), else nullopt. Never blocks.
    virtual std::optional<int> poll() = 0;
    /// Waits until the child ends or `deadline` passes; the exit code, or nullopt on timeout.
    virtual std::optional<int> wait(std::optional<Clock::time_point> deadline) = 0;
    /// Sends `sig` unless the child has already been reaped (never hits a reused pid).
    virtual void send_signal(int sig) = 0;
};

/// Starts a child that runs `child_main` and exits with its result via _exit.
/// `child_main` must not return normally by any other path; it runs in the child only.
std::unique_ptr<Popen> launch(const std::function<int()>& child_main);

/// Flushes the C and C++ standard streams (before fork, and before a child's _exit).
void flush_std_streams() noexcept;

}  // namespace mp::detail
