// Internal: the template definitions of <mp/futures.hpp> (included at its end).
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

namespace mp::futures {

template <class R>
bool Future<R>::cancel() {
    auto& st = state();
    std::function<void()> callbacks;
    {
        auto lk = mp::detail::PoolCoreHandle::lock(*st.core);
        if (st.cancelled) return true;
        if (st.arrived) return false;
    }
    // Not arrived: take the task back if it has not started (the scheduler locks).
    if (!mp::detail::PoolCoreHandle::cancel(*st.core, &st, 0)) return false;
    {
        auto lk = mp::detail::PoolCoreHandle::lock(*st.core);
        st.cancelled = true;
        callbacks =
            st.on_error(0, std::make_exception_ptr(CancelledError("Future: it was cancelled")));
    }
    if (callbacks) callbacks();  // in this thread, as Python
    return true;
}

template <class R>
template <class Fn>
void Future<R>::add_done_callback(Fn fn) {
    auto& st = state();
    auto shared = std::make_shared<Fn>(std::move(fn));
    std::function<void()> now;
    {
        auto lk = mp::detail::PoolCoreHandle::lock(*st.core);
        if (!st.arrived) {
            // The callback holds a Future (its state) until it ran: then it lets go.
            st.callbacks.emplace_back(
                [shared, self = *this](const auto&) mutable { (*shared)(self); });
            st.error_callbacks.emplace_back(
                [shared, self = *this](const Error&) mutable { (*shared)(self); });
            return;
        }
    }
    Future self = *this;
    mp::detail::run_callback([&] { (*shared)(self); });
}

namespace detail {

/// Waits until `pred()` (called under a pool lock) or the deadline, for futures of one
/// or several executors. false on timeout.
template <class R, class Pred>
bool wait_for_futures(const std::vector<const Future<R>*>& fs, Pred pred,
                      std::optional<std::chrono::steady_clock::time_point> deadline) {
    if (pred()) return true;
    if (fs.empty()) return pred();
    std::vector<mp::detail::PoolCore*> cores;
    for (auto* f : fs) {
        auto* c = f->state_core();
        if (std::find(cores.begin(), cores.end(), c) == cores.end()) cores.push_back(c);
    }
    if (cores.size() == 1)
        return mp::detail::PoolCoreHandle::drive_until(*cores[0], pred, deadline);
    for (;;) {  // several executors: take turns in short slices
        for (auto* c : cores) {
            auto slice = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
            if (deadline && *deadline < slice) slice = *deadline;
            if (mp::detail::PoolCoreHandle::drive_until(*c, pred, slice)) return true;
        }
        if (deadline && std::chrono::steady_clock::now() >= *deadline) return pred();
    }
}

inline std::optional<std::chrono::steady_clock::time_point> deadline_after(
    std::optional<std::chrono::steady_clock::duration> timeout) {
    if (!timeout) return std::nullopt;
    return std::chrono::steady_clock::now() + *timeout;
}

}  // namespace detail

template <class R>
WaitResult<R> wait(const std::vector<Future<R>>& futures, ReturnWhen return_when,
                   std::optional<std::chrono::steady_clock::duration> timeout) {
    std::vector<const Future<R>*> fs;
    for (auto& f : futures) fs.push_back(&f);
    auto pred = [&] {
        std::size_t done = 0;
        for (auto* f : fs) {
            if (!f->done()) continue;
            ++done;
            if (return_when == FIRST_COMPLETED) return true;
            if (return_when == FIRST_EXCEPTION && f->failed()) return true;
        }
        return done == fs.size();
    };
    detail::wait_for_futures<R>(fs, pred, detail::deadline_after(timeout));
    WaitResult<R> out;
    for (auto& f : futures) (f.done() ? out.done : out.not_done).push_back(f);
    return out;
}

template <class R>
class AsCompleted {
  public:
    class iterator {
      public:
        using iterator_concept = std::input_iterator_tag;
        using value_type = Future<R>;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        Future<R>& operator*() const { return *owner_->current_; }
        iterator& operator++() {
            owner_->advance();
            if (owner_->current_ == nullptr) owner_ = nullptr;
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) {
            return it.owner_ == nullptr;
        }

      private:
        friend class AsCompleted;
        AsCompleted* owner_ = nullptr;
    };

