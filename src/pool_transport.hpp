// Internal: the interface between the Pool's scheduler and its workers. Not installed.
//
// The scheduler (src/pool.cpp) decides *what* runs *where*: tickets, the pending
// queue, dispatch, work stealing, maxtasksperchild, results and callbacks. A
// transport carries the bytes and knows the workers' processes (or threads, or
// ranks). Implementations:
//
//   - shared memory (src/pool_transport_shm.cpp): per worker an inbox and an outbox
//     ring in one SharedRegion, a shared ticket table for revoke/running, one eventfd
//     for "something is ready", workers forked from a per-pool zygote;
//   - threads (mp::ThreadPool): workers are threads of this process;
//   - MPI (the MPI issue): workers are ranks.
//
// What travels is transport-neutral: a task is one *record* (a byte span: the
// Pool's [u64 length][TaskHeader][callable][args frame], see pool_shared.hpp), a
// result is a ResultHeader-kind plus a frame (byte span). Nothing in the interface
// points into a transport's memory after the call returns: spans passed in are
// copied (or fully written) before `send` returns; spans handed to `on_event` are
// valid only during the callback.
//
// Tickets. The scheduler owns ticket numbers 0..tickets()-1 and a generation per
// ticket (TicketId); it stamps both into the record's TaskHeader before `send`. A
// worker runs a task only after it *claimed* it (queued → running); the scheduler
// may `revoke` a queued task (queued → revoked) to give it to another worker. Exactly
// one of claim and revoke wins. A transport that cannot revoke returns false from
// `revoke` (the task then stays where it is). After a worker ended, `running` says
// whether a ticket it held had started (that task is lost: WorkerLost) or not (it
// is sent again elsewhere).
//
// Threads. Every member except `wait` and `interrupt` is called with the scheduler's
// lock held (one caller at a time). `wait` is called by the scheduler's background
// thread and by callers waiting for a result, *without* the lock, possibly by several
// threads at once and while another thread calls the others: it must read only what
// is safe so (e.g. shared atomics). `interrupt` may be called from any thread and
// makes current waits (or the next one) return at once. A waiter whose wake-up was
// taken by another waiter may sleep on: the scheduler bounds each wait (a few ms).
//
// Starting workers is asynchronous: `start(slot)` asks for a worker; the answer
// comes later through `receive` as a `started` event (the worker exists; its pid)
// or a `start_failed` event (errno; EAGAIN/ENOMEM are worth retrying later). A
// worker's end (normal exit, stop, crash, kill) is an `exited` event carrying its
// exit code (-signal for a signal, as Process::exitcode) and whether its initializer
// had returned. Results a worker wrote before it ended are delivered before its
// `exited` event.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mp/serialize.hpp"

namespace mp::detail {

class Initializer;  // <mp/detail/pool_core.hpp>

/// A ticket number and its generation (the generation tells a stale result from a fresh one).
struct TicketId {
    std::uint32_t number = 0;
    std::uint32_t generation = 0;
    friend bool operator==(const TicketId&, const TicketId&) = default;
};

/// Something a transport reports (see PoolTransport::receive).
struct TransportEvent {
    enum Kind {
        result,        ///< `ticket` finished: `status` is a ResultHeader kind, `frame` its frame
        init_error,    ///< the worker's initializer threw: `frame` = pair<type name, message>
        started,       ///< a worker for `slot` exists: `pid`
        start_failed,  ///< no worker could be made for `slot`: `error` (an errno), `message`
        exited,        ///< the worker of `slot` ended: `code`, `initialized`
    };
    Kind kind = result;
    std::size_t slot = 0;
    TicketId ticket{};
    std::uint32_t status = 0;
    std::span<const std::byte> frame{};
    pid_t pid = -1;
    int code = 0;
    bool initialized = false;
    int error = 0;
    std::string message{};
    /// result: when the task started and ended in the worker (CLOCK_MONOTONIC ns; 0 if
    /// the transport cannot tell on this machine's clock).
    std::uint64_t started_ns = 0;
    std::uint64_t ended_ns = 0;
};

/// What a worker does besides running tasks (fixed when the transport is made).
struct WorkerConfig {
    /// Runs once in each worker before its first task; may be empty.
    const std::function<void()>* initializer = nullptr;
    /// What `initializer` runs, as the Pool got it (to send it to a fresh image); may be null.
    const Initializer* source = nullptr;
    /// A worker ends after this many tasks (0: never).
    std::size_t maxtasks = 0;
};

/// The scheduler's view of its workers. One object per pool; `slots()` workers at most.
class PoolTransport {
  public:
    using Clock = std::chrono::steady_clock;
    virtual ~PoolTransport() = default;

