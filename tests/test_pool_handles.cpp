// Handles as Pool task arguments (API.md, "Handles that travel"): every handle type as
// an apply/apply_async argument, in map/starmap items and through the executor's submit,
// under every start method and on the ThreadPool — handles made after the Pool, so even
// a fork-method worker has them only by what the task carries. Also: one Queue given to
// many tasks, one Lock shared by tasks, no fd left behind in the parent or held by a
// worker after its tasks, and a worker killed while it holds a task's handles.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <ranges>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "mp/connection.hpp"
#include "mp/context.hpp"
#include "mp/futures.hpp"
#include "mp/pool.hpp"
#include "mp/queue.hpp"
#include "mp/shared_memory.hpp"
#include "mp/sharedctypes.hpp"
#include "mp/synchronize.hpp"
#include "mp/thread_pool.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using mp::Bytes;

namespace {

// ---- tasks ---------------------------------------------------------------------------------

int put_three(mp::Queue<int> q, mp::JoinableQueue<std::string> jq, mp::SimpleQueue<double> sq) {
    for (int i = 1; i <= 3; ++i) q.put(i);
    jq.put("job");
    sq.put(2.5);
    return 3;
}

// Whether the task could take each lock now (the parent holds `held`).
std::pair<bool, bool> try_locks(mp::Lock held, mp::RLock free) {
    bool got_held = held.acquire(false);
    if (got_held) held.release();
    bool got_free = free.acquire(false) && free.acquire(false);  // recursive
    if (got_free) {
        free.release();
        free.release();
    }
    return {got_held, got_free};
}

std::string semaphores(mp::Semaphore s, mp::BoundedSemaphore b) {
    s.release();
    try {
        b.release();  // at its start value
        return "released";
    } catch (const mp::ValueError&) {
        return "ValueError";
    }
}

int event_condition_value(mp::Event e, mp::Condition c, mp::Value<int> v) {
    e.set();
    std::lock_guard g(c);
    v.value() = 1;
    c.notify_all();
    return 0;
}

long meet(mp::Barrier b) {
    return static_cast<long>(b.wait());
}

int values_and_arrays(mp::Value<long> v, mp::RawValue<int> rv, mp::Array<int> a,
                      mp::RawArray<char> ra) {
    {
        std::lock_guard g(v);
        v.value() += 1;
    }
    rv.value() = 7;
    for (auto& x : a) x *= 2;
    std::memcpy(ra.data(), "hi", 3);
    return 0;
}

std::string write_shm(mp::SharedMemory shm) {
    std::memcpy(shm.buf().data(), "from a task", 12);
    return shm.name();
}

int send_over(mp::Connection c, int x) {
    c.send(std::string("over a task's connection ") + std::to_string(x));
    return x;
}

int put_one(mp::Queue<int> q, int i) {
    q.put(i);
    return i;
}

int put_item(std::tuple<mp::Queue<int>, int> item) {
    std::get<0>(item).put(std::get<1>(item));
    return std::get<1>(item);
}

int sum_values(std::vector<mp::Value<int>> vs) {
    int s = 0;
    for (auto& v : vs) s += v.value();
    return s;
}

// Adds 1 to a plain shared int `n` times, each time under `lock` (a read-modify-write
// that loses updates without it).
int add_under(mp::Lock lock, mp::RawValue<int> counter, int n) {
    for (int i = 0; i < n; ++i) {
        std::lock_guard g(lock);
        int v = counter.value();
        if (i % 16 == 0) std::this_thread::yield();  // let another worker try to interleave
        counter.value() = v + 1;
    }
    return n;
}

int open_fd_count() {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

int use_value(mp::Value<int> v, int x) {
    std::lock_guard g(v);
    v.value() += x;
    return x;
}

int put_then_die(mp::Queue<int> q) {
    q.put(1);
    ::raise(SIGKILL);
    return 0;
}

int sleep_then_put(mp::Queue<int> q, int i) {
    std::this_thread::sleep_for(20ms);
    q.put(i);
    return i;
}

// ---- every method, and the ThreadPool ------------------------------------------------------

// The pools under test: "fork", "forkserver", "spawn" (mp::Pool of that context) and
// "thread" (mp::ThreadPool); `apply`/`apply_async`/`map`/`starmap` go to whichever it is.
class PoolHandles : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        if (GetParam() == "thread") {
            threads_ = std::make_unique<mp::ThreadPool>(2);
        } else {
            pool_ = std::make_unique<mp::Pool>(mp::get_context(GetParam()).Pool(2));
        }
    }
    template <class F, class... A>
    auto apply(F f, A&&... a) {
        return threads_ ? threads_->apply(f, std::forward<A>(a)...)
                        : pool_->apply(f, std::forward<A>(a)...);
    }
    template <class F, class... A>
    auto apply_async(F f, A&&... a) {
        return threads_ ? threads_->apply_async(f, std::forward<A>(a)...)
                        : pool_->apply_async(f, std::forward<A>(a)...);
    }
    template <class F, class R>
    auto map(F f, const R& items, std::size_t chunksize = 0) {
        return threads_ ? threads_->map(f, items, chunksize) : pool_->map(f, items, chunksize);
    }
    /// imap (or imap_unordered) of `items`, consumed by `each(result)` until it returns false.
    template <class F, class R, class Each>
    void imap(F f, R&& items, std::size_t chunksize, bool ordered, Each each) {
        auto consume = [&](auto&& range) {
            for (auto&& x : range) {
                if (!each(x)) break;
            }
        };
        if (threads_) {
            if (ordered)
                consume(threads_->imap(f, std::forward<R>(items), chunksize));
            else
                consume(threads_->imap_unordered(f, std::forward<R>(items), chunksize));
        } else {
            if (ordered)
                consume(pool_->imap(f, std::forward<R>(items), chunksize));
            else
                consume(pool_->imap_unordered(f, std::forward<R>(items), chunksize));
        }
    }
    template <class F, class R>
    auto starmap(F f, const R& items, std::size_t chunksize = 0) {
        return threads_ ? threads_->starmap(f, items, chunksize)
                        : pool_->starmap(f, items, chunksize);
    }
    void end() {
        pool_.reset();
        threads_.reset();
    }

