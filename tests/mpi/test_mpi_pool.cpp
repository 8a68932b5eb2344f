// The Pool over MPI, run under `mpirun -n 3` (tests/mpi/mpirun.sh): rank 0 runs these
// tests, ranks 1 and 2 serve inside mp::mpi::init. `--hybrid` runs them again with
// workers_per_rank = 2 (a local Pool of 2 forked workers on each worker rank).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mp/mp.hpp"
#include "mp/mpi.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;

bool g_hybrid = false;

int square(int x) {
    return x * x;
}

int where() {
    return mp::mpi::rank();
}

int my_pid() {
    return static_cast<int>(::getpid());
}

int throws_out_of_range(int x) {
    throw std::out_of_range("item " + std::to_string(x) + " is out of range");
}

std::string shout(std::string s, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += s + "!";
    return out;
}

std::size_t sum_bytes(std::vector<unsigned char> v) {
    return std::accumulate(v.begin(), v.end(), std::size_t{0});
}

int slow_square(int x) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return x * x;
}

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int kill_myself(int) {
    ::raise(SIGKILL);
    return 0;
}

std::size_t expected_workers() {
    return static_cast<std::size_t>(mp::mpi::size() - 1) * (g_hybrid ? 2 : 1);
}

mp::Pool mpi_pool(mp::PoolOptions options = {}) {
    return mp::Pool(mp::mpi::pool_options(std::move(options)));
}

TEST(MpiPool, RanksAndWorkers) {
    EXPECT_EQ(mp::mpi::rank(), 0);
    EXPECT_EQ(mp::mpi::size(), 3);
    auto pool = mpi_pool();
    EXPECT_EQ(pool.processes(), expected_workers());
}

TEST(MpiPool, MapRunsOnTheOtherRanks) {
    auto pool = mpi_pool();
    std::vector<int> items(1000);
    std::iota(items.begin(), items.end(), 0);
    auto r = pool.map(square, items);
    ASSERT_EQ(r.size(), items.size());
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(r[static_cast<std::size_t>(i)], i * i);
    // Small chunks spread over both worker ranks, none of it on rank 0.
    auto ranks = pool.map([](int) { return mp::mpi::rank(); }, items, 1);
    std::set<int> seen(ranks.begin(), ranks.end());
    EXPECT_EQ(seen, (std::set<int>{1, 2}));
    EXPECT_NE(pool.apply(my_pid), static_cast<int>(::getpid()));
}

TEST(MpiPool, TheWholePoolApi) {
    auto pool = mpi_pool();
    EXPECT_EQ(pool.apply(square, 7), 49);
    EXPECT_GE(pool.apply(where), 1);
    EXPECT_EQ(pool.apply(shout, std::string("hey"), 2), "hey!hey!");
    std::vector<std::pair<std::string, int>> pairs{{"a", 1}, {"b", 3}};
    EXPECT_EQ(pool.starmap(shout, pairs), (std::vector<std::string>{"a!", "b!b!b!"}));
    std::vector<int> items{1, 2, 3, 4, 5};
    std::vector<int> ordered;
    for (int v : pool.imap(square, items)) ordered.push_back(v);
    EXPECT_EQ(ordered, (std::vector<int>{1, 4, 9, 16, 25}));
    std::multiset<int> unordered;
    for (int v : pool.imap_unordered(square, items)) unordered.insert(v);
    EXPECT_EQ(unordered, (std::multiset<int>{1, 4, 9, 16, 25}));
    auto m = pool.map_async(square, items);
    EXPECT_EQ(m.get(30s), (std::vector<int>{1, 4, 9, 16, 25}));

    std::vector<mp::AsyncResult<int>> rs;
    for (int i = 0; i < 2000; ++i) rs.push_back(pool.apply_async(square, i));
    long long total = 0;
    for (auto& r : rs) total += r.get(60s);
    long long want = 0;
    for (long long i = 0; i < 2000; ++i) want += i * i;
    EXPECT_EQ(total, want);

    std::atomic<int> called{0};
    pool.apply_async(square, 9).then([&called](int v) { called = v; }).wait();
    EXPECT_TRUE(mp::test::eventually([&] { return called.load() == 81; }));
}

TEST(MpiPool, LargeArgumentsAndResults) {
    auto pool = mpi_pool();
    std::vector<unsigned char> big(8u << 20, 3);  // 8 MiB each way through MPI
    EXPECT_EQ(pool.apply(sum_bytes, big), big.size() * 3);
    EXPECT_EQ(pool.apply(shout, std::string(1u << 20, 'x'), 3).size(), 3 * ((1u << 20) + 1));
}

