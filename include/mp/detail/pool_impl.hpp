// Internal: the template definitions of <mp/pool.hpp> (included at its end).
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <ranges>
#include <tuple>
#include <utility>
#include <vector>

namespace mp {

template <class Init, class... InitArgs>
requires std::invocable < std::decay_t<Init>
&, std::decay_t<InitArgs>&... >
       Pool::Pool(int processes, Init&& initializer, InitArgs&&... initargs)
    : Pool(with_initializer(processes,
                            detail::bind_initializer(std::forward<Init>(initializer),
                                                     std::forward<InitArgs>(initargs)...))) {}

template <class Init, class... InitArgs>
mp::Pool Context::Pool(int processes, Init&& initializer, InitArgs&&... initargs) const {
    PoolOptions o;
    o.processes = processes;
    o.initializer = detail::bind_initializer(std::forward<Init>(initializer),
                                             std::forward<InitArgs>(initargs)...);
    o.context = *this;
    return mp::Pool(std::move(o));
}

template <class F, class... Args>
AsyncResult<detail::apply_result_t<F, Args...>> Pool::apply_async(F&& f, Args&&... args) {
    using Fn = std::decay_t<F>;
    MP_REQUIRE_POOL_CALLABLE(Fn);
    using R = detail::apply_result_t<F, Args...>;
    static_assert(
        (detail::Travels<std::decay_t<Args>> && ...),
        "mp::Pool::apply_async: an argument's type cannot cross a process boundary. Pass an "
        "mp handle (Queue, Lock, Value, …), make it trivially copyable (no pointers), use "
        "standard containers, or give it a cereal `template <class Archive> void "
        "serialize(Archive&)` member.");
    MP_REQUIRE_SERIALIZABLE(detail::stored_t<R>);
    detail::TaskBatch batch;
    detail::add_apply_task<Fn, R>(batch, Fn(std::forward<F>(f)),
                                  std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...));
    auto state = std::make_shared<detail::ResultState<R>>();
    detail::PoolCoreHandle::submit(core(), std::move(batch), state, 0, detail::type_name<Fn>());
    return AsyncResult<R>(std::move(state), core_);
}

