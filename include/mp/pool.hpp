// mp/pool.hpp — Pool and AsyncResult (Python: multiprocessing.pool).
//
//     int square(int x) { return x * x; }
//
//     mp::Pool pool(4);                                        // with Pool(4) as pool:
//     std::vector<int> sq = pool.map(square, std::vector{1, 2, 3, 4});   // {1, 4, 9, 16}
//     mp::AsyncResult<int> r = pool.apply_async(square, 7);
//     int v = r.get(1s);                                       // 49, or mp::TimeoutError
//     for (int x : pool.imap_unordered(square, items)) …       // as results arrive
//
// What a task may be: a function, a captureless lambda, or a trivially copyable
// function object. Arguments and results cross through <mp/serialize.hpp>.
// Anything else (a lambda capturing a std::string, a std::function, std::bind) is a
// compile error: pass the data as arguments instead. Capturing *pointers* compiles
// (they are trivially copyable) but, as in any process boundary, only addresses of
// memory inherited by fork (globals, data created before the Pool) mean something
// in a worker.
//
// How a callable is named (no registration): for each (function object type,
// argument types) the header instantiates a trampoline function that decodes the
// arguments, calls the function and encodes the result. A task carries the
// trampoline's *position in its module* (hash of the module's name + offset from its
// load address, found with dl_iterate_phdr, as Rust's procspawn does), then the
// function object's bytes (a plain function: its own module + offset). Nothing in
// a task is an absolute address, so a worker that did not fork from this process
// (a fork server, an MPI rank of the same binary) resolves it just as well.
//
// Workers are persistent, forked when the Pool is made (and replacements later).
// The initializer runs once in each worker and what it sets (globals, inherited
// mp::Value handles) stays for every task that worker runs. The initializer and its
// arguments reach the workers by fork inheritance, like a Process target, so they
// may be handles (mp::Value, mp::Queue, mp::Lock) that cannot be serialized.
//
// Transport: one shared-memory region made before the workers; per worker an
// inbox and an outbox, each a single-producer single-consumer byte ring carrying
// length-prefixed records (larger records stream through). The parent gives each
// task to the worker with the fewest queued (at most 1024 each, the rest wait in the
// parent); a map is cut into chunks (Python's automatic chunksize). Each queued task
// holds a ticket in a shared table: a worker runs it only after a CAS from "queued" to
// "running", and the parent takes not yet started tasks back from a busy worker's inbox
// for an idle one ("queued" → "revoked"), so a long task does not hold up the tasks
// queued behind it; the same table says, after a worker died, which task it was
// running. A worker that finds its inbox empty polls it for ~50 µs (yielding the CPU)
// and then sleeps on a futex; the parent wakes it only if it sleeps, so a burst of
// apply_async costs no system call per task. The thread waiting for results polls the
// outboxes for ~50 µs too, then sleeps in poll() on an eventfd (written by a worker only
// when the parent said it sleeps) and on the workers' pidfds, so a dying worker wakes
// it at once.
//
// Fork safety — the parent keeps no thread: mp starts no thread in the process
// that forks (the rule of <mp/process.hpp>). There is no result-handler thread;
// results are collected, dead workers replaced and completion callbacks run by the
// thread that calls into the pool: get/wait/ready, map, imap iteration, join, and
// each submission. Replacement workers are therefore forked from a process in which
// mp runs no thread (if *your* program runs threads, the caveat of Process applies).
// Why not a single-threaded spawner process with result threads in the parent: it
// costs a process and a hop per replacement, and threads in the parent would make
// every later fork of the program (Process, another Pool) unsafe. The price: the
// pool advances only while a thread is inside a pool call. Tasks already in the
// workers' inboxes (up to 1024 each, i.e. all of them in most programs) run in the
// background regardless; tasks beyond that, work stealing, replacing a dead worker and
// callbacks wait for the next call (get, wait, ready, join, a submission). Callbacks
// therefore run inside such calls, in the calling thread, never behind your back.
//
// Failures: a task that throws makes get()/map() throw mp::RemoteError (the
// original type's demangled name and message); the pool goes on. A worker that
// dies (signal, _exit, OOM kill) makes the task it was running throw mp::WorkerLost
// (with its exit code) as soon as someone waits on the pool; the tasks it had not
// started go to other workers; a replacement is forked. An initializer that throws
// or kills its worker makes every task fail (RemoteError / WorkerLost) instead of
// respawning forever. Workers exit (within a second) if the parent dies.
//
// Lifetime: the destructor terminates the workers and reaps them (Python's
// `with Pool() as pool:`); results still pending then throw mp::WorkerLost. No
// zombie, fd or mapping is left. AsyncResults and imap ranges may outlive the Pool.
//
// Thread safety: a Pool and its AsyncResults may be used from several threads; one
// thread at a time sleeps in the kernel for the pool, the others wait for it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "mp/detail/task.hpp"
#include "mp/errors.hpp"
#include "mp/serialize.hpp"

