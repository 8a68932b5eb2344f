// mp/futures.hpp — ProcessPoolExecutor, Future, as_completed, wait
// (Python: concurrent.futures).
//
//     mp::futures::ProcessPoolExecutor ex(4);            // with ProcessPoolExecutor(4) as ex:
//     mp::futures::Future<int> f = ex.submit(square, 7);
//     int v = f.result(1s);                              // 49, or mp::TimeoutError
//     for (auto& done : mp::futures::as_completed(futures)) use(done.result());
//     auto [done, not_done] = mp::futures::wait(futures, mp::futures::FIRST_COMPLETED);
//     std::vector<int> rs = ex.map(square, items, {.chunksize = 64});
//
// The executor is a Pool underneath (<mp/pool.hpp>: the same workers, zygote,
// background thread and rules for what a task may be). Differences from Python:
// a worker that dies fails only its own future with mp::WorkerLost and the executor
// goes on (Python breaks the whole pool: BrokenProcessPool). A task that throws makes
// result() throw mp::RemoteError (the original type's name and message).
//
// Callbacks (add_done_callback) run on the pool's thread, one at a time — or at once in
// the calling thread if the future is already done (as Python), or in the thread
// that cancels it. Futures and the executor may be used from several threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/detail/pool_core.hpp"
#include "mp/errors.hpp"
#include "mp/pool.hpp"

namespace mp::futures {

/// result()/exception() of a cancelled future (Python's concurrent.futures.CancelledError).
class CancelledError : public Error {
  public:
    using Error::Error;
};

/// wait(..., return_when): Python's FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED.
enum ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };

/// ProcessPoolExecutor(max_workers=, initializer=, max_tasks_per_child=, mp_context=).
struct ExecutorOptions {
    /// Number of workers; 0 means cpu_count(). Negative → ValueError.
    int max_workers = 0;
    /// Runs once in each worker before its first task (sendable under forkserver/spawn,
    /// as PoolOptions::initializer).
    ::mp::detail::Initializer initializer = {};
    /// A worker is replaced after this many tasks; 0: never.
    std::size_t max_tasks_per_child = 0;
    /// The start method of the workers (<mp/context.hpp>); empty: get_start_method().
    std::optional<Context> context = std::nullopt;
    /// Where the workers are (PoolOptions::transport); set by mp::mpi::executor_options().
    std::shared_ptr<const ::mp::detail::TransportFactory> transport = {};
};

/// Executor.map(fn, items, chunksize=, timeout=).
struct MapOptions {
    /// Items per task (Python's default: 1).
    std::size_t chunksize = 1;
    /// All results must be there by then, else mp::TimeoutError.
    std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt;
};

template <class R>
class Future;

namespace detail {

/// A future's shared state: an AsyncResult's, plus cancellation.
template <class R>
struct FutureState : mp::detail::ResultState<R> {
    FutureState() { this->done_before_callbacks = true; }
    bool cancelled = false;
    std::shared_ptr<mp::detail::PoolCore> core;
};

}  // namespace detail

/// The result of submit (Python's Future). Copies share the one result.
template <class R>
class Future {
  public:
    using clock = std::chrono::steady_clock;

    Future() = default;

