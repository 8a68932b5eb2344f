// Internal machinery of <mp/pool.hpp>: the non-template face of the scheduler
// (src/pool.cpp), the shared states behind AsyncResult and imap, and the types a
// task's result travels as. Include <mp/pool.hpp> instead.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "mp/detail/reduction.hpp"
#include "mp/detail/task.hpp"
#include "mp/errors.hpp"
#include "mp/process.hpp"
#include "mp/serialize.hpp"

namespace mp {

struct PoolOptions;

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
    /// run on the pool's thread once the lock is released (empty if none).
    virtual std::function<void()> on_result(std::size_t index,
                                            std::span<const std::byte> frame) = 0;
    /// Task `index` failed (RemoteError, WorkerLost, …).
    virtual std::function<void()> on_error(std::size_t index, std::exception_ptr error) = 0;
};

/// Where a submitted task is (for futures: running(), cancel()).
enum class TaskStatus { pending, queued, running, unknown };

class PoolCore;

/// Task records and, when their arguments hold handles, each one's TaskFds (`fds` is then
/// as long as `records`; empty: no task holds a handle).
struct TaskBatch {
    std::vector<Bytes> records;
    std::vector<TaskFds> fds;
    std::size_t items = 0;      // a map's: items in all records,
    std::size_t chunksize = 0;  // and in each (the last may hold fewer)
};

/// The non-template face of the pool core (defined in src/pool.cpp).
struct PoolCoreHandle {
    static std::shared_ptr<PoolCore> create(PoolOptions options);
    /// The same scheduler over worker threads (mp::ThreadPool).
    static std::shared_ptr<PoolCore> create_threads(PoolOptions options);
    /// Submits `records` as tasks `first_index`, `first_index + 1`, … of `sink`;
    /// `fn_type` names the function object's type (for traces).
    static void submit(PoolCore& core, std::vector<Bytes> records,
                       const std::shared_ptr<TaskSink>& sink, std::size_t first_index = 0,
                       std::string_view fn_type = {});
    /// The same with the tasks' handles; ValueError (nothing submitted) if the pool's
    /// workers cannot receive handles (MPI: another machine).
    static void submit(PoolCore& core, TaskBatch batch, const std::shared_ptr<TaskSink>& sink,
                       std::size_t first_index = 0, std::string_view fn_type = {});
    /// Waits until done() (called under the lock) is true or the deadline passes.
    static bool drive_until(PoolCore& core, const std::function<bool()>& done,
                            std::optional<PoolClock::time_point> deadline);
    static std::unique_lock<std::mutex> lock(PoolCore& core);
    /// With the lock held: hands `f` to the pool's thread (callbacks run there, one at a
    /// time). False if that thread has ended; then the caller runs it.
    static bool post(PoolCore& core, std::function<void()> f);
    static void close(PoolCore& core);
    static void join(PoolCore& core);
    static void terminate(PoolCore& core);
    static std::size_t processes(const PoolCore& core) noexcept;
    static std::vector<pid_t> worker_pids(PoolCore& core);
    /// Takes back task `index` of `sink` if it has not started; true if it will not run.
    static bool cancel(PoolCore& core, const TaskSink* sink, std::size_t index);
    static TaskStatus status(PoolCore& core, const TaskSink* sink, std::size_t index);
};

/// Runs a user callback; an exception it throws is reported on stderr (it has no caller).
void run_callback(const std::function<void()>& cb) noexcept;

// ---- what results travel as ----------------------------------------------------------------

