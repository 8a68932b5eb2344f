// mp/pool.hpp — Pool and AsyncResult (Python: multiprocessing.pool).
//
//     int square(int x) { return x * x; }
//
//     mp::Pool pool(4);                                        // with Pool(4) as pool:
//     std::vector<int> sq = pool.map(square, std::vector{1, 2, 3, 4});   // {1, 4, 9, 16}
//     mp::AsyncResult<int> r = pool.apply_async(square, 7);
//     int v = r.get(1s);                                       // 49, or mp::TimeoutError
//     for (int x : pool.imap_unordered(square, items)) …       // as results arrive
//     auto it = pool.imap(square, std::views::iota(0));        // lazy: read as workers need
//     std::optional<int> first = it.next(1s);                  // nullopt at the end
//
// What a task may be: a function, a captureless lambda, or a trivially copyable
// function object; arguments and results cross through <mp/serialize.hpp>, of any
// serializable type (bool, user types; a void function gives std::monostate per item
// in map/imap and nothing in apply). Anything else (a lambda capturing a std::string,
// a std::function) is a compile error: pass the data as arguments, or use
// mp::ThreadPool (<mp/thread_pool.hpp>), where any callable works. Capturing
// *pointers* compiles but only addresses inherited by fork mean something in a worker.
// How a callable is named without registration: see <mp/detail/task.hpp>.
//
// How work advances: by itself, as with Python's handler threads. Each pool has one
// background thread that collects results, runs callbacks (`then`: on that thread,
// one at a time), hands queued tasks to workers, moves tasks from a busy worker to an
// idle one, and replaces workers that died or did their maxtasksperchild. A caller
// waiting in get()/map()/imap collects results itself: it polls for a few µs, then
// sleeps where each result wakes it directly; while such a caller waits, results do
// not wake the pool's thread, so a round trip needs no thread hop. Every sleep, in
// workers and in the parent, is the one park protocol of <mp/detail/park.hpp>.
//
// How workers are made: by a *zygote*, a process the Pool makes when it is made,
// before it starts its thread. The zygote runs no thread and does one thing: fork a
// worker when asked (the first ones, replacements). How the zygote itself is made is
// the pool's start method (PoolOptions::context, ctx.Pool(n); default get_start_method()):
//  * "fork": a fork of a *keeper*, itself a fork of the parent made with the Pool,
//    before its thread, which does nothing but fork zygotes (the first, and a new one
//    whenever one was killed). Workers — also those of a replacement zygote — see the
//    program as it was when the Pool was made, as with Python's fork method (globals,
//    handles created before the Pool, the initializer and its arguments — which may be
//    any callable, captures included);
//  * "forkserver" / "spawn": a child of the fork server / a fresh exec of the program
//    (<mp/context.hpp>), which receives the pool's shared region, eventfd and socket as
//    fds. Workers see only what a fresh image has (static initializers) plus what the
//    initializer and the tasks bring: the initializer must be sendable (a function or a
//    captureless lambda, arguments serializable values or mp handles — Value, Queue, …
//    reach every worker), else the constructor throws ValueError naming the fix.
// Either way no worker is forked from a process running the pool's thread, which is
// what fork cannot do safely. Why not fork from the parent: the background thread
// would make every such fork unsafe (a lock held by it at the fork stays held forever
// in the child). Why not a thread-free parent (the pool advancing only inside pool
// calls): callbacks and queued work would stall while the caller sleeps. The zygote
// costs one process per pool (two under "fork": the keeper) and one socket message per
// replacement. A zygote that is killed takes its workers with it (their tasks fail with
// WorkerLost); the next worker needed makes a new zygote the same way. Under "fork" a
// killed keeper cannot be replaced (nothing else holds the program as it was): its
// zygote serves on, and once that one is killed too the pool fails its tasks with an
// OSError saying so (make a new Pool).
//
// Handles as task arguments: any mp handle (Queue, Lock, Value, SharedMemory,
// Connection, …) may be an argument of apply/apply_async/submit, or sit in map/starmap
// items (alone, or in a std::tuple/std::pair/std::vector) and imap/imap_unordered items
// (each chunk takes its copies when the lookahead reads it), under every start method and
// on the ThreadPool.
// How its fds reach a worker that did not inherit them: when the task is submitted it
// takes its own copies (dups) of its handles' fds — the caller may drop its handles at
// once — and its record is marked "fds follow" (detail/reduction.hpp's TaskFds). When the
// pool gives the task to a worker, it first sends the fds with SCM_RIGHTS on that
// worker's own Unix socket (made by the zygote with the worker, the parent's end handed
// over in the "started" message), tagged with the task's ticket, then writes the record
// into the worker's ring. The worker, reading a marked record, receives the fds before
// it decodes the task, rebuilds the handles from them, and closes them all when the task
// returns (before its result goes), so a worker holds no fd of a finished task. The
// parent keeps its copies until the task is done — succeeded, failed, lost with a dead
// worker, cancelled, or ended with the pool — because a task taken back from a busy
// worker or left unstarted by a dead one is sent again, fds and all; a dead worker's
// socket is closed with it (what was in flight there goes with it). If a worker's socket
// is full, the task waits in the parent (never blocking the pool's thread) until the
// worker has read more. Tasks without handles take none of this path. One fd named by
// several items of a map chunk travels once. Over MPI a handle argument → ValueError
// before anything is sent (another machine cannot map this one's memory).
//
// Safe to fork afterwards: the pool's thread only ever holds the pool's own mutex
// (glibc makes malloc and stdio fork-safe); a child forked later from the parent
// (mp::Process) inherits the Pool object but never uses it — its destructor sees it
// is not in the process that made it and does nothing.
//
// Transport: one shared-memory region; per worker an inbox and an outbox, each a
// single-producer single-consumer byte ring of length-prefixed records. The parent
// gives each task to the worker with the fewest queued (at most 1024 each, the rest
// wait in the parent); a map is cut into chunks (Python's automatic chunksize). Each
// queued task holds a ticket in a shared table: a worker runs it only after a CAS
// "queued" → "running"; the parent takes unstarted tasks back ("revoked") for an idle
// worker, and after a death the table says which task the worker was running.
// Sleeping workers and waiting callers are woken by futex, the pool's thread by an
// eventfd (it also watches the zygote's pidfd). The scheduler
// reaches the workers through an internal transport interface (src/pool_transport.hpp);
// threads (mp::ThreadPool) and MPI ranks are other implementations of it.
//
// Failures: a task that throws makes get()/map() throw mp::RemoteError (the original
// type's demangled name and message); the pool goes on. A worker that dies at any
// moment — before its first task, between tasks, in the middle of one — fails only
// the task it was running, with mp::WorkerLost (its exit code); its unstarted tasks go
// to other workers; a replacement is made, retried with backoff if fork fails (EAGAIN,
// ENOMEM: tasks wait, callers' timeouts hold). Only an initializer that fails — throws
// or kills its worker — 3 times in a row makes tasks fail (RemoteError / WorkerLost
// saying so) instead of respawning forever. Workers exit at once if the parent dies
// (SIGKILL included): the zygote watches the parent and kills them.
//
// Lifetime: the destructor terminates the workers and reaps them (Python's
// `with Pool() as pool:`); results still pending then throw mp::WorkerLost. No
// zombie, fd or mapping is left. AsyncResults and imap ranges may outlive the Pool.
//
// Thread safety: a Pool and its AsyncResults may be used from several threads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/context.hpp"
#include "mp/detail/pool_core.hpp"
#include "mp/errors.hpp"
#include "mp/serialize.hpp"

