// Tests for <mp/futures.hpp>: API.md's concurrent.futures section, with CPython's
// semantics where they apply (and WorkerLost instead of BrokenProcessPool).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mp/futures.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
namespace fut = mp::futures;

namespace {

int square(int x) {
    return x * x;
}
int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}
int fail(int) {
    throw std::invalid_argument("no good");
}
int my_pid() {
    return static_cast<int>(::getpid());
}
int die(int) {
    ::_exit(7);
}
void nothing() {}

}  // namespace

TEST(Futures, SubmitAndResult) {
    fut::ProcessPoolExecutor ex(2);
    EXPECT_EQ(ex.max_workers(), 2u);
    fut::Future<int> f = ex.submit(square, 7);
    EXPECT_EQ(f.result(), 49);
    EXPECT_TRUE(f.done());
    EXPECT_FALSE(f.running());
    EXPECT_FALSE(f.cancelled());
    EXPECT_EQ(f.exception(), nullptr);
    ex.submit(nothing).result();
}

TEST(Futures, ResultTimeoutAndException) {
    fut::ProcessPoolExecutor ex(1);
    auto slow = ex.submit(sleep_ms, 600);
    EXPECT_THROW(slow.result(20ms), mp::TimeoutError);
    EXPECT_EQ(slow.result(10s), 600);
    auto bad = ex.submit(fail, 1);
    EXPECT_THROW(bad.result(), mp::RemoteError);
    auto e = bad.exception();
    ASSERT_NE(e, nullptr);
    try {
        std::rethrow_exception(e);
    } catch (const mp::RemoteError& r) {
        EXPECT_EQ(r.type_name(), "std::invalid_argument");
    }
}

TEST(Futures, RunningAndCancel) {
    fut::ProcessPoolExecutor ex(1);
    auto busy = ex.submit(sleep_ms, 500);
    auto queued = ex.submit(square, 3);
    ASSERT_TRUE(mp::test::eventually([&] { return busy.running(); }));
    EXPECT_FALSE(busy.cancel());  // running: cannot be cancelled
    EXPECT_TRUE(queued.cancel());
    EXPECT_TRUE(queued.cancelled());
    EXPECT_TRUE(queued.done());
    EXPECT_THROW(queued.result(), fut::CancelledError);
    EXPECT_THROW(queued.exception(), fut::CancelledError);
    EXPECT_EQ(busy.result(), 500);
    EXPECT_FALSE(busy.cancel());  // done
}

TEST(Futures, DoneCallbacks) {
    fut::ProcessPoolExecutor ex(2);
    std::atomic<int> got{0};
    auto f = ex.submit(square, 5);
    f.add_done_callback([&](fut::Future<int>& g) { got = g.result(); });
    ASSERT_TRUE(mp::test::eventually([&] { return got.load() == 25; }));
    int late = 0;
    f.add_done_callback([&](fut::Future<int>& g) { late = g.result() + 1; });  // at once
    EXPECT_EQ(late, 26);
}

TEST(Futures, AsCompletedYieldsInCompletionOrder) {
    fut::ProcessPoolExecutor ex(3);
    std::vector<fut::Future<int>> fs;
    fs.push_back(ex.submit(sleep_ms, 600));
    fs.push_back(ex.submit(sleep_ms, 0));
    fs.push_back(ex.submit(sleep_ms, 200));
    std::vector<int> order;
    for (auto& f : fut::as_completed(fs)) order.push_back(f.result());
    EXPECT_EQ(order, (std::vector<int>{0, 200, 600}));

    std::vector<fut::Future<int>> slow{ex.submit(sleep_ms, 2000)};
    EXPECT_THROW(
        {
            for (auto& f : fut::as_completed(slow, 50ms)) (void)f;
        },
        mp::TimeoutError);
}