namespace detail {

/// Python's automatic chunksize for n items (chunksize, extra = divmod(n, 4 * processes);
/// if extra: chunksize += 1), at least 1.
inline std::size_t auto_chunksize(std::size_t n, std::size_t processes) {
    std::size_t d = processes * 4;
    return std::max<std::size_t>(1, (n + d - 1) / d);
}

/// One map chunk's task record: f over `items`.
template <class R, bool Star, class Fn, class Arg>
Bytes make_chunk_record(const Fn& f, const std::vector<wire_t<Arg>>& items) {
    return make_task_record<&pool_chunk_trampoline<Fn, R, Arg, Star>>(f, [&](Bytes& out) {
        auto it = items.begin();
        encode_chunk<wire_t<Arg>>(it, items.size(), out);
    });
}

/// Cuts `items` (of Arg, or of its wire type) into chunk records (Python's automatic
/// chunksize when it is 0).
template <class R, bool Star, class Arg, class Fn, class Range>
TaskBatch make_chunks_of(const Fn& f, Range&& items, std::size_t chunksize, std::size_t processes) {
    using W = wire_t<Arg>;
    using Item = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
    MP_REQUIRE_SERIALIZABLE(Arg);
    if constexpr (std::ranges::sized_range<Range> && std::ranges::forward_range<Range> &&
                  std::is_same_v<W, Item>) {
        auto n = static_cast<std::size_t>(std::ranges::size(items));
        if (chunksize == 0) chunksize = auto_chunksize(n, processes);
        TaskBatch batch{{}, {}, n, chunksize};
        auto& recs = batch.records;
        recs.reserve((n + chunksize - 1) / chunksize);
        auto it = std::ranges::begin(items);
        for (std::size_t i = 0; i < n; i += chunksize) {
            std::size_t k = std::min(n - i, chunksize);
            recs.push_back(make_task_record<&pool_chunk_trampoline<Fn, R, Arg, Star>>(
                f, [&](Bytes& out) { encode_chunk<W>(it, k, out); }));
        }
        return batch;
    } else {
        std::vector<W> all;
        for (auto&& x : items) all.emplace_back(static_cast<Arg>(std::forward<decltype(x)>(x)));
        return make_chunks_of<R, Star, Arg>(f, all, chunksize, processes);
    }
}

/// Appends to `batch` the chunk of the `k` items from `it` (which hold handles), with its
/// TaskFds.
template <class R, bool Star, class Arg, class Fn, class It>
void add_handle_chunk(TaskBatch& batch, const Fn& f, It& it, std::size_t k) {
    FdSink sink;
    sink.share = true;
    batch.records.push_back(make_task_record<&pool_chunk_trampoline<Fn, R, Arg, Star>>(
        f, [&](Bytes& out) { encode_travel_chunk<Arg>(it, k, out, sink); }));
    if (!sink.fds.empty()) mark_record_fds(batch.records.back());
    batch.fds.emplace_back(sink.fds, HandleTraits<Arg>::first());
}

/// make_chunks_of for items that hold handles: each chunk with its TaskFds.
template <class R, bool Star, class Arg, class Fn, class Range>
TaskBatch make_handle_chunks(const Fn& f, Range&& items, std::size_t chunksize,
                             std::size_t processes) {
    std::vector<Arg> all;
    for (auto&& x : items) all.emplace_back(std::forward<decltype(x)>(x));
    if (chunksize == 0) chunksize = auto_chunksize(all.size(), processes);
    TaskBatch batch{{}, {}, all.size(), chunksize};
    auto it = all.cbegin();
    for (std::size_t i = 0; i < all.size(); i += chunksize)
        add_handle_chunk<R, Star, Arg>(batch, f, it, std::min(all.size() - i, chunksize));
    return batch;
}

template <class R, bool Star, class Fn, class Range>
TaskBatch make_chunks(const Fn& f, Range&& items, std::size_t chunksize, std::size_t processes) {
    using Arg = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
    if constexpr (holds_handles_v<Arg>) {
        return make_handle_chunks<R, Star, Arg>(f, std::forward<Range>(items), chunksize,
                                                processes);
    } else {
        return make_chunks_of<R, Star, Arg>(f, std::forward<Range>(items), chunksize, processes);
    }
}

}  // namespace detail

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
    return map_impl<R, true>(Fn(std::forward<F>(f)), std::forward<Range>(items), chunksize);
}

template <class R, bool Star, class Fn, class Range>
auto Pool::map_impl(const Fn& fn, Range&& items, std::size_t chunksize) {
    using V = detail::value_t<R>;
    MP_REQUIRE_SERIALIZABLE(V);
    detail::TaskBatch batch =
        detail::make_chunks<R, Star>(fn, std::forward<Range>(items), chunksize, processes());
    auto state =
        std::make_shared<detail::MapState<V>>(batch.records.size(), batch.items, batch.chunksize);
    if (batch.records.empty()) state->set_value({});
    detail::PoolCoreHandle::submit(core(), std::move(batch), state, 0, detail::type_name<Fn>());
    return AsyncResult<std::vector<V>>(std::move(state), core_);
}

template <class F, class Range>
auto Pool::imap_impl(F&& f, Range&& items, std::size_t chunksize, bool ordered) {
    using T = detail::MapTypes<F, Range>;
    using R = typename T::R;
    using V = typename T::V;
    using Arg = typename T::Arg;
    MP_REQUIRE_SERIALIZABLE(V);
    if (chunksize == 0) throw ValueError("Pool.imap: chunksize must be at least 1");
    typename T::Fn fn(std::forward<F>(f));
    // One chunk, read from the input when the lookahead asks for it; items that hold
    // handles go with their fds, as map's do.
    auto make = [fn](const std::vector<detail::wire_t<Arg>>& chunk) {
        detail::TaskBatch batch;
        if constexpr (detail::holds_handles_v<Arg>) {
            auto it = chunk.cbegin();
            detail::add_handle_chunk<R, false, Arg>(batch, fn, it, chunk.size());
        } else {
            batch.records.push_back(
                detail::make_chunk_record<R, false, typename T::Fn, Arg>(fn, chunk));
        }
        return batch;
    };
    using View = std::views::all_t<Range>;
    auto feeder = std::make_shared<detail::ChunkFeeder<View, decltype(make)>>(
        std::views::all(std::forward<Range>(items)), chunksize, std::move(make));
    auto state = std::make_shared<detail::IMapState<V>>();
    // Look ahead far enough to keep every worker busy while results are consumed.
    std::size_t lookahead = std::max<std::size_t>(8, 4 * processes());
    IMapRange<V> range(
        std::move(state), core_, [feeder] { return feeder->next(); }, lookahead, ordered);
    range.fn_type_ = detail::type_name<typename T::Fn>();
    return range;
}