namespace mp {

template <class R>
class AsyncResult;
template <class V>
class IMapRange;
namespace detail {
class TransportFactory;  // src/pool_transport.hpp
}

/// Pool(processes=, initializer=, maxtasksperchild=, context=). Designated initializers
/// work: `mp::PoolOptions{.processes = 4, .maxtasksperchild = 100, .context = ctx}`.
struct PoolOptions {
    /// Number of workers; 0 means cpu_count() (for "mpi": every worker rank). Negative →
    /// ValueError.
    int processes = 0;
    /// Runs once in each worker before its first task. Under "fork" any callable (the
    /// workers inherit it: it may capture handles); under "forkserver"/"spawn" it must be
    /// sendable (see detail::Initializer), else the constructor throws ValueError.
    detail::Initializer initializer = {};
    /// A worker is replaced after this many tasks (a map chunk counts as one); 0: never.
    std::size_t maxtasksperchild = 0;
    /// The start method of the workers (<mp/context.hpp>); empty: get_start_method().
    std::optional<Context> context = std::nullopt;
    /// Internal: where the workers are when they are not this machine's processes (set
    /// from the context, e.g. "mpi"; or by mp::mpi::pool_options()). Not set by hand.
    std::shared_ptr<const detail::TransportFactory> transport = {};
};

class Pool {
  public:
    /// Pool(): cpu_count() workers.
    Pool() : Pool(PoolOptions{}) {}
    /// Pool(processes=n). ValueError if n < 1.
    explicit Pool(int processes);
    /// Pool(n, initializer=init, initargs=(args...)): init(args...) runs once in each worker.
    template <class Init, class... InitArgs>
    requires std::invocable < std::decay_t<Init>
    &, std::decay_t<InitArgs>&... > Pool(int processes, Init&& initializer, InitArgs&&... initargs);
    /// Pool(processes=, initializer=, maxtasksperchild=, context=).
    explicit Pool(PoolOptions options);
    /// Pool(context=ctx): the context's default size (cpu_count(); "mpi": one worker per
    /// other rank) with its start method. As ctx.Pool().
    explicit Pool(const Context& ctx);