/// A bool in a map chunk (std::vector<bool> has no contiguous storage to copy).
/// It holds a byte, so every byte pattern that arrives is a valid value (nonzero: true).
struct WireBool {
    std::uint8_t value = 0;
    WireBool() = default;
    WireBool(bool b) : value(b ? 1 : 0) {}  // NOLINT: implicit on purpose
    operator bool() const { return value != 0; }
};
}  // namespace detail
template <>
inline constexpr bool every_bit_pattern_valid<detail::WireBool> = true;
namespace detail {

/// How a value of type T crosses in a map chunk: void as std::monostate, bool as WireBool.
template <class T>
using wire_t =
    std::conditional_t<std::is_void_v<T>, std::monostate,
                       std::conditional_t<std::is_same_v<std::remove_cv_t<T>, bool>, WireBool, T>>;

/// What the caller gets for one item: void as std::monostate, anything else as itself.
template <class T>
using value_t = stored_t<T>;

/// pool_chunk_trampoline for items or results that are not plain bytes.
template <class R, class Arg, class W, class WA, class Call>
void pool_chunk_by_vectors(Call& call_on, std::span<const std::byte> args, Bytes& out) {
    std::vector<WA> items = decode_items<WA>(args);
    std::vector<W> results;
    results.reserve(items.size());
    auto one = [&](Arg& item) {
        if constexpr (std::is_void_v<R>) {
            call_on(item);
            results.emplace_back();
        } else {
            results.push_back(W(static_cast<R>(call_on(item))));
        }
    };
    for (auto& wire_item : items) {
        if constexpr (std::is_same_v<wire_t<Arg>, Arg>) {
            one(wire_item);
        } else {
            Arg item = static_cast<bool>(wire_item);  // a bool item
            one(item);
        }
    }
    auto it = results.begin();
    encode_chunk<W>(it, results.size(), out);
}

/// The Pool's map-chunk trampoline: decodes the items (as wire_t<Arg>), calls f on each
/// and encodes the results (as W = wire_t<R>); a void f yields std::monostate.
template <class Fn, class R, class Arg, bool Star>
void pool_chunk_trampoline(std::span<const std::byte> callable, std::span<const std::byte> args,
                           Bytes& out) {
    using W = wire_t<R>;
    using WA = wire_t<Arg>;
    Fn f = decode_callable<Fn>(callable);
    auto call_on = [&](Arg& item) -> decltype(auto) {
        if constexpr (Star) {
            return std::apply(f, item);
        } else {
            return std::invoke(f, item);
        }
    };
    if constexpr (BytesSerializable<WA> && BytesSerializable<W> && !holds_handles_v<WA>) {
        // Plain bytes both ways (map of ints): each item read from the task's frame and each
        // result written into the result frame, with no vector of either in between.
        std::size_t n = 0;
        auto in = bytes_chunk_items<WA>(args, n);
        std::size_t at = begin_chunk(n, out);
        std::size_t pos = out.size();
        out.resize(pos + n * sizeof(W));
        for (std::size_t i = 0; i < n; ++i) {
            WA wire_item;
            std::memcpy(static_cast<void*>(&wire_item), in.data() + i * sizeof(WA), sizeof(WA));
            check_chunk_item(wire_item);
            Arg item = static_cast<Arg>(wire_item);
            auto put = [&](const W& r) {
                std::memcpy(out.data() + pos + i * sizeof(W), static_cast<const void*>(&r),
                            sizeof(W));
            };
            if constexpr (std::is_void_v<R>) {
                call_on(item);
                put(W{});
            } else {
                put(W(static_cast<R>(call_on(item))));
            }
        }
        end_chunk<W>(at, out);
    } else {
        pool_chunk_by_vectors<R, Arg, W, WA>(call_on, args, out);
    }
}

/// Decodes a chunk of results sent as wire_t<V> into values of V.
template <class V>
std::vector<V> decode_results(std::span<const std::byte> frame) {
    if constexpr (std::is_same_v<V, bool>) {
        auto wire = decode_chunk<WireBool>(frame);
        return std::vector<bool>(wire.begin(), wire.end());
    } else {
        return decode_chunk<V>(frame);
    }
}

// ---- shared states -------------------------------------------------------------------------

/// One result: an AsyncResult's shared state (how the result is decoded is the subclass's).
/// `arrived` (under the pool's lock) is set when the result came; `done` once the
/// callbacks registered by then ran too (as Python: a waiter wakes after the callbacks).
template <class R>
struct ResultStateBase : TaskSink {
    using Value = stored_t<R>;
    bool arrived = false;
    std::atomic<bool> done{false};
    /// Futures are done before their callbacks run (a callback may call result());
    /// AsyncResults after (as Python's: get() returns once the callback ran).
    bool done_before_callbacks = false;
    std::optional<Value> value;
    std::exception_ptr error;
    std::vector<std::function<void(const Value&)>> callbacks;
    std::vector<std::function<void(const Error&)>> error_callbacks;

    /// The callbacks to run (moved out), as one function; empty if none.
    std::function<void()> take_callbacks() {
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
    std::function<void()> finish() {
        arrived = true;
        auto cbs = take_callbacks();
        if (!cbs || done_before_callbacks) {
            done.store(true, std::memory_order_release);
            return cbs;
        }
        return [this, cbs = std::move(cbs)] {
            cbs();
            done.store(true, std::memory_order_release);
        };
    }
    std::function<void()> set_value(Value v) {
        if (arrived) return {};
        value.emplace(std::move(v));
        return finish();
    }
    std::function<void()> on_error(std::size_t, std::exception_ptr e) override {
        if (arrived) return {};
        error = std::move(e);
        return finish();
    }
};

/// apply_async: one result frame.
template <class R>
struct ResultState : ResultStateBase<R> {
    std::function<void()> on_result(std::size_t, std::span<const std::byte> frame) override {
        if (this->arrived) return {};
        try {
            return this->set_value(deserialize<typename ResultStateBase<R>::Value>(frame));
        } catch (...) {
            return this->on_error(0, std::current_exception());
        }
    }
};

/// map_async: chunks of results joined into one vector when the last arrives. Chunk `i`
/// holds items [i·chunksize, min((i+1)·chunksize, total)); results that are plain bytes go
/// straight to their place in the one vector, others through a vector per chunk.
template <class V>
struct MapState : ResultStateBase<std::vector<V>> {
    static constexpr bool kInPlace = BytesSerializable<V> && !std::is_same_v<V, bool>;
    std::vector<std::vector<V>> chunks;  // !kInPlace
    std::vector<V> all;                  // kInPlace: sized at the first result
    std::size_t left = 0;
    std::size_t total = 0;
    std::size_t chunksize = 0;