namespace mp {

/// Pool(processes=, initializer=, maxtasksperchild=). Designated initializers work:
/// `mp::PoolOptions{.processes = 4, .maxtasksperchild = 100}`.
struct PoolOptions {
    /// Number of workers; 0 means cpu_count(). Negative → ValueError.
    int processes = 0;
    /// Runs once in each worker before its first task (inherited by fork: may capture handles).
    std::function<void()> initializer = {};
    /// A worker is replaced after this many tasks (a map chunk counts as one); 0: never.
    std::size_t maxtasksperchild = 0;
};

namespace detail {

using PoolClock = std::chrono::steady_clock;

/// Builds a task record: [u64 length][TaskHeader][callable bytes][args frame].
Bytes begin_task_record(const CodeRef& trampoline);
void end_task_record(Bytes& record, std::size_t callable_size);

template <Trampoline T, class Fn, class EncodeArgs>
Bytes make_task_record(const Fn& f, EncodeArgs&& encode_args_into) {
    Bytes rec = begin_task_record(trampoline_ref<T>());
    std::size_t before = rec.size();
    encode_callable(f, rec);
    std::size_t callable_size = rec.size() - before;
    encode_args_into(rec);
    end_task_record(rec, callable_size);
    return rec;
}

/// Where the results of tasks go. All calls happen under the pool's lock.
class TaskSink {
  public:
    virtual ~TaskSink() = default;
    /// Task `index` returned the result encoded in `frame`. Returns a callback to
    /// run once the lock is released (empty if none).
    virtual std::function<void()> on_result(std::size_t index,
                                            std::span<const std::byte> frame) = 0;
    /// Task `index` failed (RemoteError, WorkerLost, …).
    virtual std::function<void()> on_error(std::size_t index, std::exception_ptr error) = 0;
};

class PoolCore;

/// The non-template face of the pool core (defined in src/pool.cpp).
struct PoolCoreHandle {
    static std::shared_ptr<PoolCore> create(PoolOptions options);
    static void submit(PoolCore& core, std::vector<Bytes> records,
                       const std::shared_ptr<TaskSink>& sink);
    /// Drives the pool until done() (called under the lock) is true or the deadline passes.
    static bool drive_until(PoolCore& core, const std::function<bool()>& done,
                            std::optional<PoolClock::time_point> deadline);
    static std::unique_lock<std::mutex> lock(PoolCore& core);
    static void close(PoolCore& core);
    static void join(PoolCore& core);
    static void terminate(PoolCore& core);
    static std::size_t processes(const PoolCore& core) noexcept;
    static std::vector<pid_t> worker_pids(PoolCore& core);
};

/// Runs a user callback; an exception it throws is reported on stderr (it has no caller).
void run_callback(const std::function<void()>& cb) noexcept;

/// Decodes a task's result frame.
template <class R>
R decode_result(std::span<const std::byte> frame) {
    return deserialize<R>(frame);
}

/// One result: an AsyncResult's shared state (how the result is decoded is the subclass's).
template <class R>
struct ResultStateBase : TaskSink {
    using Value = stored_t<R>;
    bool done = false;
    std::optional<Value> value;
    std::exception_ptr error;
    std::vector<std::function<void(const Value&)>> callbacks;
    std::vector<std::function<void(const Error&)>> error_callbacks;