TEST(Futures, WaitModes) {
    fut::ProcessPoolExecutor ex(2);
    std::vector<fut::Future<int>> fs{ex.submit(sleep_ms, 0), ex.submit(sleep_ms, 1500)};
    auto [done, not_done] = fut::wait(fs, fut::FIRST_COMPLETED, 10s);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_EQ(not_done.size(), 1u);
    std::vector<fut::Future<int>> gs{ex.submit(fail, 0), ex.submit(sleep_ms, 1500)};
    auto r = fut::wait(gs, fut::FIRST_EXCEPTION, 10s);
    EXPECT_EQ(r.done.size(), 1u);
    EXPECT_TRUE(r.done[0].failed());
    auto all = fut::wait(fs);
    EXPECT_EQ(all.done.size(), 2u);
    EXPECT_TRUE(all.not_done.empty());
    auto timed = fut::wait(std::vector<fut::Future<int>>{ex.submit(sleep_ms, 1000)},
                           fut::ALL_COMPLETED, 20ms);
    EXPECT_EQ(timed.not_done.size(), 1u);
}

TEST(Futures, MapWithChunksizeAndTimeout) {
    fut::ProcessPoolExecutor ex(2);
    std::vector<int> items(1000);
    for (int i = 0; i < 1000; ++i) items[i] = i;
    auto rs = ex.map(square, items, {.chunksize = 64});
    ASSERT_EQ(rs.size(), 1000u);
    EXPECT_EQ(rs[999], 999 * 999);
    EXPECT_EQ(ex.map(square, std::vector<int>{1, 2, 3}), (std::vector<int>{1, 4, 9}));
    EXPECT_THROW(ex.map(sleep_ms, std::vector<int>{1000, 1000}, {.chunksize = 1, .timeout = 30ms}),
                 mp::TimeoutError);
    EXPECT_THROW(ex.map(square, items, {.chunksize = 0}), mp::ValueError);
}

TEST(Futures, ADeadWorkerFailsOnlyItsFutureAndTheExecutorGoesOn) {
    fut::ProcessPoolExecutor ex(2);
    auto lost = ex.submit(die, 0);
    EXPECT_THROW(lost.result(), mp::WorkerLost);
    EXPECT_EQ(ex.submit(square, 4).result(), 16);
    std::vector<fut::Future<int>> pids;
    for (int i = 0; i < 4; ++i) pids.push_back(ex.submit(my_pid));
    for (auto& p : pids) EXPECT_GT(p.result(), 0);
}

TEST(Futures, ShutdownSemantics) {
    {
        fut::ProcessPoolExecutor ex(1);
        auto a = ex.submit(sleep_ms, 300);
        auto b = ex.submit(square, 2);
        ASSERT_TRUE(mp::test::eventually([&] { return a.running(); }));
        ex.shutdown(/*wait=*/true, /*cancel_futures=*/true);
        EXPECT_EQ(a.result(), 300);
        EXPECT_TRUE(b.cancelled());
        EXPECT_THROW(ex.submit(square, 1), mp::Error);
        ex.shutdown();  // twice is fine
    }
    {
        fut::ProcessPoolExecutor ex(
            fut::ExecutorOptions{.max_workers = 2, .max_tasks_per_child = 1});
        auto a = ex.submit(my_pid);
        auto b = ex.submit(square, 3);
        ex.shutdown(/*wait=*/false);
        EXPECT_EQ(b.result(), 9);
        EXPECT_GT(a.result(), 0);
    }
    EXPECT_THROW(fut::ProcessPoolExecutor(0), mp::ValueError);
    EXPECT_THROW(fut::ProcessPoolExecutor(fut::ExecutorOptions{.max_workers = -1}), mp::ValueError);
}

TEST(Futures, InitializerAndMaxTasksPerChild) {
    static_assert(std::is_base_of_v<mp::Error, fut::CancelledError>);
    fut::ProcessPoolExecutor ex(
        fut::ExecutorOptions{.max_workers = 1, .initializer = [] {}, .max_tasks_per_child = 2});
    std::vector<int> pids;
    for (int i = 0; i < 6; ++i) pids.push_back(ex.submit(my_pid).result());
    EXPECT_EQ(pids[0], pids[1]);
    EXPECT_NE(pids[1], pids[2]);
    EXPECT_NE(pids[3], pids[4]);
}