    std::unique_ptr<mp::Pool> pool_;
    std::unique_ptr<mp::ThreadPool> threads_;
};

TEST_P(PoolHandles, Queues) {
    mp::Queue<int> q;
    mp::JoinableQueue<std::string> jq;
    mp::SimpleQueue<double> sq;
    EXPECT_EQ(apply(put_three, q, jq, sq), 3);
    EXPECT_EQ(q.get(10s) + q.get(10s) + q.get(10s), 6);
    EXPECT_EQ(jq.get(10s), "job");
    jq.task_done();
    EXPECT_TRUE(jq.join(10s));
    EXPECT_EQ(sq.get(), 2.5);
}

TEST_P(PoolHandles, LockAndRLock) {
    mp::Lock held;
    mp::RLock free;
    held.acquire();
    auto [got_held, got_free] = apply(try_locks, held, free);
    held.release();
    EXPECT_FALSE(got_held) << "the task took a lock the parent holds";
    EXPECT_TRUE(got_free);
}

TEST_P(PoolHandles, SemaphoreAndBoundedSemaphore) {
    mp::Semaphore s(0);
    mp::BoundedSemaphore b(1);
    EXPECT_EQ(apply(semaphores, s, b), "ValueError");
    EXPECT_TRUE(s.acquire(10s)) << "the task's release reached the parent's semaphore";
}

TEST_P(PoolHandles, EventConditionValue) {
    mp::Event e;
    mp::Condition c;
    mp::Value<int> v(0);
    std::unique_lock lock(c);
    auto r = apply_async(event_condition_value, e, c, v);
    EXPECT_TRUE(c.wait_for([&] { return v.value() == 1; }, 60s));
    lock.unlock();
    EXPECT_TRUE(e.wait(60s));
    EXPECT_EQ(r.get(60s), 0);
}

TEST_P(PoolHandles, Barrier) {
    mp::Barrier b(2, nullptr, 60s);
    auto r = apply_async(meet, b);
    long mine = static_cast<long>(b.wait());
    EXPECT_EQ(mine + r.get(60s), 1);
}

TEST_P(PoolHandles, ValuesAndArrays) {
    mp::Value<long> v(41);
    mp::RawValue<int> rv(0);
    mp::Array<int> a{1, 2, 3};
    mp::RawArray<char> ra(8);
    EXPECT_EQ(apply(values_and_arrays, v, rv, a, ra), 0);
    EXPECT_EQ(v.value(), 42);
    EXPECT_EQ(rv.value(), 7);
    EXPECT_EQ(std::vector<int>(a.begin(), a.end()), (std::vector<int>{2, 4, 6}));
    EXPECT_STREQ(ra.data(), "hi");
}