    /// Waits for the result; RemoteError / WorkerLost / CancelledError.
    R result() {
        wait_until(std::nullopt);
        return take();
    }
    /// As result(), but mp::TimeoutError if not done within `timeout`.
    template <class Rep, class Period>
    R result(std::chrono::duration<Rep, Period> timeout) {
        if (!wait_until(clock::now() + std::chrono::ceil<clock::duration>(timeout)))
            throw TimeoutError("Future.result: the result was not ready within the timeout");
        return take();
    }
    /// Waits like result(); the task's exception, or null if it succeeded.
    /// CancelledError if the future was cancelled.
    std::exception_ptr exception() {
        wait_until(std::nullopt);
        return error();
    }
    template <class Rep, class Period>
    std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) {
        if (!wait_until(clock::now() + std::chrono::ceil<clock::duration>(timeout)))
            throw TimeoutError("Future.exception: the result was not ready within the timeout");
        return error();
    }
    /// Done: finished, failed or cancelled.
    [[nodiscard]] bool done() const { return state().done.load(std::memory_order_acquire); }
    /// A worker is running it now.
    [[nodiscard]] bool running() const {
        return !done() && mp::detail::PoolCoreHandle::status(*state().core, state_.get(), 0) ==
                              mp::detail::TaskStatus::running;
    }
    [[nodiscard]] bool cancelled() const {
        auto lk = mp::detail::PoolCoreHandle::lock(*state().core);
        return state().cancelled;
    }
    /// Cancels it if it has not started: true if it is (now) cancelled.
    bool cancel();
    /// fn(future) once it is done (now, if it is).
    template <class Fn>
    void add_done_callback(Fn fn);

  private:
    template <class>
    friend class Future;
    friend class ProcessPoolExecutor;
    explicit Future(std::shared_ptr<detail::FutureState<R>> s) : state_(std::move(s)) {}

    detail::FutureState<R>& state() const {
        if (!state_) throw ValueError("Future: this future has no state (default-constructed)");
        return *state_;
    }
    bool wait_until(std::optional<clock::time_point> deadline) const {
        auto* st = &state();
        return mp::detail::PoolCoreHandle::drive_until(
            *st->core, [st] { return st->done.load(std::memory_order_acquire); }, deadline);
    }
    std::exception_ptr error() const {
        if (state_->cancelled) throw CancelledError("Future: it was cancelled");
        return state_->error;
    }
    R take() {
        if (auto e = error()) std::rethrow_exception(e);
        if constexpr (!std::is_void_v<R>) return *state_->value;
    }

    std::shared_ptr<detail::FutureState<R>> state_;

  public:
    // For as_completed/wait (not part of Python's API):
    /// A key that says whether two futures are the same.
    [[nodiscard]] const void* id() const noexcept { return state_.get(); }
    /// Done with an exception (not a cancellation).
    [[nodiscard]] bool failed() const {
        return done() && !state_->cancelled && static_cast<bool>(state_->error);
    }
    /// The scheduler it waits on.
    [[nodiscard]] mp::detail::PoolCore* state_core() const { return state().core.get(); }
};

/// Python's ProcessPoolExecutor; `with` is the destructor (shutdown(wait=true)).
class ProcessPoolExecutor {
  public:
    /// max_workers workers (ValueError if < 1).
    explicit ProcessPoolExecutor(int max_workers);
    /// ProcessPoolExecutor(): cpu_count() workers; or ({.max_workers, .initializer, …}).
    explicit ProcessPoolExecutor(ExecutorOptions options = {});
    ProcessPoolExecutor(ProcessPoolExecutor&&) noexcept = default;
    ProcessPoolExecutor& operator=(ProcessPoolExecutor&&) = delete;
    ProcessPoolExecutor(const ProcessPoolExecutor&) = delete;
    ProcessPoolExecutor& operator=(const ProcessPoolExecutor&) = delete;
    /// shutdown(wait=true).
    ~ProcessPoolExecutor();

    /// Schedules fn(args...); mp::Error after shutdown().
    template <class F, class... Args>
    Future<mp::detail::apply_result_t<F, Args...>> submit(F&& fn, Args&&... args);

    /// fn over every item, results in order; the first failure is thrown; TimeoutError
    /// if options.timeout passes first.
    template <class F, std::ranges::input_range Range>
    auto map(F&& fn, Range&& items, MapOptions options = {});

    /// No new tasks; with wait, blocks until the queued ones are done and the workers
    /// gone; with cancel_futures, futures that have not started are cancelled first.
    void shutdown(bool wait = true, bool cancel_futures = false);

    /// The number of workers.
    [[nodiscard]] std::size_t max_workers() const;

  private:
    mp::detail::PoolCore& core() const;
    void check_open() const;
    void remember(std::function<void()> cancel_it);

    std::shared_ptr<mp::detail::PoolCore> core_;
    struct Registry;
    std::unique_ptr<Registry> registry_;
};

/// What wait() returns: `auto [done, not_done] = wait(...)`.
template <class R>
struct WaitResult {
    std::vector<Future<R>> done;
    std::vector<Future<R>> not_done;
};

/// Waits until `return_when` holds (or `timeout`) and splits the futures.
template <class R>
WaitResult<R> wait(const std::vector<Future<R>>& futures, ReturnWhen return_when = ALL_COMPLETED,
                   std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt);

/// The futures in the order they finish (as Python's as_completed): a range of
/// Future<R>&; mp::TimeoutError from ++ if `timeout` (counted from the call) passes.
template <class R>
class AsCompleted;

template <class R>
AsCompleted<R> as_completed(
    std::vector<Future<R>>& futures,
    std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt);

}  // namespace mp::futures

#include "mp/detail/futures_impl.hpp"
