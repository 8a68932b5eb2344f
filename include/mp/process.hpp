// mp/process.hpp — Process and the process-level functions (Python: multiprocessing.process).
//
//     void worker(int n) { std::printf("child %d, pid %d\n", n, mp::current_process().pid()); }
//
//     mp::Process p(worker, 42);   // Process(target=worker, args=(42,))
//     p.start();
//     p.join();                    // p.exitcode() == 0
//
// How a child is made: by the start method (<mp/context.hpp>): `fork` unless
// mp::set_start_method chose another, or the Process came from ctx.Process(...).
//  * fork: the child is a copy of the parent (fork()). The target and its arguments,
//    captured by value, need no serialization; any callable works.
//  * forkserver / spawn: the child is a fresh image of the program (never runs main,
//    see src/boot.cpp). The target travels as a value (<mp/detail/task.hpp>): it must be
//    a function, a captureless lambda or a trivially copyable function object, and its
//    arguments serializable values or mp handles (<mp/detail/reduction.hpp>); otherwise
//    start() throws ValueError saying what to change.
// mp handles (Connection, Queue, Lock, Value, …) passed as arguments reach the child
// under every method. The child runs target(args...) and ends with _exit after flushing
// the C and C++ standard streams: the parent's atexit handlers and static destructors
// never run in the child. If the target throws, the child prints "Process <name>:" and
// the exception's type and message to stderr and exits with code 1. Stdio is flushed
// before fork so buffered output is not printed twice. After start() the parent's
// Process holds no copy of the target or its arguments (a pipe end moved into the
// child is closed in the parent).
//
// Dangers of fork: fork() copies only the calling thread. If *your* program runs other
// threads when it starts a Process, the child must not touch locks those threads
// might have held (a mutex, malloc's in some libraries); mp warns once on stderr
// (MP_FORK_WARNING=0 silences it). Use the forkserver method in such programs.
//
// Reaping: no zombie is ever left. join() reaps; a started Process that is dropped
// runs on and mp reaps it when it ends (checked at every start() and
// active_children()); at normal exit of the parent (return from main, std::exit)
// daemon children are terminated and all remaining children are joined, as in
// Python. Daemon children started from the main thread also die when the parent dies
// of anything (PR_SET_PDEATHSIG; under forkserver through the server, which ends
// with the parent).
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

#include "mp/detail/reduction.hpp"
#include "mp/detail/task.hpp"
#include "mp/errors.hpp"

namespace mp {

class Process;

namespace detail {
struct ProcessImpl;

/// A Process's target as a value, for forkserver and spawn (see reduction.hpp).
struct TaskValue {
    CodeRef trampoline{};
    Bytes callable;
    Bytes args;
    FdSink fds;
};

/// What a Process runs: called in a forked child, or encoded for another image.
struct ProcessTarget {
    virtual ~ProcessTarget() = default;
    virtual void run() = 0;
    /// nullptr if the target can be sent to a fresh image, else why not.
    [[nodiscard]] virtual const char* not_sendable() const noexcept = 0;
    virtual void encode(TaskValue& out) const = 0;
};

template <class F, class... A>
struct TargetOf final : ProcessTarget {
    static constexpr bool kSendable = PoolCallable<F> && (Travels<A> && ...);
    template <class G, class... B>
    explicit TargetOf(G&& g, B&&... b) : f(std::forward<G>(g)), args(std::forward<B>(b)...) {}
    void run() override {
        std::apply([this](auto&... a) { std::invoke(f, a...); }, args);
    }
    const char* not_sendable() const noexcept override {
        if constexpr (!PoolCallable<F>) {
            return "the target is not a function, a captureless lambda or a trivially copyable "
                   "function object (a lambda capturing a std::string/std::vector/..., a "
                   "std::function or a std::bind result cannot reach a fresh image: pass that "
                   "data as arguments instead)";
        } else if constexpr (!kSendable) {
            return "an argument is neither a serializable value nor an mp handle (e.g. a raw "
                   "pointer or std::ref: pass a value or a shared object such as mp::Value)";
        } else {
            return nullptr;
        }
    }
    void encode(TaskValue& out) const override {
        if constexpr (kSendable) {
            out.trampoline = trampoline_ref<&process_trampoline<F, A...>>();
            encode_callable(f, out.callable);
            encode_travel_args(args, out.args, out.fds);
        } else {
            (void)out;
        }
    }
    F f;
    std::tuple<A...> args;
};

/// Makes `p` start with the start method `method` ("fork", "forkserver", "spawn").
void set_process_start_method(Process& p, const std::string& method);
}  // namespace detail

/// What current_process(), parent_process() and active_children() report.
class ProcessInfo {
  public:
    ProcessInfo(std::string name, pid_t pid, bool daemon, int kind = 0)
        : name_(std::move(name)), pid_(pid), daemon_(daemon), kind_(kind) {}
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] bool daemon() const noexcept { return daemon_; }
    /// Whether that process is still running, asked now (for parent_process(): false
    /// once the parent has ended, whatever ended it).
    [[nodiscard]] bool is_alive() const;

  private:
    std::string name_;
    pid_t pid_;
    bool daemon_;
    int kind_;  // 0: any process (kill(pid, 0)); 1: this process's parent
};

class Process {
  public:
    using clock = std::chrono::steady_clock;

    /// A process with no target: run() does nothing unless a subclass overrides it.
    Process();

    /// Process(target=f, args=(args...)): the child calls f(args...) on copies
    /// of the arguments (under fork, std::ref shares an object inherited by fork).
    template <class F, class... Args>
    requires std::invocable < std::decay_t<F>
    &, std::decay_t<Args>&... > explicit Process(F&& target, Args&&... args);

    Process(Process&&) noexcept;
    /// Moves `other` in; a child this object had started is first reaped as by the destructor.
    Process& operator=(Process&&) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    /// A running child runs on; mp reaps it when it ends (and at exit joins it, or
    /// terminates it if it is a daemon).
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
    /// Releases the child's resources (its pidfd); ValueError if it is still running.
    /// Every later call but closed() → ValueError.
    void close();
    [[nodiscard]] bool closed() const noexcept;

    [[nodiscard]] const std::string& name() const noexcept;
    void set_name(std::string name);
    [[nodiscard]] bool daemon() const noexcept;
    /// Daemon children are terminated when their parent exits. ProcessError after start().
    void set_daemon(bool daemon);
    /// An fd that becomes readable when the child ends (a pidfd); -1 before start().
    [[nodiscard]] int sentinel() const noexcept;
    /// The start method this Process starts with ("fork", "forkserver", "spawn").
    [[nodiscard]] std::string start_method() const;

  protected:
    /// What the child runs: the target by default. Override in a subclass (Python's run()).
    virtual void run();

  private:
    bool join_until(std::optional<clock::time_point> deadline);
    detail::ProcessImpl& impl() const;

    std::shared_ptr<detail::ProcessImpl> impl_;
    std::unique_ptr<detail::ProcessTarget> target_;

    friend struct detail::ProcessImpl;
    friend void detail::set_process_start_method(Process& p, const std::string& method);
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
    target_ = std::make_unique<detail::TargetOf<std::decay_t<F>, std::decay_t<Args>...>>(
        std::forward<F>(target), std::forward<Args>(args)...);
}

}  // namespace mp
