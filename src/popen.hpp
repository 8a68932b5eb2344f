// Internal: the seam for how a child process is made (Python's popen_<method>.py).
//
// process.cpp builds a ChildSpec — who the child is (name, daemon, identity, its
// parent) and what it runs — and hands it to launch() with a start method. For
// `fork` the spec carries the closure to run in the forked copy; for `forkserver`
// and `spawn` it carries the task as a value (<mp/detail/task.hpp>: a trampoline's
// CodeRef, the callable's bytes, the arguments' frame) and the fds the task's handles
// need (<mp/detail/reduction.hpp>). Nothing outside the popen_*.cpp files knows how
// a child is made. Not installed.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mp/detail/reduction.hpp"
#include "mp/detail/task.hpp"
#include "mp/serialize.hpp"
#include "system.hpp"

namespace mp::detail {

enum class StartMethod { fork, forkserver, spawn };

/// "fork", "forkserver", "spawn" → the method; ValueError otherwise (context.cpp).
StartMethod parse_start_method(const std::string& name);
const char* start_method_name(StartMethod m) noexcept;
StartMethod default_start_method();

class Popen {
  public:
    virtual ~Popen() = default;
    [[nodiscard]] virtual pid_t pid() const noexcept = 0;
    /// An fd that polls readable once the child has ended (a pidfd).
    [[nodiscard]] virtual int sentinel() const noexcept = 0;
    /// The exit code if the child has ended (reaping it), else nullopt. Never blocks.
    virtual std::optional<int> poll() = 0;
    /// Waits until the child ends or `deadline` passes; the exit code, or nullopt on timeout.
    virtual std::optional<int> wait(std::optional<Clock::time_point> deadline) = 0;
    /// Sends `sig` unless the child has already been reaped (never hits a reused pid).
    virtual void send_signal(int sig) = 0;
};

/// Who a child is and what it runs.
struct ChildSpec {
    std::string name;
    bool daemon = false;
    std::vector<int> identity;
    std::string parent_name;
    pid_t parent_pid = 0;
    bool parent_daemon = false;

    /// fork: runs in the forked child and returns its exit code (then _exit).
    std::function<int()> fork_main;

    /// forkserver/spawn: the task as a value, and the fds its handles need (borrowed:
    /// they stay open in the parent until launch() returns). The task names fds by
    /// their index in this list.
    CodeRef trampoline{};
    Bytes callable;
    Bytes args;
    std::vector<int> fds;
};

/// Starts a child of `spec` by `method`. ValueError if the spec lacks what the method needs.
std::unique_ptr<Popen> launch(StartMethod method, ChildSpec& spec);

/// The fork method (popen_fork.cpp).
std::unique_ptr<Popen> launch_fork(ChildSpec& spec);
/// The spawn method (popen_spawn.cpp).
std::unique_ptr<Popen> launch_spawn(ChildSpec& spec);
/// The forkserver method (popen_forkserver.cpp).
std::unique_ptr<Popen> launch_forkserver(ChildSpec& spec);

/// A Popen for a direct child known by pid: waits with a pidfd (fork and spawn).
std::unique_ptr<Popen> popen_for_child(pid_t pid);

/// pidfd_send_signal(2): signals the process of `pidfd` (never a reused pid).
int pidfd_send_signal(int pidfd, int sig) noexcept;

/// Flushes the C and C++ standard streams (before fork, and before a child's _exit).
void flush_std_streams() noexcept;

/// Threads mp runs itself in this process (the fork warning counts only the user's).
std::atomic<int>& mp_thread_count() noexcept;

// ---- the child description on the wire (forkserver and spawn) ---------------------------
//
// One message: a u64 length, then the cereal encoding of ChildSpec's value fields, with
// SCM_RIGHTS carrying [parent pidfd, spec.fds...]. The child rebuilds the spec, makes
// the fds available to the task's handles (reduction.hpp's FdSource) and runs it.

/// A field of the description: a u64 length, then the bytes (popen_spawn.cpp).
void put_bytes(Bytes& out, std::span<const std::byte> b);
/// Reads what put_bytes wrote, advancing `in`; SerializationError if it is cut short.
std::span<const std::byte> get_bytes(std::span<const std::byte>& in);

/// Encodes the value fields of `spec` (not the fds, not fork_main).
Bytes encode_spec(const ChildSpec& spec);
/// Decodes what encode_spec wrote; SerializationError if corrupt.
ChildSpec decode_spec(std::span<const std::byte> bytes);

/// In a child of forkserver or spawn: becomes the process `spec` describes, runs its
/// task (fds[0] is the parent's pidfd, the rest the handles' fds; all owned) and
/// returns the exit code. Never throws.
int run_child(ChildSpec& spec, std::vector<int> fds) noexcept;

/// The role of this image, decided before main (boot.cpp): true in the main program.
bool booted_normally() noexcept;
/// Starts a fresh image of this program (posix_spawn of /proc/self/exe) in `role`
/// ("spawn" or "forkserver") reading its boot message from fd `fd`, which it inherits.
/// With `die_with_parent` it is killed when this process ends. Returns its pid.
pid_t spawn_image(const char* role, int fd, bool die_with_parent);

}  // namespace mp::detail