    Pool(Pool&&) noexcept = default;
    /// Terminates the pool this object held, then takes `other`'s.
    Pool& operator=(Pool&& other) noexcept;
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    /// terminate() and reap the workers (Python's `with Pool() as pool:` on exit).
    ~Pool();

    /// apply(f, args...): runs f(args...) in a worker and returns its result.
    template <class F, class... Args>
    detail::apply_result_t<F, Args...> apply(F&& f, Args&&... args) {
        return apply_async(std::forward<F>(f), std::forward<Args>(args)...).get();
    }
    /// apply_async(f, args...): submits f(args...); the result arrives in the AsyncResult.
    template <class F, class... Args>
    AsyncResult<detail::apply_result_t<F, Args...>> apply_async(F&& f, Args&&... args);

    /// map(f, items[, chunksize]): f over every item, results in order (a void f:
    /// std::monostate each). chunksize 0 picks ceil(len / (4·processes)) as Python does.
    /// The first failing item's error is thrown.
    template <class F, std::ranges::input_range Range>
    auto map(F&& f, Range&& items, std::size_t chunksize = 0) {
        return map_async(std::forward<F>(f), std::forward<Range>(items), chunksize).get();
    }
    template <class F, class T>
    auto map(F&& f, std::initializer_list<T> items, std::size_t chunksize = 0) {
        return map(std::forward<F>(f), std::vector<T>(items), chunksize);
    }
    template <class F, std::ranges::input_range Range>
    auto map_async(F&& f, Range&& items, std::size_t chunksize = 0);
    template <class F, class T>
    auto map_async(F&& f, std::initializer_list<T> items, std::size_t chunksize = 0) {
        return map_async(std::forward<F>(f), std::vector<T>(items), chunksize);
    }

    /// starmap(f, tuples[, chunksize]): f(a, b, …) for each tuple (or pair) (a, b, …).
    template <class F, std::ranges::input_range Range>
    auto starmap(F&& f, Range&& items, std::size_t chunksize = 0) {
        return starmap_async(std::forward<F>(f), std::forward<Range>(items), chunksize).get();
    }
    template <class F, std::ranges::input_range Range>
    auto starmap_async(F&& f, Range&& items, std::size_t chunksize = 0);

