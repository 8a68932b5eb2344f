// Tests for <mp/thread_pool.hpp>: the Pool API on threads, any callable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mp/thread_pool.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {
int square(int x) {
    return x * x;
}
thread_local int initialized_here = 0;
}  // namespace

TEST(ThreadPool, CapturingLambdasAndStdFunctionWork) {
    mp::ThreadPool pool(3);
    EXPECT_EQ(pool.processes(), 3u);
    std::string prefix = "item ";
    auto names =
        pool.map([prefix](int i) { return prefix + std::to_string(i); }, std::vector<int>{1, 2, 3});
    EXPECT_EQ(names, (std::vector<std::string>{"item 1", "item 2", "item 3"}));
    std::function<int(int)> f = [k = std::vector<int>{10}](int x) { return x + k[0]; };
    EXPECT_EQ(pool.apply(f, 5), 15);
    EXPECT_EQ(pool.apply(square, 4), 16);
    // Tasks run in this process: they see (and may change) its memory.
    std::atomic<int> hits{0};
    pool.map([&hits](int) { ++hits; }, std::vector<int>(100));
    EXPECT_EQ(hits.load(), 100);
    EXPECT_EQ(pool.apply([] { return static_cast<int>(::getpid()); }),
              static_cast<int>(::getpid()));
}

TEST(ThreadPool, AsyncCallbacksImapAndErrors) {
    mp::ThreadPool pool(2);
    std::atomic<int> got{0};
    pool.apply_async([](int x) { return x * 3; }, 7).then([&](int v) { got = v; });
    EXPECT_TRUE(mp::test::eventually([&] { return got.load() == 21; }));
    int base = 100;
    std::vector<int> in;
    for (int r : pool.imap([base](int x) { return base + x; }, std::views::iota(0, 50)))
        in.push_back(r);
    ASSERT_EQ(in.size(), 50u);
    EXPECT_EQ(in[49], 149);
    std::set<int> un;
    for (int r : pool.imap_unordered([](int x) { return -x; }, std::vector<int>{1, 2, 3}))
        un.insert(r);
    EXPECT_EQ(un, (std::set<int>{-3, -2, -1}));
    EXPECT_THROW(pool.apply([](int) -> int { throw std::logic_error("nope"); }, 1),
                 mp::RemoteError);
    auto sums = pool.starmap([](int a, int b) { return a + b; },
                             std::vector<std::pair<int, int>>{{1, 2}, {3, 4}});
    EXPECT_EQ(sums, (std::vector<int>{3, 7}));
}

TEST(ThreadPool, InitializerRunsOncePerThreadAndMaxTasksReplacesThreads) {
    std::atomic<int> inits{0};
    mp::ThreadPool pool(mp::PoolOptions{.processes = 2,
                                        .initializer =
                                            [&inits] {
                                                ++inits;
                                                initialized_here = 1;
                                            },
                                        .maxtasksperchild = 3});
    auto seen = pool.map([](int) { return initialized_here; }, std::vector<int>(30), 1);
    for (int s : seen) EXPECT_EQ(s, 1);
    EXPECT_GE(inits.load(), 10);  // 30 tasks, 3 per thread
    pool.close();
    pool.join();
}

TEST(ThreadPool, TerminateWithQueuedTasks) {
    mp::ThreadPool pool(1);
    auto slow = pool.apply_async([] {
        std::this_thread::sleep_for(200ms);
        return 1;
    });
    std::vector<mp::AsyncResult<int>> rest;
    for (int i = 0; i < 10; ++i) rest.push_back(pool.apply_async(square, i));
    pool.terminate();
    int lost = 0;
    for (auto& r : rest) {
        try {
            r.get(5s);
        } catch (const mp::WorkerLost&) {
            ++lost;
        }
    }
    EXPECT_GT(lost, 0);
    EXPECT_THROW(pool.apply(square, 1), mp::ValueError);
    EXPECT_THROW(mp::ThreadPool(0), mp::ValueError);
}
