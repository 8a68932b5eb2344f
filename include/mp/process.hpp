// mp/process.hpp — Process and the process-level functions (Python: multiprocessing.process).
//
//     void worker(int n) { std::printf("child %d, pid %d\n", n, mp::current_process().pid()); }
//
//     mp::Process p(worker, 42);   // Process(target=worker, args=(42,))
//     p.start();
//     p.join();                    // p.exitcode() == 0
//
// How a child is made: by fork(). The child gets a copy of the parent's memory,
// so the target and its arguments (captured by value, any type) need no
// serialization; mp handles (Connection, Queue, Lock, Value, …) created before
// start() are shared with it. The child runs target(args...) and ends with
// _exit after flushing the C and C++ standard streams: the parent's atexit
// handlers and static destructors never run in the child. If the target throws,
// the child prints "Process <name>:" and the exception's type and message to
// stderr and exits with code 1. Stdio is flushed before fork so buffered output
// is not printed twice.
//
// Dangers: fork() copies only the calling thread. If *your* program runs other
// threads when it starts a Process, the child must not touch locks those threads
// might have held (a mutex, and through it malloc in some libraries); keep such
// children simple or start them before the threads. mp itself starts no thread
// in the process that forks (see <mp/pool.hpp> for how the Pool keeps to this).
//
// Reaping: no zombie is ever left. join() reaps; the destructor joins a
// non-daemon child (blocking until it ends) and terminates and reaps a daemon
// one; at normal exit of the parent (return from main, std::exit) daemon
// children are terminated and all remaining children are joined, as in Python.
//
// Thread safety: one Process object is used by one thread at a time; different
// Process objects may be used from different threads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/errors.hpp"

namespace mp {

namespace detail {
struct ProcessImpl;
}

/// What current_process(), parent_process() and active_children() report.
class ProcessInfo {
  public:
    ProcessInfo(std::string name, pid_t pid, bool daemon)
        : name_(std::move(name)), pid_(pid), daemon_(daemon) {}
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] bool daemon() const noexcept { return daemon_; }

  private:
    std::string name_;
    pid_t pid_;
    bool daemon_;
};

class Process {
  public:
    using clock = std::chrono::steady_clock;

    /// A process with no target: run() does nothing unless a subclass overrides it.
    Process();

    /// Process(target=f, args=(args...)): the child calls f(args...) on copies
    /// of the arguments (use std::ref to share an object inherited by fork).
    template <class F, class... Args>
    requires std::invocable < std::decay_t<F>
    &, std::decay_t<Args>&... > explicit Process(F&& target, Args&&... args);

    Process(Process&&) noexcept;
    /// Moves `other` in; a child this object had started is first reaped as by the destructor.
    Process& operator=(Process&&) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    /// Joins a running non-daemon child; terminates and reaps a daemon one.
    virtual ~Process();

    /// Starts the child. ProcessError if already started, or if called in a daemon process.
    void start();

    /// Waits until the child ends and reaps it; returns true. ProcessError before start().
    bool join();
    /// Waits at most `timeout`; true if the child has ended (and is reaped).
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        return join_until(clock::now() + std::chrono::ceil<clock::duration>(timeout));
    }

    /// True between start() and the child's end. Never blocks.
    [[nodiscard]] bool is_alive();
    /// The child's pid; 0 before start().
    [[nodiscard]] pid_t pid() const noexcept;
    /// nullopt while running (or before start); the exit code once ended, -N if killed by signal N.
    [[nodiscard]] std::optional<int> exitcode();

    /// Sends SIGTERM (no-op once the child has ended). ProcessError before start().
    void terminate();
    /// Sends SIGKILL (no-op once the child has ended). ProcessError before start().
    void kill();
    /// Releases the child's resources; ValueError if it is still running.
    void close();

    [[nodiscard]] const std::string& name() const noexcept;
    void set_name(std::string name);
    [[nodiscard]] bool daemon() const noexcept;
    /// Daemon children are terminated when their parent exits. ProcessError after start().
    void set_daemon(bool daemon);
    /// An fd that becomes readable when the child ends (a pidfd); -1 before start().
    [[nodiscard]] int sentinel() const noexcept;

  protected:
    /// What the child runs: the target by default. Override in a subclass (Python's run()).
    virtual void run();

  private:
    bool join_until(std::optional<clock::time_point> deadline);
    detail::ProcessImpl& impl() const;

    std::unique_ptr<detail::ProcessImpl> impl_;
    std::function<void()> target_;

    friend struct detail::ProcessImpl;
};

/// The process this code runs in: "MainProcess" or the Process's name, and its pid.
ProcessInfo current_process();
/// The process that started this one; nullopt in the main process.
std::optional<ProcessInfo> parent_process();
/// The children started by this process that are still running (finished ones are reaped).
std::vector<ProcessInfo> active_children();
/// The number of CPUs this process may run on (sched_getaffinity); at least 1.
int cpu_count();

// ---- definitions -------------------------------------------------------------------------

template <class F, class... Args>
requires std::invocable < std::decay_t<F>
&, std::decay_t<Args>&... > Process::Process(F&& target, Args&&... args) : Process() {
    target_ = [f = std::decay_t<F>(std::forward<F>(target)),
               tup = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)]() mutable {
        std::apply([&f](auto&... a) { std::invoke(f, a...); }, tup);
    };
}

}  // namespace mp