    MapState(std::size_t n_chunks, std::size_t n_items, std::size_t items_per_chunk)
        : left(n_chunks), total(n_items), chunksize(items_per_chunk) {
        if constexpr (!kInPlace) chunks.resize(n_chunks);
    }
    std::function<void()> on_result(std::size_t index, std::span<const std::byte> frame) override {
        if (this->arrived) return {};
        try {
            if constexpr (kInPlace) {
                std::size_t count = 0;
                auto items = bytes_chunk_items<V>(frame, count);
                std::size_t first = index * chunksize;
                if (first >= total || count != std::min(chunksize, total - first)) {
                    throw SerializationError("corrupt frame: map chunk " + std::to_string(index) +
                                             " holds " + std::to_string(count) + " results");
                }
                if (all.empty()) all.resize(total);
                copy_chunk_items(items, count, all.data() + first);
            } else {
                chunks[index] = decode_results<V>(frame);
            }
        } catch (...) {
            return this->on_error(index, std::current_exception());
        }
        if (--left != 0) return {};
        if constexpr (!kInPlace) {
            all.reserve(total);
            for (auto& c : chunks) {
                all.insert(all.end(), std::make_move_iterator(c.begin()),
                           std::make_move_iterator(c.end()));
                c = std::vector<V>();
            }
        }
        return this->set_value(std::move(all));
    }
};

/// imap / imap_unordered: chunks submitted and not yet consumed.
template <class V>
struct IMapState : TaskSink {
    struct Chunk {
        bool done = false;
        std::vector<V> values;
        std::exception_ptr error;
    };
    std::map<std::size_t, Chunk> chunks;       // by chunk index
    std::deque<std::size_t> completion_order;  // done, not yet consumed (imap_unordered)

    std::function<void()> on_result(std::size_t index, std::span<const std::byte> frame) override {
        auto it = chunks.find(index);
        if (it == chunks.end()) return {};
        try {
            it->second.values = decode_results<V>(frame);
        } catch (...) {
            return on_error(index, std::current_exception());
        }
        it->second.done = true;
        completion_order.push_back(index);
        return {};
    }
    std::function<void()> on_error(std::size_t index, std::exception_ptr e) override {
        auto it = chunks.find(index);
        if (it == chunks.end()) return {};
        it->second.error = std::move(e);
        it->second.done = true;
        completion_order.push_back(index);
        return {};
    }
};

/// Reads a range lazily, `chunksize` items at a time, into task records.
/// An exception while reading surfaces at the item where it happened: the items read
/// before it go as a (short) chunk, the exception is thrown by the next call.
template <class View, class MakeRecord>
class ChunkFeeder {
  public:
    ChunkFeeder(View v, std::size_t chunksize, MakeRecord make)
        : view_(std::move(v)), chunksize_(chunksize), make_(std::move(make)) {}

    /// The next chunk's task (its record and, if its items hold handles, their fds), or
    /// nullopt at the end of the range.
    std::optional<TaskBatch> next() {
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
        if (ended_) return std::nullopt;
        using Arg = wire_t<std::remove_cvref_t<std::ranges::range_value_t<View>>>;
        std::vector<Arg> items;
        try {
            if (!begun_) {
                it_.emplace(std::ranges::begin(view_));
                begun_ = true;
            }
            while (items.size() < chunksize_ && *it_ != std::ranges::end(view_)) {
                items.emplace_back(**it_);
                ++*it_;
            }
            if (*it_ == std::ranges::end(view_)) ended_ = true;
        } catch (...) {
            ended_ = true;
            if (items.empty()) throw;
            error_ = std::current_exception();
        }
        if (items.empty()) return std::nullopt;
        return make_(items);
    }