TEST(MpiPool, ATaskExceptionIsARemoteErrorOnRankZero) {
    auto pool = mpi_pool();
    try {
        (void)pool.apply(throws_out_of_range, 5);
        FAIL() << "no exception";
    } catch (const mp::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::out_of_range");
        EXPECT_NE(std::string(e.what()).find("item 5 is out of range"), std::string::npos);
    }
    EXPECT_EQ(pool.apply(square, 3), 9);  // the pool goes on
}

TEST(MpiPool, CloseJoinAndOnePoolAtATime) {
    auto pool = mpi_pool();
    EXPECT_THROW(mpi_pool(), mp::ValueError);
    auto r = pool.map_async(square, std::vector<int>{1, 2, 3});
    pool.close();
    pool.join();
    EXPECT_EQ(r.get(1s), (std::vector<int>{1, 4, 9}));
    auto again = mpi_pool();  // the ranks serve the next pool
    EXPECT_EQ(again.apply(square, 12), 144);
}

TEST(MpiPool, TerminateDropsWorkAndTheNextPoolStartsClean) {
    {
        auto pool = mpi_pool();
        std::vector<int> items(20, 5);
        auto pending = pool.map_async(slow_square, items, 1);
        pool.terminate();
        EXPECT_THROW(pending.get(30s), mp::WorkerLost);
    }
    auto pool = mpi_pool();
    auto r = pool.map(square, std::vector<int>{6, 7}, 1);
    EXPECT_EQ(r, (std::vector<int>{36, 49}));
}

TEST(MpiPool, MaxTasksPerChild) {
    auto pool = mpi_pool(mp::PoolOptions{.maxtasksperchild = 3});
    std::vector<int> items(40);
    std::iota(items.begin(), items.end(), 0);
    auto r = pool.map(square, items, 1);
    for (int i = 0; i < 40; ++i) EXPECT_EQ(r[static_cast<std::size_t>(i)], i * i);
}

TEST(MpiPool, TheFuturesExecutor) {
    mp::futures::ProcessPoolExecutor ex(mp::mpi::executor_options());
    auto f = ex.submit(square, 11);
    EXPECT_EQ(f.result(), 121);
    EXPECT_GE(ex.submit(where).result(), 1);
    ex.shutdown(true);
}

TEST(MpiPool, TheMpiContext) {
    auto all = mp::get_all_start_methods();
    EXPECT_NE(std::find(all.begin(), all.end(), "mpi"), all.end());
    mp::Context ctx = mp::get_context("mpi");
    EXPECT_EQ(ctx.name(), "mpi");
    {
        mp::Pool pool(ctx);  // one worker per other rank
        EXPECT_EQ(pool.processes(), expected_workers());
        EXPECT_EQ(pool.map(square, std::vector<int>{1, 2, 3}), (std::vector<int>{1, 4, 9}));
        EXPECT_GE(pool.apply(where), 1);
    }
    {
        mp::Pool one = ctx.Pool(1);
        EXPECT_EQ(one.processes(), 1u);
        EXPECT_EQ(one.apply(square, 6), 36);
    }
    {
        mp::futures::ProcessPoolExecutor ex({.max_workers = 0, .context = ctx});
        EXPECT_EQ(ex.submit(square, 8).result(), 64);
    }
    // A context for Pools, not Processes.
    EXPECT_THROW((void)ctx.Process(square, 1), mp::ValueError);
}

// Set by the initializer on each worker (rank, or local worker of a rank), read by tasks.
int g_init_tag = 0;

void set_tag(int tag) {
    g_init_tag = tag;
}

// The tag and who saw it (rank, pid).
std::tuple<int, int, int> tag_here(int) {
    return {g_init_tag, mp::mpi::rank(), static_cast<int>(::getpid())};
}

int task_with_a_queue(mp::Queue<int> q) {
    q.put(1);
    return 1;
}

int task_with_a_lock(int x, mp::Lock l) {
    std::lock_guard g(l);
    return x;
}

void init_with_a_value(mp::Value<int> v) {
    v.value() = 1;
}