    /// Worker slots (the pool's size) and ticket numbers the scheduler may use.
    [[nodiscard]] virtual std::size_t slots() const noexcept = 0;
    [[nodiscard]] virtual std::size_t tickets() const noexcept = 0;

    /// Asks for a (new) worker in `slot`, whose previous worker has ended (or never
    /// existed). The outcome arrives as a `started` or `start_failed` event.
    virtual void start(std::size_t slot) = 0;

    /// Whether `slot` accepts a record now (its worker exists, is not stopping, and the
    /// transport is not still busy with the previous record for it).
    [[nodiscard]] virtual bool can_send(std::size_t slot) const noexcept = 0;
    /// Queues one task record for the worker of `slot` (the ticket is already stamped in
    /// its TaskHeader). The bytes are copied (or written) before it returns. `fds` (empty
    /// but for a record marked kTaskWithFds) are the task's handles' fds, borrowed: the
    /// transport gets them to the worker (dups, SCM_RIGHTS) before the worker reads the
    /// record, and the worker's WorkerChannel::task_fds hands them over.
    virtual void send(std::size_t slot, TicketId ticket, std::span<const std::byte> record,
                      std::span<const int> fds) = 0;
    /// Called by submit for a task whose arguments hold handles (before anything is sent);
    /// throws ValueError if its workers cannot use them (MPI: another machine's memory).
    /// `handle_type` names the first handle ("mp::Queue<int>").
    virtual void check_handles(std::string_view handle_type) const { (void)handle_type; }
    /// Ends a round of `send`s: wakes the workers that got tasks, continues records
    /// that did not fit at once. Cheap when there is nothing to do.
    virtual void flush() = 0;
    /// Takes back a task queued in `slot` and not started: true if it will not run there.
    virtual bool revoke(std::size_t slot, TicketId ticket) = 0;
    /// After the worker of `slot` ended: whether it had started `ticket`.
    [[nodiscard]] virtual bool running(std::size_t slot, TicketId ticket) const = 0;

    /// Tells the worker of `slot` to exit once it has done what it holds (pool close).
    /// false if that cannot be said now (try again after the next receive).
    virtual bool stop(std::size_t slot) = 0;
    /// Ends every worker now (SIGTERM, then SIGKILL after `grace`) and waits for them;
    /// no event follows. The transport is then unusable.
    virtual void shutdown(std::chrono::milliseconds grace) noexcept = 0;

    /// Delivers every event ready now, without blocking. Returns how many.
    virtual std::size_t receive(const std::function<void(const TransportEvent&)>& on_event) = 0;
    /// Whether `receive` would deliver something (cheap; for spinning).
    [[nodiscard]] virtual bool pending() const noexcept = 0;
    /// Sleeps until something is ready, `interrupt()` or `deadline` (a spurious return
    /// is allowed). Without the lock; several threads may wait at once.
    virtual void wait(std::optional<Clock::time_point> deadline) = 0;
    /// Makes a current or the next `wait` return. Any thread, lock not needed.
    virtual void interrupt() noexcept = 0;