  private:
    View view_;
    std::size_t chunksize_;
    MakeRecord make_;
    std::optional<std::ranges::iterator_t<View>> it_;
    bool begun_ = false;
    bool ended_ = false;
    std::exception_ptr error_;
};

/// ThreadPool: any callable, sent as a pointer to it (workers share this process's
/// memory). Trivially copyable, so the Pool's machinery carries it unchanged.
template <class Fn>
struct ThreadCall {
    Fn* f = nullptr;
    template <class... A>
    decltype(auto) operator()(A&&... a) const {
        return std::invoke(*f, std::forward<A>(a)...);
    }
};

/// What PoolOptions::initializer holds: a callable run once in each worker, with its
/// arguments. Any callable converts to it; under `fork` anything works (the workers
/// inherit it), under `forkserver` and `spawn` it is sent to a fresh image, so it must
/// be *sendable* — a function, a captureless lambda or a trivially copyable function
/// object, with serializable arguments or mp handles (the Process rule) — else the
/// Pool's constructor throws ValueError. Copies share the callable and its arguments.
class Initializer {
  public:
    Initializer() = default;
    Initializer(std::nullptr_t) noexcept {}  // NOLINT: as std::function's
    /// Any callable with no arguments (a std::function too; an empty one is no initializer).
    template <class F>
    requires(!std::same_as<std::decay_t<F>, Initializer> && std::invocable<std::decay_t<F>&>)
        Initializer(F&& f) {  // NOLINT: implicit on purpose
        using D = std::decay_t<F>;
        if constexpr (std::is_pointer_v<D> || std::is_same_v<D, std::function<void()>>) {
            if (!f) return;
        }
        t_ = std::make_shared<TargetOf<D>>(std::forward<F>(f));
    }
    /// init(args...) (Pool(n, init, args...)).
    template <class F, class... A>
    static Initializer bind(F&& f, A&&... a) {
        Initializer i;
        i.t_ = std::make_shared<TargetOf<std::decay_t<F>, std::decay_t<A>...>>(
            std::forward<F>(f), std::forward<A>(a)...);
        return i;
    }
    explicit operator bool() const noexcept { return t_ != nullptr; }
    /// Runs it (in a worker).
    void operator()() const {
        if (t_) t_->run();
    }
    /// nullptr if it can be sent to a fresh image, else why not.
    [[nodiscard]] const char* not_sendable() const noexcept {
        return t_ ? t_->not_sendable() : nullptr;
    }
    /// Writes it as a task value (only when not_sendable() is nullptr).
    void encode(TaskValue& out) const {
        if (t_) t_->encode(out);
    }

  private:
    std::shared_ptr<ProcessTarget> t_;
};

/// Pool(n, init, args...): init(args...) as one Initializer (run once per worker).
template <class Init, class... InitArgs>
Initializer bind_initializer(Init&& initializer, InitArgs&&... initargs) {
    return Initializer::bind(std::forward<Init>(initializer), std::forward<InitArgs>(initargs)...);
}

template <class F, class... Args>
using apply_result_t = std::decay_t<std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&...>>;

/// The types of map/imap(f, items), checked with readable messages.
template <class F, class Range>
struct MapTypes {
    using Fn = std::decay_t<F>;
    MP_REQUIRE_POOL_CALLABLE(Fn);
    using Arg = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
    static_assert(std::is_invocable_v<Fn&, Arg&>,
                  "mp::Pool::map/imap: f cannot be called with an item of the range");
    using R = std::decay_t<std::invoke_result_t<Fn&, Arg&>>;
    using V = value_t<R>;
    MP_REQUIRE_TRAVELS(Arg);
};

/// Adds the record of f(args of t...) (apply_async, submit) to `batch`: arguments that
/// hold handles go with their fds (TaskFds), the others as plain bytes.
template <class Fn, class R, class... A>
void add_apply_task(TaskBatch& batch, const Fn& f, const std::tuple<A...>& t) {
    if constexpr ((holds_handles_v<A> || ...)) {
        FdSink sink;
        sink.share = true;
        batch.records.push_back(make_task_record<&travel_apply_trampoline<Fn, R, A...>>(
            f, [&](Bytes& out) { encode_travel_args(t, out, sink); }));
        if (!sink.fds.empty()) mark_record_fds(batch.records.back());
        batch.fds.resize(batch.records.size() - 1);
        batch.fds.emplace_back(sink.fds, CompositeTraits<A...>::first());
    } else {
        batch.records.push_back(make_task_record<&apply_trampoline<Fn, R, A...>>(
            f, [&](Bytes& out) { encode_args(t, out); }));
        if (!batch.fds.empty()) batch.fds.emplace_back();
    }
}

template <class F, class Tuple>
using starmap_result_t =
    std::decay_t<decltype(std::apply(std::declval<std::decay_t<F>&>(), std::declval<Tuple&>()))>;

}  // namespace detail
}  // namespace mp