    /// imap(f, items[, chunksize=1]): results in order, each as soon as it (and those
    /// before it) arrived. Lazy: items are read as workers need them (a bounded
    /// look-ahead), so infinite ranges work; an lvalue range must outlive the iteration.
    /// An exception while reading the input is thrown at its place in the results.
    template <class F, std::ranges::input_range Range>
    auto imap(F&& f, Range&& items, std::size_t chunksize = 1) {
        return imap_impl(std::forward<F>(f), std::forward<Range>(items), chunksize, true);
    }
    /// imap_unordered: as imap, but in the order the results arrive.
    template <class F, std::ranges::input_range Range>
    auto imap_unordered(F&& f, Range&& items, std::size_t chunksize = 1) {
        return imap_impl(std::forward<F>(f), std::forward<Range>(items), chunksize, false);
    }

    /// No more tasks may be submitted (ValueError); the workers exit once the queued work is done.
    void close();
    /// Waits for the queued work and the workers' exit. ValueError unless close() or
    /// terminate() came first (as Python).
    void join();
    /// Stops the workers now (SIGTERM, SIGKILL after 1 s) and reaps them; pending results
    /// throw mp::WorkerLost. Idempotent.
    void terminate();

    /// The number of workers (Python's pool._processes).
    [[nodiscard]] std::size_t processes() const;
    /// The pids of the current workers (for tests and diagnostics).
    [[nodiscard]] std::vector<pid_t> worker_pids() const;

  private:
    friend class ThreadPool;
    explicit Pool(std::shared_ptr<detail::PoolCore> core) : core_(std::move(core)) {}
    template <class R, bool Star, class Fn, class Range>
    auto map_impl(const Fn& fn, Range&& items, std::size_t chunksize);
    template <class F, class Range>
    auto imap_impl(F&& f, Range&& items, std::size_t chunksize, bool ordered);
    static PoolOptions with_initializer(int processes, detail::Initializer initializer);
    detail::PoolCore& core() const;

    std::shared_ptr<detail::PoolCore> core_;
};

/// The result of apply_async/map_async (Python's AsyncResult / ApplyResult). R may be void.
template <class R>
class AsyncResult {
  public:
    using clock = std::chrono::steady_clock;
    using Value = detail::stored_t<R>;

    /// Waits for the result and returns it; rethrows the task's RemoteError/WorkerLost.
    R get() & {
        wait();
        return result();
    }
    /// On a temporary (`pool.map_async(...).get()`) that is the last handle to its
    /// result, the value is moved out rather than copied.
    R get() && {
        wait();
        if constexpr (!std::is_void_v<R>) {
            if (!state_->error && state_.use_count() == 1) return std::move(*state_->value);
        }
        return result();
    }
    /// As get(), but throws mp::TimeoutError if the result is not ready within `timeout`.
    template <class Rep, class Period>
    R get(std::chrono::duration<Rep, Period> timeout) {
        if (!wait(timeout))
            throw TimeoutError("AsyncResult.get: the result was not ready within the timeout");
        return result();
    }
    /// Blocks until the result is ready (a value or an error).
    void wait() { drive(std::nullopt); }
    /// Waits at most `timeout`; true once the result is ready.
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        return drive(clock::now() + std::chrono::ceil<clock::duration>(timeout));
    }
    /// True once the result is ready.
    [[nodiscard]] bool ready() { return state_->done.load(std::memory_order_acquire); }
    /// Whether the task succeeded; ValueError if it is not ready yet (as Python).
    [[nodiscard]] bool successful() {
        if (!ready()) throw ValueError("AsyncResult.successful: the result is not ready yet");
        return !state_->error;
    }