TEST_P(PoolHandles, SharedMemory) {
    mp::SharedMemory shm(4096);
    EXPECT_EQ(apply(write_shm, shm), shm.name());
    EXPECT_STREQ(reinterpret_cast<const char*>(shm.buf().data()), "from a task");
    shm.unlink();
}

TEST_P(PoolHandles, AConnection) {
    auto [r, w] = mp::Pipe(false);
    EXPECT_EQ(apply(send_over, std::move(w), 7), 7);
    EXPECT_EQ(r.recv<std::string>(), "over a task's connection 7");
    // The task's end was its only copy besides the pool's, which went with the task:
    // the reader sees the end of the pipe.
    EXPECT_THROW((void)r.recv<std::string>(), mp::EOFError);
}

TEST_P(PoolHandles, AQueueGivenToManyTasks) {
    mp::Queue<int> q;
    std::vector<mp::AsyncResult<int>> rs;
    for (int i = 0; i < 200; ++i) rs.push_back(apply_async(put_one, q, i));
    long want = 0;
    for (int i = 0; i < 200; ++i) {
        EXPECT_EQ(rs[i].get(60s), i);
        want += i;
    }
    long got = 0;
    for (int i = 0; i < 200; ++i) got += q.get(10s);
    EXPECT_EQ(got, want);
}

TEST_P(PoolHandles, MapAndStarmapOverItemsHoldingHandles) {
    mp::Queue<int> q;
    // Chunks of more than 253 items: the one Queue in every item travels once per chunk.
    std::vector<std::tuple<mp::Queue<int>, int>> items;
    for (int i = 0; i < 600; ++i) items.emplace_back(q, i);
    auto out = map(put_item, items, 300);
    ASSERT_EQ(out.size(), 600u);
    for (int i = 0; i < 600; ++i) EXPECT_EQ(out[i], i);
    auto star = starmap(put_one, items);  // the automatic chunksize
    ASSERT_EQ(star.size(), 600u);
    long got = 0;
    for (int i = 0; i < 1200; ++i) got += q.get(10s);
    EXPECT_EQ(got, 2 * (599L * 600 / 2));

    std::vector<mp::Value<int>> vs;
    for (int i = 1; i <= 4; ++i) vs.emplace_back(i);
    EXPECT_EQ(apply(sum_values, vs), 10);  // a std::vector of handles as one argument
}

TEST_P(PoolHandles, ImapAndImapUnorderedOverItemsHoldingHandles) {
    mp::Queue<int> q;
    // A lazy input: each item (and its Queue) is made when the lookahead reads it.
    auto items = [q](int n) {
        return std::views::iota(0, n) |
               std::views::transform([q](int i) { return std::tuple<mp::Queue<int>, int>(q, i); });
    };
    int next = 0;
    imap(put_item, items(300), 7, true, [&](int x) {
        EXPECT_EQ(x, next++);
        return true;
    });
    EXPECT_EQ(next, 300);
    long got = 0;
    for (int i = 0; i < 300; ++i) got += q.get(10s);
    EXPECT_EQ(got, 299L * 300 / 2);

    // Unordered, over an endless input, left after 40 results.
    auto endless = std::views::iota(0) | std::views::transform([q](int i) {
                       return std::tuple<mp::Queue<int>, int>(q, i);
                   });
    int seen = 0;
    imap(put_item, endless, 3, false, [&](int x) {
        EXPECT_GE(x, 0);
        return ++seen < 40;
    });
    EXPECT_EQ(seen, 40);
    for (int i = 0; i < 40; ++i) EXPECT_GE(q.get(10s), 0);
}

TEST_P(PoolHandles, ALockSharedByTasks) {
    mp::Lock lock;
    mp::RawValue<int> counter(0);
    std::vector<mp::AsyncResult<int>> rs;
    for (int i = 0; i < 20; ++i) rs.push_back(apply_async(add_under, lock, counter, 200));
    for (auto& r : rs) EXPECT_EQ(r.get(60s), 200);
    EXPECT_EQ(counter.value(), 20 * 200);
}

TEST_P(PoolHandles, TheExecutorsSubmit) {
    if (GetParam() == "thread") GTEST_SKIP() << "the executor runs processes";
    end();  // one pool at a time is enough for this machine
    mp::futures::ProcessPoolExecutor ex({.max_workers = 2, .context = mp::get_context(GetParam())});
    mp::Value<int> v(0);
    std::vector<mp::futures::Future<int>> fs;
    for (int i = 1; i <= 10; ++i) fs.push_back(ex.submit(use_value, v, i));
    for (auto& f : fs) (void)f.result(60s);
    EXPECT_EQ(v.value(), 55);
}