TEST(MpiPool, ASendableInitializerRunsOnEveryWorker) {
    mp::Context ctx = mp::get_context("mpi");
    mp::Pool pool = ctx.Pool(0, set_tag, 42);  // 0: every worker
    ASSERT_EQ(pool.processes(), expected_workers());
    // Slow enough tasks that every worker runs some: each saw the initializer.
    std::vector<int> items(4 * expected_workers());
    std::set<int> ranks;
    std::set<int> pids;
    for (int i = 0; i < 3 && ranks.size() < expected_workers() / (g_hybrid ? 2 : 1); ++i) {
        auto out = pool.map(
            [](int x) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                return tag_here(x);
            },
            items, 1);
        for (auto [tag, rank, pid] : out) {
            EXPECT_EQ(tag, 42);
            ranks.insert(rank);
            pids.insert(pid);
        }
    }
    EXPECT_EQ(ranks.size(), static_cast<std::size_t>(mp::mpi::size() - 1)) << "every rank ran";
    if (g_hybrid) {
        EXPECT_GT(pids.size(), ranks.size()) << "local workers ran it too";
    }
    pool.terminate();  // one MPI pool at a time
    mp::futures::ProcessPoolExecutor ex(
        mp::mpi::executor_options({.initializer = mp::detail::bind_initializer(set_tag, 7)}));
    EXPECT_EQ(std::get<0>(ex.submit(tag_here, 0).result()), 7);
}

TEST(MpiPool, AnInitializerThatCannotTravelIsRefused) {
    std::string data = "captured";
    try {
        mpi_pool(mp::PoolOptions{.initializer = [data] { (void)data.size(); }});
        FAIL() << "no exception";
    } catch (const mp::ValueError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("initializer"), std::string::npos) << what;
        EXPECT_NE(what.find("captureless lambda"), std::string::npos) << what;
    }
    mp::Value<int> v(0);
    try {
        (void)mp::get_context("mpi").Pool(0, init_with_a_value, v);
        FAIL() << "no exception";
    } catch (const mp::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("handle"), std::string::npos) << e.what();
    }
    EXPECT_EQ(mpi_pool().apply(square, 3), 9);  // the ranks are free for the next pool
}

TEST(MpiPool, AHandleAsATaskArgumentIsAValueErrorBeforeSending) {
    auto pool = mpi_pool();
    mp::Queue<int> q;
    mp::Lock l;
    try {
        (void)pool.apply_async(task_with_a_queue, q);
        FAIL() << "no exception";
    } catch (const mp::ValueError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("mp::Queue<int>"), std::string::npos) << what;
        EXPECT_NE(what.find("another machine"), std::string::npos) << what;
    }
    EXPECT_THROW((void)pool.apply(task_with_a_lock, 1, l), mp::ValueError);
    std::vector<std::tuple<int, mp::Lock>> items{{1, l}, {2, l}};
    EXPECT_THROW((void)pool.starmap(task_with_a_lock, items), mp::ValueError);
    EXPECT_EQ(q.qsize(), 0u) << "nothing ran";
    EXPECT_EQ(pool.apply(square, 5), 25);  // the pool goes on
}

TEST(MpiPool, AnIdleRankDoesNotBurnCpu) {
    auto pool = mpi_pool();
    // Each worker rank's own CPU time across 1.5 s of idling (no task sent meanwhile).
    double before = pool.apply(cpu_seconds);
    std::this_thread::sleep_for(1500ms);
    double after = pool.apply(cpu_seconds);
    // Spinning would cost ~1.5 s; the back-off (≤ 1 ms sleeps) costs a few ms. Generous for a
    // loaded machine (the measured rank may also be the one that ran the first apply).
    EXPECT_LT(after - before, 0.5) << "a waiting rank used " << (after - before) << " s of CPU";
}

TEST(MpiPool, HybridALocalWorkerThatDiesIsWorkerLost) {
    if (!g_hybrid) GTEST_SKIP() << "only with workers_per_rank > 0 (--hybrid)";
    auto pool = mpi_pool();
    try {
        (void)pool.apply(kill_myself, 1);
        FAIL() << "no exception";
    } catch (const mp::Error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("rank"), std::string::npos) << what;
        EXPECT_NE(what.find("signal 9"), std::string::npos) << what;
    }
    EXPECT_EQ(pool.apply(square, 4), 16);  // the rank replaced its local worker
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--hybrid") == 0) g_hybrid = true;
    }
    mp::mpi::init(argc, argv, {.workers_per_rank = g_hybrid ? 2 : 0});
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