template <class R>
template <class Cb, class ErrCb>
AsyncResult<R>& AsyncResult<R>::then(Cb callback, ErrCb error_callback) {
    std::function<void()> now;
    {
        auto lk = detail::PoolCoreHandle::lock(*core_);
        if constexpr (!std::is_same_v<Cb, std::nullptr_t>) {
            if constexpr (std::is_void_v<R>) {
                state_->callbacks.emplace_back([cb = std::move(callback)](const Value&) { cb(); });
            } else {
                state_->callbacks.emplace_back(std::move(callback));
            }
        }
        if constexpr (!std::is_same_v<ErrCb, std::nullptr_t>) {
            state_->error_callbacks.emplace_back(std::move(error_callback));
        }
        if (state_->arrived) {
            now = state_->take_callbacks();
            // Already there: still on the pool's thread, one at a time (API.md), unless
            // that thread has ended.
            if (now && detail::PoolCoreHandle::post(*core_, [keep = state_, f = now] { f(); }))
                now = nullptr;
        }
    }
    if (now) now();  // the pool's thread has ended: run in this thread
    return *this;
}

template <class V>
void IMapRange<V>::top_up() {
    while (!input_done_ && submitted_ - consumed_ < lookahead_) {
        std::optional<detail::TaskBatch> chunk;
        try {
            chunk = feed_();
        } catch (...) {
            input_error_ = std::current_exception();
            input_done_ = true;
            return;
        }
        if (!chunk) {
            input_done_ = true;
            return;
        }
        {
            auto lk = detail::PoolCoreHandle::lock(*core_);
            state_->chunks[submitted_];
        }
        detail::PoolCoreHandle::submit(*core_, std::move(*chunk), state_, submitted_, fn_type_);
        ++submitted_;
    }
}

template <class V>
std::optional<V> IMapRange<V>::next_until(
    std::optional<std::chrono::steady_clock::time_point> deadline) {
    for (;;) {
        if (offset_ < current_.size()) {
            V v = std::move(current_[offset_++]);
            if (offset_ == current_.size()) {
                current_ = std::vector<V>();
                offset_ = 0;
            }
            return v;
        }
        top_up();
        if (consumed_ == submitted_) {
            if (input_error_) std::rethrow_exception(std::exchange(input_error_, nullptr));
            return std::nullopt;
        }
        auto* st = state_.get();
        std::size_t k = consumed_;
        bool ordered = ordered_;
        bool ok = detail::PoolCoreHandle::drive_until(
            *core_,
            [st, k, ordered] {
                if (!ordered) return !st->completion_order.empty();
                auto it = st->chunks.find(k);
                return it != st->chunks.end() && it->second.done;
            },
            deadline);
        if (!ok) throw TimeoutError("imap: no result arrived within the timeout");
        typename detail::IMapState<V>::Chunk chunk;
        {
            auto lk = detail::PoolCoreHandle::lock(*core_);
            std::size_t index = k;
            if (ordered_) {
                auto& order = state_->completion_order;
                order.erase(std::find(order.begin(), order.end(), index));
            } else {
                index = state_->completion_order.front();
                state_->completion_order.pop_front();
            }
            auto node = state_->chunks.extract(index);
            chunk = std::move(node.mapped());
        }
        ++consumed_;
        if (chunk.error) std::rethrow_exception(chunk.error);
        current_ = std::move(chunk.values);
        offset_ = 0;
    }
}

}  // namespace mp