    std::function<void()> finish() {
        if (callbacks.empty() && error_callbacks.empty()) return {};
        return [cbs = std::move(callbacks), ecbs = std::move(error_callbacks), this_value = value,
                err = error]() {
            if (err) {
                try {
                    std::rethrow_exception(err);
                } catch (const Error& e) {
                    for (auto& cb : ecbs) run_callback([&] { cb(e); });
                } catch (...) {
                }
            } else {
                for (auto& cb : cbs) run_callback([&] { cb(*this_value); });
            }
        };
    }
    std::function<void()> set_value(Value v) {
        if (done) return {};
        value.emplace(std::move(v));
        done = true;
        return finish();
    }
    std::function<void()> on_error(std::size_t, std::exception_ptr e) override {
        if (done) return {};
        error = std::move(e);
        done = true;
        return finish();
    }
};

/// apply_async: one result frame.
template <class R>
struct ResultState : ResultStateBase<R> {
    std::function<void()> on_result(std::size_t, std::span<const std::byte> frame) override {
        if (this->done) return {};
        try {
            return this->set_value(decode_result<typename ResultStateBase<R>::Value>(frame));
        } catch (...) {
            return this->on_error(0, std::current_exception());
        }
    }
};

/// map_async: chunks of results joined into one vector when the last arrives.
template <class R>
struct MapState : ResultStateBase<std::vector<R>> {
    std::vector<std::vector<R>> chunks;
    std::size_t left = 0;

    explicit MapState(std::size_t n_chunks) : chunks(n_chunks), left(n_chunks) {}
    std::function<void()> on_result(std::size_t index, std::span<const std::byte> frame) override {
        if (this->done) return {};
        try {
            chunks[index] = decode_chunk<R>(frame);
        } catch (...) {
            return this->on_error(index, std::current_exception());
        }
        if (--left != 0) return {};
        std::size_t total = 0;
        for (auto& c : chunks) total += c.size();
        std::vector<R> all;
        all.reserve(total);
        for (auto& c : chunks) {
            std::move(c.begin(), c.end(), std::back_inserter(all));
            c = std::vector<R>();
        }
        return this->set_value(std::move(all));
    }
};

/// imap / imap_unordered: chunks kept until the iterator reaches them.
template <class R>
struct IMapState : TaskSink {
    struct Chunk {
        bool done = false;
        std::vector<R> values;
        std::exception_ptr error;
    };
    std::vector<Chunk> chunks;
    std::vector<std::size_t> completion_order;  // for imap_unordered

    explicit IMapState(std::size_t n_chunks) : chunks(n_chunks) {}
    std::function<void()> on_result(std::size_t index, std::span<const std::byte> frame) override {
        try {
            chunks[index].values = decode_chunk<R>(frame);
        } catch (...) {
            return on_error(index, std::current_exception());
        }
        chunks[index].done = true;
        completion_order.push_back(index);
        return {};
    }
    std::function<void()> on_error(std::size_t index, std::exception_ptr e) override {
        chunks[index].error = std::move(e);
        chunks[index].done = true;
        completion_order.push_back(index);
        return {};
    }
};

template <class F, class... Args>
using apply_result_t = std::decay_t<std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&...>>;

template <class F, class Arg>
using map_result_t = std::decay_t<std::invoke_result_t<std::decay_t<F>&, Arg&>>;

/// The types of map/imap(f, items), checked with readable messages.
template <class F, class Range>
struct MapTypes {
    using Fn = std::decay_t<F>;
    MP_REQUIRE_POOL_CALLABLE(Fn);
    using Arg = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
    static_assert(std::is_invocable_v<Fn&, Arg&>,
                  "mp::Pool::map/imap: f cannot be called with an item of the range");
    using R = map_result_t<F, Arg>;
    static_assert(!std::is_void_v<R>,
                  "mp::Pool::map/imap: f must return a value (use apply_async for void functions)");
};

template <class F, class Tuple>
using starmap_result_t =
    std::decay_t<decltype(std::apply(std::declval<std::decay_t<F>&>(), std::declval<Tuple&>()))>;

}  // namespace detail

/// The result of apply_async/map_async (Python's AsyncResult / ApplyResult).
/// Waiting on it drives the pool (see the header essay). R may be void.
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
    /// True once the task finished (either way). Never blocks.
    [[nodiscard]] bool ready() { return drive(clock::now()); }
    /// True if the task returned normally; ValueError if it is not ready yet (as Python).
    [[nodiscard]] bool successful() {
        if (!ready()) throw ValueError("AsyncResult.successful: the result is not ready yet");
        return !state_->error;
    }