    // Waiting callers and the pool's thread apart (a transport may leave the defaults,
    // which treat every waiter as `wait` does):
    /// Calls of interrupt() so far; read with the lock, passed to wait_result.
    [[nodiscard]] virtual std::uint64_t interrupts() const noexcept { return 0; }
    /// As `wait`, for a caller waiting for a result (several may at once; it may spin
    /// first): returns when something is ready, an interrupt() after `interrupts` was
    /// read (`seen`), or `deadline`.
    virtual void wait_result(std::optional<Clock::time_point> deadline, std::uint64_t seen) {
        (void)seen;
        wait(deadline);
    }
    /// As `wait`, for the pool's thread while callers collect the results themselves:
    /// results do not end it (interrupt(), a worker's start or end and `deadline` do)
    /// until rearm(). Only one thread waits so at a time.
    virtual void wait_quiet(std::optional<Clock::time_point> deadline) { wait(deadline); }
    /// The last collecting caller left: results end a current wait_quiet from now on.
    virtual void rearm() noexcept {}

    /// Whether the worker of `slot` exists and has not been reported ended.
    [[nodiscard]] virtual bool alive(std::size_t slot) const noexcept = 0;
    /// The worker's process id (-1: none, or not a process of this machine).
    [[nodiscard]] virtual pid_t pid(std::size_t slot) const noexcept = 0;
    /// A name for messages: "ForkPoolWorker-3".
    [[nodiscard]] virtual std::string name(std::size_t slot) const = 0;
};

/// Makes the transport of a pool whose workers are not this machine's processes
/// (PoolOptions::transport; mp::mpi's ranks). `processes` is PoolOptions::processes as
/// given (0: as many as the transport has); the pool's size is then the transport's slots().
class TransportFactory {
  public:
    virtual ~TransportFactory() = default;
    [[nodiscard]] virtual std::unique_ptr<PoolTransport> make(int processes,
                                                              WorkerConfig config) const = 0;
};

/// Contexts whose Pools are not this machine's processes ("mpi"): filled by their init
/// (mp::mpi::init), looked up by get_context and the Pool (src/context.cpp).
void register_pool_context(const std::string& name,
                           std::shared_ptr<const TransportFactory> factory);
/// The factory of a registered context; nullptr for "fork"/"forkserver"/"spawn" or unknown.
std::shared_ptr<const TransportFactory> pool_context_transport(const std::string& name);

enum class StartMethod;

/// The shared-memory transport (src/pool_transport_shm.cpp). Makes its zygote now: a
/// fork of this process under `fork`; under `forkserver`/`spawn` a fresh image started
/// through the launch seam (popen.hpp), which gets the region, the eventfd and the
/// socket as fds — then the initializer must be sendable (`config.source`).
std::unique_ptr<PoolTransport> make_shm_transport(std::size_t workers, WorkerConfig config,
                                                  StartMethod method);
/// The thread transport (src/pool_transport_threads.cpp): workers are threads (mp::ThreadPool).
std::unique_ptr<PoolTransport> make_thread_transport(std::size_t workers, WorkerConfig config);

// ---- the worker side ---------------------------------------------------------------------

/// What the worker loop needs from a transport, in the worker.
class WorkerChannel {
  public:
    virtual ~WorkerChannel() = default;
    /// The next record for this worker (blocking); false: the pool is gone, stop.
    virtual bool next(Bytes& record) = 0;
    /// queued → running for the task of `ticket`; false: it was revoked, skip it.
    virtual bool claim(TicketId ticket) = 0;
    /// For a record marked kTaskWithFds (before its claim): the fds that came beside it,
    /// appended to `fds` (owned by the caller). False if they did not come (the task then
    /// fails); a transport that is never sent fds keeps this default.
    virtual bool task_fds(TicketId ticket, std::vector<int>& fds) {
        (void)ticket;
        (void)fds;
        return false;
    }
    /// Sends one result record ([u64 length][ResultHeader][frame]); false: the pool is gone.
    virtual bool reply(const Bytes& record) = 0;
    /// The initializer is about to run / has returned (for the `initialized` flag).
    virtual void initializing() = 0;
    virtual void initialized() = 0;
};

/// The worker loop, for every transport: runs the initializer, then claims and runs
/// tasks until a stop record, `maxtasks`, or the channel says the pool is gone.
/// Returns the worker's exit code.
int serve_tasks(WorkerChannel& channel, const WorkerConfig& config);

}  // namespace mp::detail