TEST_P(PoolHandles, NoFdIsLeftInTheParent) {
    end();
    mp::Queue<int> q;  // made before the check: it is the test's, not the pool's
    mp::Value<int> v(0);
    {
        // Warm what stays open by design (the fork server, if any).
        mp::Pool warm = mp::get_context(GetParam() == "thread" ? "fork" : GetParam()).Pool(1);
        (void)warm.apply(put_one, q, 0);
        (void)q.get(10s);
    }
    mp::test::FdLeakCheck leaks;
    SetUp();
    for (int round = 0; round < 3; ++round) {
        std::vector<mp::AsyncResult<int>> rs;
        for (int i = 0; i < 50; ++i) rs.push_back(apply_async(put_one, q, i));
        for (int i = 0; i < 50; ++i) rs.push_back(apply_async(use_value, v, 1));
        for (auto& r : rs) (void)r.get(60s);
        for (int i = 0; i < 50; ++i) (void)q.get(10s);
    }
    end();
    EXPECT_EQ(v.value(), 150);
    EXPECT_TRUE(leaks.leaked().empty()) << leaks.leaked().size() << " fds left open";
}

TEST_P(PoolHandles, AWorkerHoldsNoFdOfTasksItFinished) {
    if (GetParam() == "thread") GTEST_SKIP() << "threads share the parent's fd table";
    end();
    mp::Pool one = mp::get_context(GetParam()).Pool(1);
    mp::Value<int> v(0);
    mp::Queue<int> q;
    (void)one.apply(use_value, v, 1);  // whatever a first task opens for good
    int before = one.apply(open_fd_count);
    for (int i = 0; i < 30; ++i) {
        (void)one.apply(use_value, v, 1);
        (void)one.apply(put_one, q, i);
        (void)q.get(10s);
    }
    EXPECT_EQ(one.apply(open_fd_count), before) << "the worker kept fds of finished tasks";
}

TEST_P(PoolHandles, AWorkerKilledWhileItHoldsATasksHandles) {
    if (GetParam() == "thread") GTEST_SKIP() << "a thread cannot be killed alone";
    end();
    mp::Queue<int> q;
    mp::test::FdLeakCheck leaks;
    {
        mp::Pool one = mp::get_context(GetParam()).Pool(1);
        auto dies = one.apply_async(put_then_die, q);
        // Queued behind it: not started when the worker dies, so they go to its
        // replacement with their fds.
        std::vector<mp::AsyncResult<int>> after;
        for (int i = 0; i < 5; ++i) after.push_back(one.apply_async(put_one, q, 10 + i));
        EXPECT_THROW((void)dies.get(60s), mp::WorkerLost);
        int sum = 0;
        for (auto& r : after) sum += r.get(60s);
        EXPECT_EQ(sum, 10 + 11 + 12 + 13 + 14);
        int got = 0;
        for (int i = 0; i < 6; ++i) got += q.get(10s);
        EXPECT_EQ(got, 1 + sum);
    }
    EXPECT_TRUE(leaks.leaked().empty()) << leaks.leaked().size() << " fds left open";
}

TEST_P(PoolHandles, TasksTakenBackFromABusyWorkerKeepTheirHandles) {
    // Tasks queued on one worker are given to an idle one (revoked, sent again).
    mp::Queue<int> q;
    std::vector<mp::AsyncResult<int>> rs;
    for (int i = 0; i < 40; ++i) rs.push_back(apply_async(sleep_then_put, q, i));
    long sum = 0;
    for (auto& r : rs) sum += r.get(60s);
    long got = 0;
    for (int i = 0; i < 40; ++i) got += q.get(10s);
    EXPECT_EQ(got, sum);
    EXPECT_EQ(sum, 39L * 40 / 2);
}

INSTANTIATE_TEST_SUITE_P(Methods, PoolHandles,
                         ::testing::Values("fork", "forkserver", "spawn", "thread"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(PoolHandlesErrors, ATaskWhoseFdsDidNotComeFailsClearly) {
    // A handle decoded with no fds for its task (as a transport that cannot carry them
    // would leave it) → ValueError in the worker → RemoteError naming the reason.
    mp::detail::FdSource none;
    mp::Queue<int> q;
    mp::detail::FdSink sink;
    Bytes b;
    mp::detail::Reduce<mp::Queue<int>>::save(q, b, sink);
    std::span<const std::byte> in = b;
    EXPECT_THROW((void)mp::detail::Reduce<mp::Queue<int>>::load(in, none), mp::ValueError);
}

}  // namespace
