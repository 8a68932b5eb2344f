// Threads in one process sharing mp objects: Queue, Pool, Lock, Condition, Event, Barrier,
// SharedMemory. ./test.sh also runs this file under ThreadSanitizer (build-tsan/), so a data
// race inside mp, or a lock-order inversion, fails the suite. Each case ends within seconds.
#include <gtest/gtest.h>
#include <mp/mp.hpp>

#include <atomic>
#include <chrono>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {

long square(long x) {
    return x * x;
}

}  // namespace

TEST(Threads, QueueWithProducerAndConsumerThreads) {
    mp::Queue<long> q(64);  // bounded: producers sleep for space, consumers for items
    constexpr int kProducers = 4, kPer = 2000, kConsumers = 2;
    std::atomic<long> sum{0};
    std::atomic<int> got{0};
    std::vector<std::thread> ts;
    for (int p = 0; p < kProducers; ++p)
        ts.emplace_back([&q, p] {
            for (int i = 1; i <= kPer; ++i) q.put(long{p} * kPer + i, 30s);
        });
    for (int c = 0; c < kConsumers; ++c)
        ts.emplace_back([&] {
            while (got.fetch_add(1) < kProducers * kPer) sum += q.get(30s);
        });
    for (auto& t : ts) t.join();
    const long n = long{kProducers} * kPer;
    EXPECT_EQ(sum.load(), n * (n + 1) / 2);
    EXPECT_TRUE(q.empty());
}

TEST(Threads, PoolUsedFromSeveralThreads) {
    mp::Pool pool(2);
    std::vector<std::thread> ts;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 3; ++t)
        ts.emplace_back([&pool, &wrong, t] {
            std::vector<long> xs(50);
            std::iota(xs.begin(), xs.end(), long{t} * 100);
            auto ys = pool.map(square, xs);
            for (std::size_t i = 0; i < xs.size(); ++i)
                if (ys[i] != xs[i] * xs[i]) ++wrong;
            auto r = pool.apply_async(square, long{t});
            if (r.get() != long{t} * t) ++wrong;
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(wrong.load(), 0);
}

TEST(Threads, LockGuardsAPlainCounter) {
    mp::Lock lock;
    long counter = 0;  // guarded by `lock` only: TSan sees a race if the lock does not order
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
            for (int i = 0; i < 5000; ++i) {
                std::lock_guard g(lock);
                ++counter;
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(counter, 20000);
}

TEST(Threads, ConditionHandOffAndRLock) {
    mp::Condition cond;
    int stage = 0;  // guarded by cond's lock
    std::thread other([&] {
        std::lock_guard g(cond);
        EXPECT_TRUE(cond.wait_for([&] { return stage == 1; }, 30s));
        stage = 2;
        cond.notify_all();
    });
    {
        std::lock_guard g(cond);
        stage = 1;
        cond.notify_all();
        EXPECT_TRUE(cond.wait_for([&] { return stage == 2; }, 30s));
    }
    other.join();
    mp::RLock r;
    std::thread t([&] {
        std::lock_guard a(r);
        std::lock_guard b(r);
    });
    t.join();
    EXPECT_FALSE(r.locked());
}

TEST(Threads, EventAndBarrierAcrossThreads) {
    mp::Event go;
    mp::Barrier bar(3);
    std::atomic<int> passed{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 3; ++t)
        ts.emplace_back([&] {
            if (!go.wait(30s)) return;
            for (int round = 0; round < 20; ++round) bar.wait(30s);
            ++passed;
        });
    go.set();
    for (auto& t : ts) t.join();
    EXPECT_EQ(passed.load(), 3);
}

TEST(Threads, SharedMemoryCreatedFromManyThreads) {
    // The first creation starts the resource tracker: several threads race to it.
    std::vector<std::thread> ts;
    std::atomic<int> ok{0};
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
            for (int i = 0; i < 10; ++i) {
                mp::SharedMemory shm(4096);
                shm.buf()[0] = std::byte{1};
                mp::SharedMemory again(shm.name());
                if (again.buf()[0] == std::byte{1}) ++ok;
                shm.unlink();
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(ok.load(), 40);
}
