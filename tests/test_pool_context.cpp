// The Pool under every start method: workers made by a fork of the parent ("fork") or
// from a fresh image of the program ("forkserver", "spawn"): map, apply_async + then,
// lazy imap, a killed worker, an initializer with handle arguments, maxtasksperchild,
// the executor, a killed zygote — one parameterized run per method. Also what only a
// fresh image does (no state set after start-up; a non-sendable initializer refused),
// the "mpi" context before mp::mpi::init, and a busy threaded parent making several
// forkserver Pools.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <ranges>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "busy_threads.hpp"
#include "mp/context.hpp"
#include "mp/futures.hpp"
#include "mp/pool.hpp"
#include "mp/queue.hpp"
#include "mp/sharedctypes.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

int square(int x) {
    return x * x;
}

int worker_pid(int) {
    return static_cast<int>(::getpid());
}

int parent_of_worker(int) {
    return static_cast<int>(::getppid());
}

int sleep_then(int x) {
    ::usleep(200'000);
    return x;
}

int sleep_long(int x) {
    ::sleep(60);
    return x;
}

int g_from_init = 0;  // set by an initializer, read by tasks (per worker)
int g_set_late = 0;   // set by the test after start-up: a fresh image never sees it

void init_with_handles(mp::Value<int> count, mp::Queue<int> q, int tag) {
    {
        auto lock = count.get_lock();
        count.value() += 1;
    }
    g_from_init = tag;
    q.put(static_cast<int>(::getpid()));
}

int read_from_init(int) {
    return g_from_init;
}

int read_set_late(int) {
    return g_set_late;
}

class PoolMethod : public ::testing::TestWithParam<std::string> {
  protected:
    mp::Context ctx() const { return mp::get_context(GetParam()); }
};

TEST_P(PoolMethod, MapApplyAndStarmap) {
    mp::Pool pool = ctx().Pool(2);
    EXPECT_EQ(pool.processes(), 2u);
    std::vector<int> in(100);
    for (int i = 0; i < 100; ++i) in[i] = i;
    auto out = pool.map(square, in);
    ASSERT_EQ(out.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(out[i], i * i);
    EXPECT_EQ(pool.apply(square, 12), 144);
    auto sums = pool.starmap([](int a, int b) { return a + b; },
                             std::vector<std::pair<int, int>>{{1, 2}, {3, 4}});
    EXPECT_EQ(sums, (std::vector<int>{3, 7}));
}

TEST_P(PoolMethod, ApplyAsyncThenRunsInTheBackground) {
    mp::Pool pool(mp::PoolOptions{.processes = 2, .context = ctx()});
    std::atomic<int> sum{0};
    for (int i = 1; i <= 10; ++i)
        pool.apply_async(square, i).then([&sum](int v) { sum.fetch_add(v); });
    // Nobody waits in a pool call: the pool's thread must get them all done.
    EXPECT_TRUE(mp::test::eventually([&] { return sum.load() == 385; }, 60s)) << sum.load();
}

TEST_P(PoolMethod, LazyImapOverAnInfiniteRange) {
    mp::Pool pool = ctx().Pool(2);
    int seen = 0;
    for (int v : pool.imap(square, std::views::iota(0))) {
        EXPECT_EQ(v, seen * seen);
        if (++seen == 50) break;
    }
    EXPECT_EQ(seen, 50);
    std::multiset<int> un;
    for (int v : pool.imap_unordered(square, std::vector<int>{1, 2, 3})) un.insert(v);
    EXPECT_EQ(un, (std::multiset<int>{1, 4, 9}));
}

TEST_P(PoolMethod, AKilledWorkerFailsItsTaskAndThePoolGoesOn) {
    mp::Pool pool = ctx().Pool(1);
    auto r = pool.apply_async(sleep_long, 1);
    pid_t victim = 0;
    ASSERT_TRUE(mp::test::eventually(
        [&] {
            auto pids = pool.worker_pids();
            if (pids.empty()) return false;
            victim = pids.front();
            return true;
        },
        30s));
    ::usleep(100'000);  // let it claim the task
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    EXPECT_THROW(r.get(60s), mp::WorkerLost);
    EXPECT_EQ(pool.apply(square, 7), 49);
    EXPECT_NE(pool.apply(worker_pid, 0), victim);
}

TEST_P(PoolMethod, InitializerWithValueAndQueueHandles) {
    mp::Value<int> count(0);
    mp::Queue<int> q;
    mp::Pool pool = ctx().Pool(2, init_with_handles, count, q, 7);
    std::set<int> pids{q.get(60s), q.get(60s)};
    EXPECT_EQ(pids.size(), 2u);
    EXPECT_EQ(count.value(), 2);
    auto tags = pool.map(read_from_init, std::vector<int>(8, 0), 1);
    for (int t : tags) EXPECT_EQ(t, 7);
}

TEST_P(PoolMethod, MaxTasksPerChildReplacesWorkers) {
    mp::Pool pool(mp::PoolOptions{.processes = 1, .maxtasksperchild = 2, .context = ctx()});
    auto pids = pool.map(worker_pid, std::vector<int>(6, 0), 1);
    std::set<int> distinct(pids.begin(), pids.end());
    EXPECT_EQ(distinct.size(), 3u);
}

TEST_P(PoolMethod, ExecutorSubmitAndMap) {
    mp::futures::ProcessPoolExecutor ex({.max_workers = 2, .context = ctx()});
    auto f = ex.submit(square, 9);
    EXPECT_EQ(f.result(60s), 81);
    EXPECT_EQ(ex.map(square, std::vector<int>{1, 2, 3}), (std::vector<int>{1, 4, 9}));
}

TEST_P(PoolMethod, AKilledZygoteIsReplaced) {
    mp::Pool pool = ctx().Pool(2);
    pid_t zygote = pool.apply(parent_of_worker, 0);
    ASSERT_GT(zygote, 1);
    ASSERT_NE(zygote, ::getpid());
    auto running = pool.apply_async(sleep_long, 1);
    ::usleep(100'000);
    ASSERT_EQ(::kill(zygote, SIGKILL), 0);
    // Its workers died with it: the running task is lost, the pool goes on.
    EXPECT_THROW(running.get(60s), mp::WorkerLost);
    EXPECT_EQ(pool.apply(square, 3), 9);
    pid_t zygote2 = pool.apply(parent_of_worker, 0);
    EXPECT_NE(zygote2, zygote);
    // A worker of the new zygote dies: replaced as ever.
    auto pids = pool.worker_pids();
    ASSERT_FALSE(pids.empty());
    ASSERT_EQ(::kill(pids.front(), SIGKILL), 0);
    auto out = pool.map(square, std::vector<int>{1, 2, 3, 4}, 1);
    EXPECT_EQ(out, (std::vector<int>{1, 4, 9, 16}));
    auto later = pool.map(sleep_then, std::vector<int>{5, 6}, 1);
    EXPECT_EQ(later, (std::vector<int>{5, 6}));
}

INSTANTIATE_TEST_SUITE_P(StartMethods, PoolMethod, ::testing::Values("fork", "forkserver", "spawn"),
                         [](const auto& p) { return p.param; });

// ---- what only a fresh image does ----------------------------------------------------------

class PoolFreshImage : public ::testing::TestWithParam<std::string> {};

TEST_P(PoolFreshImage, WorkersSeeNoStateSetAfterStartUp) {
    g_set_late = 42;
    mp::Pool pool = mp::get_context(GetParam()).Pool(1);
    EXPECT_EQ(pool.apply(read_set_late, 0), 0);
    mp::Pool forked = mp::get_context("fork").Pool(1);
    EXPECT_EQ(forked.apply(read_set_late, 0), 42);
    g_set_late = 0;
}

TEST_P(PoolFreshImage, ANonSendableInitializerIsRefusedAtConstruction) {
    std::string data = "captured";
    try {
        mp::Pool pool(mp::PoolOptions{.processes = 1,
                                      .initializer = [data] { (void)data.size(); },
                                      .context = mp::get_context(GetParam())});
        FAIL() << "expected ValueError";
    } catch (const mp::ValueError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find(GetParam()), std::string::npos) << what;
        EXPECT_NE(what.find("arguments"), std::string::npos) << what;
    }
    // The same initializer is fine under fork (inherited).
    mp::Pool ok(mp::PoolOptions{.processes = 1,
                                .initializer = [data] { (void)data.size(); },
                                .context = mp::get_context("fork")});
    EXPECT_EQ(ok.apply(square, 2), 4);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, PoolFreshImage, ::testing::Values("forkserver", "spawn"),
                         [](const auto& p) { return p.param; });

int g_at_creation = 0;  // set before the Pool, changed after it

int read_at_creation(int) {
    return g_at_creation;
}

pid_t ppid_of(pid_t pid) {
    std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (f == nullptr) return -1;
    char buf[512] = {};
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string line(buf, n);
    auto close = line.rfind(')');
    if (close == std::string::npos) return -1;
    char state = 0;
    int ppid = -1;
    if (std::sscanf(line.c_str() + close + 2, "%c %d", &state, &ppid) != 2) return -1;
    return ppid;
}

TEST(PoolContext, ForkReplacementZygotesSeeTheProgramAsItWasAtPoolCreation) {
    // fork's promise: workers see the state at Pool creation, also those made after
    // the zygote that forks them was killed (its replacement is a fork of the keeper,
    // not of the parent as it is now).
    g_at_creation = 1;
    mp::Pool pool = mp::get_context("fork").Pool(2);
    g_at_creation = 2;
    EXPECT_EQ(pool.apply(read_at_creation, 0), 1);
    for (int round = 0; round < 2; ++round) {
        pid_t zygote = pool.apply(parent_of_worker, 0);
        ASSERT_GT(zygote, 1);
        ASSERT_NE(zygote, ::getpid());
        ASSERT_EQ(::kill(zygote, SIGKILL), 0);
        // Workers of the new zygote. Until the killed one has died, its workers still report
        // it as their parent, and a round trip is far quicker than a death on a busy machine:
        // ask for up to 30 s, not for a number of tries.
        pid_t now = zygote;
        for (auto until = std::chrono::steady_clock::now() + 30s;
             now == zygote && std::chrono::steady_clock::now() < until;) {
            try {
                now = pool.apply(parent_of_worker, 0);
            } catch (const mp::WorkerLost&) {
            }
        }
        EXPECT_NE(now, zygote);
        EXPECT_NE(now, ::getpid());  // not forked from this (threaded) process
        auto seen = pool.map(read_at_creation, std::vector<int>(8, 0), 1);
        EXPECT_EQ(seen, std::vector<int>(8, 1)) << "round " << round;
    }
    g_at_creation = 0;
}

TEST(PoolContext, ForkPoolWhoseKeeperAndZygoteWereKilledSaysSoAndDoesNotHang) {
    mp::Pool pool = mp::get_context("fork").Pool(1);
    pid_t zygote = pool.apply(parent_of_worker, 0);
    pid_t keeper = ppid_of(zygote);
    ASSERT_GT(keeper, 1);
    ASSERT_NE(keeper, ::getpid());
    ASSERT_EQ(ppid_of(keeper), ::getpid());
    ASSERT_EQ(::kill(keeper, SIGKILL), 0);
    // The zygote goes on: the pool still serves.
    EXPECT_EQ(pool.apply(square, 4), 16);
    ASSERT_EQ(::kill(zygote, SIGKILL), 0);
    // No copy of the program at creation is left: tasks fail with a clear error. Until the
    // killed zygote has died its worker still serves: ask for up to 30 s, not a number of tries.
    bool failed = false;
    for (auto until = std::chrono::steady_clock::now() + 30s;
         !failed && std::chrono::steady_clock::now() < until;) {
        try {
            (void)pool.apply_async(square, 5).get(60s);
        } catch (const mp::WorkerLost&) {
        } catch (const mp::OSError& e) {
            failed = true;
            EXPECT_NE(std::string(e.what()).find("keeper"), std::string::npos) << e.what();
        }
    }
    EXPECT_TRUE(failed);
}

TEST(PoolContext, DefaultSizeAndTheMpiContextBeforeInit) {
    mp::Pool pool(mp::get_context("spawn"));
    EXPECT_EQ(pool.processes(), static_cast<std::size_t>(mp::cpu_count()));
    EXPECT_EQ(pool.apply(square, 5), 25);
    try {
        (void)mp::get_context("mpi");
        FAIL() << "expected ValueError";
    } catch (const mp::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("mp::mpi::init"), std::string::npos) << e.what();
    }
    auto all = mp::get_all_start_methods();
    EXPECT_EQ(all, (std::vector<std::string>{"fork", "forkserver", "spawn"}));
    EXPECT_THROW((void)mp::get_context("nope"), mp::ValueError);
}

TEST(PoolContext, ABusyThreadedParentMakesSeveralForkServerPools) {
    mp::test::BusyThreads busy(3);
    auto ctx = mp::get_context("forkserver");
    for (int i = 0; i < 6; ++i) {
        mp::Pool pool = ctx.Pool(2);
        auto out = pool.map(square, std::vector<int>{1, 2, 3, i}, 1);
        ASSERT_EQ(out, (std::vector<int>{1, 4, 9, i * i})) << i;
    }
}

}  // namespace