    /// Python's callback= / error_callback=: `callback(value)` or `error_callback(e)`
    /// (e is the RemoteError or WorkerLost) runs once, on the pool's thread when the
    /// result arrives (one callback at a time, even if this AsyncResult was dropped) —
    /// or now, in this thread, if it is already there. An exception a callback throws
    /// is reported on stderr. Returns *this for chaining.
    template <class Cb, class ErrCb = std::nullptr_t>
    AsyncResult& then(Cb callback, ErrCb error_callback = nullptr);

  private:
    friend class Pool;
    AsyncResult(std::shared_ptr<detail::ResultStateBase<R>> s, std::shared_ptr<detail::PoolCore> c)
        : state_(std::move(s)), core_(std::move(c)) {}

    bool drive(std::optional<clock::time_point> deadline) {
        auto* st = state_.get();
        return detail::PoolCoreHandle::drive_until(
            *core_, [st] { return st->done.load(std::memory_order_acquire); }, deadline);
    }
    R result() {
        if (state_->error) std::rethrow_exception(state_->error);
        if constexpr (!std::is_void_v<R>) return *state_->value;
    }

    std::shared_ptr<detail::ResultStateBase<R>> state_;
    std::shared_ptr<detail::PoolCore> core_;
};

/// What imap / imap_unordered return: an input range of V (a void function:
/// std::monostate), read with range-for or next(). A failed task's item throws its
/// RemoteError/WorkerLost when reached (dereferenced / returned by next()).
template <class V>
class IMapRange {
  public:
    /// The next result: waits for it; nullopt once every item was returned. Throws the
    /// task's error (or the input's) at its item; the iteration may go on after it.
    std::optional<V> next() { return next_until(std::nullopt); }
    /// As next(), but mp::TimeoutError if no result arrives within `timeout`.
    template <class Rep, class Period>
    std::optional<V> next(std::chrono::duration<Rep, Period> timeout) {
        return next_until(std::chrono::steady_clock::now() +
                          std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
    }

    class iterator {
      public:
        using iterator_category = std::input_iterator_tag;
        using iterator_concept = std::input_iterator_tag;
        using value_type = V;
        using difference_type = std::ptrdiff_t;
        using reference = V;

        iterator() = default;
        /// The current result; throws the task's error.
        V operator*() const {
            if (error_) std::rethrow_exception(error_);
            return *value_;
        }
        iterator& operator++() {
            step();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) {
            return it.range_ == nullptr;
        }

      private:
        friend class IMapRange;
        void step() {
            error_ = nullptr;
            try {
                value_ = range_->next();
                if (!value_) range_ = nullptr;
            } catch (...) {
                error_ = std::current_exception();
            }
        }
        IMapRange* range_ = nullptr;
        std::optional<V> value_;
        std::exception_ptr error_;
    };

    iterator begin() {
        iterator it;
        it.range_ = this;
        it.step();
        return it;
    }
    std::default_sentinel_t end() const noexcept { return {}; }

  private:
    friend class Pool;
    using Feed = std::function<std::optional<detail::TaskBatch>()>;
    IMapRange(std::shared_ptr<detail::IMapState<V>> s, std::shared_ptr<detail::PoolCore> c,
              Feed feed, std::size_t lookahead, bool ordered)
        : state_(std::move(s)),
          core_(std::move(c)),
          feed_(std::move(feed)),
          lookahead_(lookahead),
          ordered_(ordered) {}

    std::optional<V> next_until(std::optional<std::chrono::steady_clock::time_point> deadline);
    void top_up();

    std::shared_ptr<detail::IMapState<V>> state_;
    std::shared_ptr<detail::PoolCore> core_;
    Feed feed_;
    std::size_t lookahead_;
    bool ordered_;
    std::size_t submitted_ = 0;  // chunks submitted
    std::size_t consumed_ = 0;   // chunks taken out of the state
    bool input_done_ = false;
    std::exception_ptr input_error_;
    std::vector<V> current_;  // the chunk being returned
    std::size_t offset_ = 0;
    std::string_view fn_type_;
};

}  // namespace mp

#include "mp/detail/pool_impl.hpp"
