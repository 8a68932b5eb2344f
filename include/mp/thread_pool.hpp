// mp/thread_pool.hpp — ThreadPool (Python: multiprocessing.pool.ThreadPool,
// multiprocessing.dummy.Pool).
//
//     mp::ThreadPool pool(4);
//     std::string prefix = "item ";
//     auto names = pool.map([prefix](int i) { return prefix + std::to_string(i); },
//                           std::vector{1, 2, 3});       // any callable: captures work
//
// The whole Pool API (<mp/pool.hpp>) on threads of this process: the same scheduler
// (queue, callbacks on the pool's thread, maxtasksperchild, initializer once per
// thread) over a third transport whose workers are threads. What differs from Pool:
// a task may be any callable (a capturing lambda, a std::function, std::bind), since
// nothing leaves the process; the callable is shared by the threads running it, so it
// must be safe to call concurrently. Arguments and results still go through
// <mp/serialize.hpp> (the same records as a process pool). Threads cannot be killed:
// terminate() drops queued tasks (they fail with WorkerLost) and waits for running ones.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/pool.hpp"

namespace mp {

class ThreadPool {
  public:
    /// ThreadPool(): cpu_count() threads.
    ThreadPool() : ThreadPool(PoolOptions{}) {}
    /// ThreadPool(processes=n). ValueError if n < 1.
    explicit ThreadPool(int processes);
    /// ThreadPool(n, initializer=init, initargs=(args...)): init(args...) once per thread.
    template <class Init, class... InitArgs>
    requires std::invocable < std::decay_t<Init>
    &, std::decay_t<InitArgs>&... >
           ThreadPool(int processes, Init&& initializer, InitArgs&&... initargs)
        : ThreadPool(Pool::with_initializer(
              processes, detail::bind_initializer(std::forward<Init>(initializer),
                                                  std::forward<InitArgs>(initargs)...))) {}
    /// ThreadPool(processes=, initializer=, maxtasksperchild=).
    explicit ThreadPool(PoolOptions options);

    template <class F, class... Args>
    auto apply(F&& f, Args&&... args) {
        return apply_async(std::forward<F>(f), std::forward<Args>(args)...).get();
    }
    template <class F, class... Args>
    auto apply_async(F&& f, Args&&... args) {
        auto fn = share(std::forward<F>(f));
        return keep(pool_.apply_async(call(fn), std::forward<Args>(args)...), fn);
    }
    template <class F, std::ranges::input_range Range>
    auto map(F&& f, Range&& items, std::size_t chunksize = 0) {
        return map_async(std::forward<F>(f), std::forward<Range>(items), chunksize).get();
    }
    template <class F, std::ranges::input_range Range>
    auto map_async(F&& f, Range&& items, std::size_t chunksize = 0) {
        auto fn = share(std::forward<F>(f));
        return keep(pool_.map_async(call(fn), std::forward<Range>(items), chunksize), fn);
    }
    template <class F, std::ranges::input_range Range>
    auto starmap(F&& f, Range&& items, std::size_t chunksize = 0) {
        return starmap_async(std::forward<F>(f), std::forward<Range>(items), chunksize).get();
    }
    template <class F, std::ranges::input_range Range>
    auto starmap_async(F&& f, Range&& items, std::size_t chunksize = 0) {
        auto fn = share(std::forward<F>(f));
        return keep(pool_.starmap_async(call(fn), std::forward<Range>(items), chunksize), fn);
    }
    template <class F, std::ranges::input_range Range>
    auto imap(F&& f, Range&& items, std::size_t chunksize = 1) {
        auto fn = share(std::forward<F>(f));
        keep_for_pool(fn);
        return pool_.imap(call(fn), std::forward<Range>(items), chunksize);
    }
    template <class F, std::ranges::input_range Range>
    auto imap_unordered(F&& f, Range&& items, std::size_t chunksize = 1) {
        auto fn = share(std::forward<F>(f));
        keep_for_pool(fn);
        return pool_.imap_unordered(call(fn), std::forward<Range>(items), chunksize);
    }

    void close() { pool_.close(); }
    void join() { pool_.join(); }
    void terminate() { pool_.terminate(); }
    [[nodiscard]] std::size_t processes() const { return pool_.processes(); }

  private:
    template <class F>
    static auto share(F&& f) {
        return std::make_shared<std::decay_t<F>>(std::forward<F>(f));
    }
    template <class Fn>
    static detail::ThreadCall<Fn> call(const std::shared_ptr<Fn>& fn) {
        return detail::ThreadCall<Fn>{fn.get()};
    }
    // The callable lives until its task finished (the callbacks hold it).
    template <class R, class Fn>
    static AsyncResult<R> keep(AsyncResult<R> r, std::shared_ptr<Fn> fn) {
        r.then([fn](const auto&...) {}, [fn](const Error&) {});
        return r;
    }
    // imap: the callable lives as long as the pool (abandoned iterations may still run).
    void keep_for_pool(std::shared_ptr<void> fn) {
        std::lock_guard lk(keep_mutex_);
        kept_.push_back(std::move(fn));
    }

    std::mutex keep_mutex_;
    std::vector<std::shared_ptr<void>> kept_;  // destroyed after pool_ (declared before it)
    Pool pool_;
};

}  // namespace mp