    /// Python's callback= / error_callback=: `callback(value)` or `error_callback(e)`
    /// (e is the RemoteError or WorkerLost) runs once, in the thread that drives the
    /// pool when the result arrives — or now if it is already there. An exception a
    /// callback throws is reported on stderr. Returns *this for chaining.
    template <class Cb, class ErrCb = std::nullptr_t>
    AsyncResult& then(Cb callback, ErrCb error_callback = nullptr) {
        std::function<void()> now;
        {
            auto lk = detail::PoolCoreHandle::lock(*core_);
            if constexpr (!std::is_same_v<Cb, std::nullptr_t>) {
                if constexpr (std::is_void_v<R>) {
                    state_->callbacks.emplace_back(
                        [cb = std::move(callback)](const Value&) { cb(); });
                } else {
                    state_->callbacks.emplace_back(std::move(callback));
                }
            }
            if constexpr (!std::is_same_v<ErrCb, std::nullptr_t>) {
                state_->error_callbacks.emplace_back(std::move(error_callback));
            }
            if (state_->done) now = state_->finish();
        }
        if (now) now();
        return *this;
    }

  private:
    template <class>
    friend class AsyncResult;
    friend class Pool;
    AsyncResult(std::shared_ptr<detail::ResultStateBase<R>> s, std::shared_ptr<detail::PoolCore> c)
        : state_(std::move(s)), core_(std::move(c)) {}

    bool drive(std::optional<clock::time_point> deadline) {
        auto* st = state_.get();
        return detail::PoolCoreHandle::drive_until(
            *core_, [st] { return st->done; }, deadline);
    }
    R result() {
        if (state_->error) std::rethrow_exception(state_->error);
        if constexpr (!std::is_void_v<R>) return *state_->value;
    }

    std::shared_ptr<detail::ResultStateBase<R>> state_;
    std::shared_ptr<detail::PoolCore> core_;
};

/// What imap / imap_unordered return: an input range whose iterator waits for each
/// result. Dereferencing a result whose task failed throws its RemoteError/WorkerLost.
template <class R>
class IMapRange {
  public:
    class iterator {
      public:
        using iterator_category = std::input_iterator_tag;
        using iterator_concept = std::input_iterator_tag;
        using value_type = R;
        using difference_type = std::ptrdiff_t;
        using reference = R;

        iterator() = default;
        /// The current result (moved out on first access); throws the task's error.
        R operator*() const {
            auto& c = range_->state_->chunks[chunk_];
            if (c.error) std::rethrow_exception(c.error);
            return c.values[offset_];
        }
        iterator& operator++() {
            range_->advance(*this);
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) {
            return it.range_ == nullptr;
        }

      private:
        friend class IMapRange;
        IMapRange* range_ = nullptr;
        std::size_t taken_ = 0;   // chunks finished by this iterator
        std::size_t chunk_ = 0;   // the chunk it points into
        std::size_t offset_ = 0;  // the item in that chunk
    };

    iterator begin() {
        iterator it;
        it.range_ = this;
        it.taken_ = 0;
        settle(it);
        return it;
    }
    std::default_sentinel_t end() const noexcept { return {}; }