    iterator begin() {
        iterator it;
        advance();
        if (current_ != nullptr) it.owner_ = this;
        return it;
    }
    std::default_sentinel_t end() const noexcept { return {}; }

  private:
    template <class T>
    friend AsCompleted<T> as_completed(std::vector<Future<T>>&,
                                       std::optional<std::chrono::steady_clock::duration>);
    AsCompleted(std::vector<Future<R>>& fs,
                std::optional<std::chrono::steady_clock::time_point> deadline)
        : deadline_(deadline) {
        for (auto& f : fs) {
            bool dup = std::any_of(left_.begin(), left_.end(),
                                   [&](Future<R>* g) { return g->id() == f.id(); });
            if (!dup) left_.push_back(&f);
        }
    }
    void advance() {
        current_ = nullptr;
        if (left_.empty()) return;
        std::vector<const Future<R>*> fs(left_.begin(), left_.end());
        auto any = [&] {
            return std::any_of(fs.begin(), fs.end(), [](const Future<R>* f) { return f->done(); });
        };
        if (!detail::wait_for_futures<R>(fs, any, deadline_)) {
            throw TimeoutError("as_completed: " + std::to_string(left_.size()) +
                               " futures were not done within the timeout");
        }
        auto it = std::find_if(left_.begin(), left_.end(), [](Future<R>* f) { return f->done(); });
        current_ = *it;
        left_.erase(it);
    }

    std::vector<Future<R>*> left_;
    Future<R>* current_ = nullptr;
    std::optional<std::chrono::steady_clock::time_point> deadline_;
};

template <class R>
AsCompleted<R> as_completed(std::vector<Future<R>>& futures,
                            std::optional<std::chrono::steady_clock::duration> timeout) {
    return AsCompleted<R>(futures, detail::deadline_after(timeout));
}

template <class F, class... Args>
Future<mp::detail::apply_result_t<F, Args...>> ProcessPoolExecutor::submit(F&& fn, Args&&... args) {
    using Fn = std::decay_t<F>;
    MP_REQUIRE_POOL_CALLABLE(Fn);
    using R = mp::detail::apply_result_t<F, Args...>;
    static_assert((mp::detail::Travels<std::decay_t<Args>> && ...),
                  "mp::futures::ProcessPoolExecutor::submit: an argument's type cannot cross a "
                  "process boundary: pass a serializable value (see <mp/serialize.hpp>) or an "
                  "mp handle");
    MP_REQUIRE_SERIALIZABLE(mp::detail::stored_t<R>);
    check_open();
    mp::detail::TaskBatch batch;
    mp::detail::add_apply_task<Fn, R>(
        batch, Fn(std::forward<F>(fn)),
        std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...));
    auto state = std::make_shared<detail::FutureState<R>>();
    state->core = core_;
    mp::detail::PoolCoreHandle::submit(core(), std::move(batch), state, 0,
                                       mp::detail::type_name<Fn>());
    remember([weak = std::weak_ptr<detail::FutureState<R>>(state)] {
        if (auto s = weak.lock()) Future<R>(s).cancel();
    });
    return Future<R>(std::move(state));
}

template <class F, std::ranges::input_range Range>
auto ProcessPoolExecutor::map(F&& fn, Range&& items, MapOptions options) {
    using T = mp::detail::MapTypes<F, Range>;
    using V = typename T::V;
    check_open();
    if (options.chunksize == 0)
        throw ValueError("ProcessPoolExecutor.map: chunksize must be at least 1");
    mp::detail::TaskBatch batch = mp::detail::make_chunks<typename T::R, false>(
        typename T::Fn(std::forward<F>(fn)), std::forward<Range>(items), options.chunksize,
        max_workers());
    auto state = std::make_shared<mp::detail::MapState<V>>(batch.records.size(), batch.items,
                                                           batch.chunksize);
    if (batch.records.empty()) state->set_value({});
    mp::detail::PoolCoreHandle::submit(core(), std::move(batch), state, 0,
                                       mp::detail::type_name<typename T::Fn>());
    auto* st = state.get();
    bool ok = mp::detail::PoolCoreHandle::drive_until(
        core(), [st] { return st->done.load(std::memory_order_acquire); },
        detail::deadline_after(options.timeout));
    if (!ok)
        throw TimeoutError("ProcessPoolExecutor.map: not every result came within the timeout");
    if (state->error) std::rethrow_exception(state->error);
    return std::move(*state->value);
}

}  // namespace mp::futures