  private:
    friend class Pool;
    IMapRange(std::shared_ptr<detail::IMapState<R>> s, std::shared_ptr<detail::PoolCore> c,
              bool ordered)
        : state_(std::move(s)), core_(std::move(c)), ordered_(ordered) {}

    // Waits until the chunk the iterator needs is done; skips empty chunks; ends the range.
    void settle(iterator& it) {
        for (;;) {
            if (it.taken_ >= state_->chunks.size()) {
                it.range_ = nullptr;
                return;
            }
            auto* st = state_.get();
            std::size_t k = it.taken_;
            bool ordered = ordered_;
            detail::PoolCoreHandle::drive_until(
                *core_,
                [st, k, ordered] {
                    return ordered ? st->chunks[k].done : st->completion_order.size() > k;
                },
                std::nullopt);
            std::size_t chunk;
            {
                auto lk = detail::PoolCoreHandle::lock(*core_);
                chunk = ordered_ ? k : state_->completion_order[k];
            }
            auto& c = state_->chunks[chunk];
            if (c.error || !c.values.empty()) {
                it.chunk_ = chunk;
                it.offset_ = 0;
                return;
            }
            ++it.taken_;  // an empty chunk
        }
    }
    void advance(iterator& it) {
        auto& c = state_->chunks[it.chunk_];
        if (!c.error && ++it.offset_ < c.values.size()) return;
        c.values = std::vector<R>();  // free what was consumed
        ++it.taken_;
        settle(it);
    }

    std::shared_ptr<detail::IMapState<R>> state_;
    std::shared_ptr<detail::PoolCore> core_;
    bool ordered_;
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
    &, std::decay_t<InitArgs>&... > Pool(int processes, Init&& initializer, InitArgs&&... initargs)
        : Pool(with_initializer(processes, [f = std::decay_t<Init>(std::forward<Init>(initializer)),
                                            tup = std::make_tuple(std::decay_t<InitArgs>(
                                                std::forward<InitArgs>(initargs))...)]() mutable {
              std::apply([&f](auto&... a) { std::invoke(f, a...); }, tup);
          })) {}
    /// Pool(processes=, initializer=, maxtasksperchild=).
    explicit Pool(PoolOptions options);

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

    /// map(f, items[, chunksize]): f over every item, results in order. chunksize 0 picks
    /// ceil(len / (4·processes)) as Python does. The first failing item's error is thrown.
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
    /// before it) arrived. The items are read and submitted at the call.
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
    static PoolOptions with_initializer(int processes, std::function<void()> initializer);
    template <class R, bool Star, class F, class Range>
    std::vector<Bytes> make_chunks(const F& f, Range&& items, std::size_t chunksize);
    template <class R, bool Star, class Fn, class Range>
    AsyncResult<std::vector<R>> map_impl(const Fn& fn, Range&& items, std::size_t chunksize);
    template <class F, class Range>
    auto imap_impl(F&& f, Range&& items, std::size_t chunksize, bool ordered);
    detail::PoolCore& core() const;

    std::shared_ptr<detail::PoolCore> core_;
};

// ---- definitions -------------------------------------------------------------------------

template <class F, class... Args>
AsyncResult<detail::apply_result_t<F, Args...>> Pool::apply_async(F&& f, Args&&... args) {
    using Fn = std::decay_t<F>;
    MP_REQUIRE_POOL_CALLABLE(Fn);
    using R = detail::apply_result_t<F, Args...>;
    static_assert(
        (Serializable<std::decay_t<Args>> && ...),
        "mp::Pool::apply_async: an argument's type cannot cross a process boundary. Make it "
        "trivially copyable (no pointers), use standard containers, or give it a cereal "
        "`template <class Archive> void serialize(Archive&)` member.");
    MP_REQUIRE_SERIALIZABLE(detail::stored_t<R>);
    std::vector<Bytes> recs;
    std::tuple<std::decay_t<Args>...> t(std::forward<Args>(args)...);
    recs.push_back(
        detail::make_task_record<&detail::apply_trampoline<Fn, R, std::decay_t<Args>...>>(
            Fn(std::forward<F>(f)), [&t](Bytes& out) { detail::encode_args(t, out); }));
    auto state = std::make_shared<detail::ResultState<R>>();
    detail::PoolCoreHandle::submit(core(), std::move(recs), state);
    return AsyncResult<R>(std::move(state), core_);
}

template <class R, bool Star, class F, class Range>
std::vector<Bytes> Pool::make_chunks(const F& f, Range&& items, std::size_t chunksize) {
    using Fn = std::decay_t<F>;
    using Arg = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
    MP_REQUIRE_SERIALIZABLE(Arg);
    if constexpr (std::ranges::sized_range<Range> && std::ranges::forward_range<Range>) {
        auto n = static_cast<std::size_t>(std::ranges::size(items));
        if (chunksize ==
            0) {  // Python: chunksize, extra = divmod(len, 4 * processes); if extra: += 1
            std::size_t d = processes() * 4;
            chunksize = std::max<std::size_t>(1, (n + d - 1) / d);
        }
        std::vector<Bytes> recs;
        recs.reserve((n + chunksize - 1) / chunksize);
        auto it = std::ranges::begin(items);
        for (std::size_t i = 0; i < n; i += chunksize) {
            std::size_t k = std::min(n - i, chunksize);
            recs.push_back(detail::make_task_record<&detail::chunk_trampoline<Fn, R, Arg, Star>>(
                f, [&](Bytes& out) { detail::encode_chunk<Arg>(it, k, out); }));
        }
        return recs;
    } else {
        std::vector<Arg> all;
        for (auto&& x : items) all.emplace_back(std::forward<decltype(x)>(x));
        return make_chunks<R, Star>(f, all, chunksize);
    }
}

template <class F, std::ranges::input_range Range>
auto Pool::map_async(F&& f, Range&& items, std::size_t chunksize) {
    using T = detail::MapTypes<F, Range>;
    return map_impl<typename T::R, false>(typename T::Fn(std::forward<F>(f)),
                                          std::forward<Range>(items), chunksize);
}

template <class F, std::ranges::input_range Range>
auto Pool::starmap_async(F&& f, Range&& items, std::size_t chunksize) {
    using Fn = std::decay_t<F>;
    MP_REQUIRE_POOL_CALLABLE(Fn);
    using Tuple = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
    using R = detail::starmap_result_t<F, Tuple>;
    static_assert(!std::is_void_v<R>, "mp::Pool::starmap: f must return a value");
    return map_impl<R, true>(Fn(std::forward<F>(f)), std::forward<Range>(items), chunksize);
}

template <class R, bool Star, class Fn, class Range>
AsyncResult<std::vector<R>> Pool::map_impl(const Fn& fn, Range&& items, std::size_t chunksize) {
    MP_REQUIRE_SERIALIZABLE(R);
    std::vector<Bytes> recs = make_chunks<R, Star>(fn, std::forward<Range>(items), chunksize);
    auto state = std::make_shared<detail::MapState<R>>(recs.size());
    if (recs.empty()) state->set_value({});
    detail::PoolCoreHandle::submit(core(), std::move(recs), state);
    return AsyncResult<std::vector<R>>(std::move(state), core_);
}

template <class F, class Range>
auto Pool::imap_impl(F&& f, Range&& items, std::size_t chunksize, bool ordered) {
    using T = detail::MapTypes<F, Range>;
    using R = typename T::R;
    MP_REQUIRE_SERIALIZABLE(R);
    if (chunksize == 0) throw ValueError("Pool.imap: chunksize must be at least 1");
    typename T::Fn fn(std::forward<F>(f));
    std::vector<Bytes> recs = make_chunks<R, false>(fn, std::forward<Range>(items), chunksize);
    auto state = std::make_shared<detail::IMapState<R>>(recs.size());
    detail::PoolCoreHandle::submit(core(), std::move(recs), state);
    return IMapRange<R>(std::move(state), core_, ordered);
}

}  // namespace mp
