// Tests for <mp/pool.hpp>: every line of API.md's Pool section, failures (RemoteError,
// WorkerLost), lifetime (close/join/terminate, no leaks) and the examples' output.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <list>
#include <map>
#include <numeric>
#include <ranges>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include "mp/detail/shared_region.hpp"
#include "mp/pool.hpp"
#include "mp/process.hpp"
#include "mp/queue.hpp"
#include "mp/sharedctypes.hpp"
#include "mp/synchronize.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

int square(int x) {
    return x * x;
}
int add(int a, int b) {
    return a + b;
}
int my_pid(int) {
    return static_cast<int>(::getpid());
}
int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}
int fail_on_3(int x) {
    if (x == 3) throw std::out_of_range("item 3 is out of range");
    return x;
}
struct MyError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
int throw_mine(int) {
    throw MyError("custom failure");
}
int throw_int(int) {
    throw 42;
}
int exit_3(int) {
    ::_exit(3);
}

struct Point {
    int x = 0;
    int y = 0;
};
Point twice(Point p) {
    return Point{2 * p.x, 2 * p.y};
}

std::string shout(const std::string& s) {
    return s + "!";
}
std::size_t length_of(const std::string& s) {
    return s.size();
}
std::vector<int> iota_to(int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    return v;
}

// State shared with the workers through fork: created before the Pools that use it.
struct Shared {
    std::atomic<int> pid{0};         // set by a task that wants to be killed
    std::atomic<int> init_calls{0};  // initializer runs, all workers together
    std::atomic<int> counter{0};     // incremented by tasks
};
Shared* shared() {
    static mp::detail::SharedRegion region(sizeof(Shared));
    static Shared* s = new (region.data()) Shared;
    return s;
}
int announce_and_hang(int) {
    shared()->pid.store(static_cast<int>(::getpid()));
    std::this_thread::sleep_for(60s);
    return 0;
}
int g_worker_tag = 0;  // set by the initializer, per worker
void init_tag(int tag) {
    g_worker_tag = tag;
    shared()->init_calls.fetch_add(1);
}
int read_tag(int) {
    return g_worker_tag;
}
int count_task(int) {
    return shared()->counter.fetch_add(1) + 1;
}
void init_throws() {
    throw std::invalid_argument("bad initializer argument");
}
void init_exits() {
    ::_exit(7);
}

// The seed's case: a Value handed to each worker by the initializer, incremented under
// get_lock() by every task.
std::optional<mp::Value<int>> g_counter;
void init_counter(mp::Value<int> v) {
    g_counter = v;
}
int increment_counter(int) {
    std::lock_guard g(g_counter->get_lock());
    g_counter->value() += 1;
    return g_counter->value();
}
std::optional<mp::Queue<int>> g_log;
void init_log(mp::Queue<int> q) {
    g_log = q;
}
int log_and_square(int x) {
    g_log->put(x);
    return x * x;
}

struct Scale {  // a trivially copyable function object with state
    int factor;
    int operator()(int x) const { return factor * x; }
};

template <class F>
double seconds_of(F&& f) {
    auto t = Clock::now();
    f();
    return std::chrono::duration<double>(Clock::now() - t).count();
}

void reset_shared() {
    shared()->pid = 0;
    shared()->init_calls = 0;
    shared()->counter = 0;
}

}  // namespace

// ---- what can be sent ------------------------------------------------------------------

TEST(PoolCallable, AcceptsFunctionsCaptureLessLambdasAndTriviallyCopyableObjects) {
    auto lambda = [](int x) { return x; };
    int k = 3;
    auto capturing_int = [k](int x) { return k * x; };
    std::string s;
    auto capturing_string = [s](int) { return 0; };
    static_assert(mp::detail::PoolCallable<int (*)(int)>);
    static_assert(mp::detail::PoolCallable<decltype(lambda)>);
    static_assert(mp::detail::PoolCallable<decltype(capturing_int)>);
    static_assert(mp::detail::PoolCallable<Scale>);
    static_assert(!mp::detail::PoolCallable<decltype(capturing_string)>);
    static_assert(!mp::detail::PoolCallable<std::function<int(int)>>);
    (void)capturing_string;
    SUCCEED();
}

TEST(PoolCallable, OtherCallablesAndTypesAreClearCompileErrors) {
    struct Case {
        const char* code;
        const char* message;
    };
    for (Case c : {Case{"std::string s = \"x\"; pool.apply([s](int x) { return x; }, 1);",
                        "cannot cross a process boundary: pass"},
                   Case{"std::function<int(int)> f = [](int x) { return x; }; pool.map(f, "
                        "std::vector<int>{1});",
                        "must be a function, a captureless lambda"},
                   Case{"pool.apply([](const char* p) { return p[0]; }, \"abc\");",
                        "argument's type cannot cross"},
                   Case{"pool.map([](int x) { return &x; }, std::vector<int>{1});",
                        "cannot cross a process boundary"}}) {
        std::string program = std::string(
                                  "#include <mp/pool.hpp>\n#include <functional>\n#include "
                                  "<string>\nint main() { mp::Pool pool(1); ") +
                              c.code + " }\n";
        auto r = mp::test::run_program(
            "/bin/sh", {"-c", "c++ -std=c++20 -fsyntax-only -I" MP_SOURCE_DIR "/include -x c++ -"},
            program, 120s);
        EXPECT_NE(r.exit_code, 0) << c.code;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << c.code << "\n"
                                                            << r.err.substr(0, 3000);
    }
}

TEST(PoolCallable, CodeReferencesAreModuleOffsetsThatResolveBack) {
    auto ref = mp::detail::code_ref(reinterpret_cast<const void*>(&square));
    EXPECT_EQ(mp::detail::resolve_code(ref), reinterpret_cast<const void*>(&square));
    auto libc_ref = mp::detail::code_ref(reinterpret_cast<const void*>(&::getpid));
    EXPECT_NE(libc_ref.module, ref.module);  // getpid lives in libc, not in the test program
    EXPECT_EQ(mp::detail::resolve_code(libc_ref), reinterpret_cast<const void*>(&::getpid));
    EXPECT_EQ(mp::detail::resolve_code(mp::detail::CodeRef{0x1234, 0}), nullptr);
    int on_stack = 0;
    EXPECT_THROW(mp::detail::code_ref(&on_stack), mp::ValueError);
}

// A task is named by module + offset, never by address: a process that was not forked
// from this one (here: this test program exec'ed anew, loaded at another address under
// ASLR) runs it. This is what a fork server or MPI ranks would rely on.
std::string to_hex(const mp::Bytes& b) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (std::byte x : b) {
        s += digits[static_cast<unsigned>(x) >> 4];
        s += digits[static_cast<unsigned>(x) & 15];
    }
    return s;
}
mp::Bytes from_hex(const std::string& s) {
    mp::Bytes b;
    for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
        b.push_back(static_cast<std::byte>(std::stoi(s.substr(i, 2), nullptr, 16)));
    }
    return b;
}
using SquareTrampoline =
    std::integral_constant<mp::detail::Trampoline,
                           &mp::detail::apply_trampoline<int (*)(int), int, int>>;

TEST(PoolCallable, ExecHelperRunsATaskFromItsDescription) {
    const char* task = std::getenv("MP_POOL_TEST_TASK");
    if (task == nullptr) GTEST_SKIP() << "helper of ATaskRunsInAProcessThatDidNotForkFromThisOne";
    std::istringstream in(task);
    mp::detail::CodeRef ref;
    std::string callable, args;
    in >> ref.module >> ref.offset >> callable >> args;
    const void* code = mp::detail::resolve_code(ref);
    ASSERT_NE(code, nullptr);
    auto tramp = reinterpret_cast<mp::detail::Trampoline>(const_cast<void*>(code));
    mp::Bytes out;
    tramp(from_hex(callable), from_hex(args), out);
    std::printf("RESULT %d AT %p\n", mp::deserialize<int>(out), code);
}

TEST(PoolCallable, ATaskRunsInAProcessThatDidNotForkFromThisOne) {
    const mp::detail::CodeRef& ref = mp::detail::trampoline_ref<SquareTrampoline::value>();
    mp::Bytes callable, args;
    mp::detail::encode_callable(&square, callable);
    mp::detail::encode_args(std::tuple<int>(12), args);
    char exe[4096] = {};
    ASSERT_GT(::readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
    std::string cmd = "MP_POOL_TEST_TASK='" + std::to_string(ref.module) + " " +
                      std::to_string(ref.offset) + " " + to_hex(callable) + " " + to_hex(args) +
                      "' exec " + exe +
                      " --gtest_filter=PoolCallable.ExecHelperRunsATaskFromItsDescription";
    auto r = mp::test::run_program("/bin/sh", {"-c", cmd}, "", 60s);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("RESULT 144"), std::string::npos) << r.out;
    char here[64];
    std::snprintf(here, sizeof here, "AT %p",
                  reinterpret_cast<const void*>(SquareTrampoline::value));
    std::printf("trampoline here %s; in the exec'ed process %s\n", here,
                r.out
                    .substr(r.out.find("AT 0x"),
                            r.out.find('\n', r.out.find("AT 0x")) - r.out.find("AT 0x"))
                    .c_str());
}

// ---- construction ----------------------------------------------------------------------

TEST(Pool, DefaultHasCpuCountWorkers) {
    mp::Pool pool;
    EXPECT_EQ(pool.processes(), static_cast<std::size_t>(mp::cpu_count()));
    EXPECT_EQ(pool.worker_pids().size(), pool.processes());
}

TEST(Pool, BadProcessCountsThrowValueError) {
    EXPECT_THROW(mp::Pool(0), mp::ValueError);
    EXPECT_THROW(mp::Pool(-2), mp::ValueError);
    EXPECT_THROW(mp::Pool(mp::PoolOptions{.processes = -1}), mp::ValueError);
    EXPECT_TRUE(mp::test::child_pids().empty());
}

// ---- map and friends -------------------------------------------------------------------

TEST(Pool, MapKeepsOrderForEveryChunksize) {
    mp::Pool pool(3);
    std::vector<int> items(1000);
    std::iota(items.begin(), items.end(), -500);
    std::vector<int> expected;
    for (int x : items) expected.push_back(x * x);
    EXPECT_EQ(pool.map(square, items), expected);
    for (std::size_t cs : {1u, 7u, 333u, 1000u, 5000u})
        EXPECT_EQ(pool.map(square, items, cs), expected) << cs;
}

TEST(Pool, MapOfEmptyInputIsEmpty) {
    mp::Pool pool(2);
    EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
    EXPECT_TRUE(pool.map_async(square, std::vector<int>{}).get().empty());
    EXPECT_TRUE(pool.starmap(add, std::vector<std::pair<int, int>>{}).empty());
    int n = 0;
    for (int r : pool.imap(square, std::vector<int>{})) n += r + 1;
    for (int r : pool.imap_unordered(square, std::vector<int>{})) n += r + 1;
    EXPECT_EQ(n, 0);
}

TEST(Pool, MapAcceptsAnyRange) {
    mp::Pool pool(2);
    EXPECT_EQ(pool.map(square, {1, 2, 3, 4}), (std::vector<int>{1, 4, 9, 16}));
    EXPECT_EQ(pool.map(square, std::views::iota(0, 5)), (std::vector<int>{0, 1, 4, 9, 16}));
    EXPECT_EQ(pool.map(square, std::list<int>{3, 4}), (std::vector<int>{9, 16}));
    auto odd = std::views::iota(0, 10) | std::views::filter([](int x) { return x % 2 == 1; });
    EXPECT_EQ(pool.map(square, odd), (std::vector<int>{1, 9, 25, 49, 81}));
}

TEST(Pool, ArgumentsAndResultsOfManyTypes) {
    mp::Pool pool(2);
    EXPECT_EQ(pool.map(shout, std::vector<std::string>{"a", "bc", ""}),
              (std::vector<std::string>{"a!", "bc!", "!"}));
    auto pts = pool.map(twice, std::vector<Point>{{1, 2}, {3, 4}});
    ASSERT_EQ(pts.size(), 2u);
    EXPECT_EQ(pts[1].x, 6);
    EXPECT_EQ(pts[1].y, 8);
    EXPECT_EQ(pool.apply(twice, Point{5, 6}).y, 12);
    EXPECT_EQ(pool.apply(iota_to, 4), (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(pool.apply([](std::string a,
                            int n) { return std::string(static_cast<std::size_t>(n), a[0]); },
                         std::string("xy"), 3),
              "xxx");
}

TEST(Pool, PayloadsLargerThanTheRingsStreamThrough) {
    mp::Pool pool(2);
    std::vector<std::string> big = {std::string(3 << 20, 'a'), std::string(5 << 20, 'b'), "c"};
    EXPECT_EQ(pool.map(length_of, big, 1), (std::vector<std::size_t>{3u << 20, 5u << 20, 1u}));
    auto v = pool.apply(iota_to, 2'000'000);  // 8 MB back
    ASSERT_EQ(v.size(), 2'000'000u);
    EXPECT_EQ(v.back(), 1'999'999);
}

TEST(Pool, StarmapUnpacksTuplesAndPairs) {
    mp::Pool pool(2);
    EXPECT_EQ(pool.starmap(add, std::vector<std::pair<int, int>>{{1, 2}, {3, 4}}),
              (std::vector<int>{3, 7}));
    std::vector<std::tuple<std::string, int>> t = {{"ab", 2}, {"c", 0}};
    auto r = pool.starmap_async([](const std::string& s,
                                   int n) { return s.size() + static_cast<std::size_t>(n); },
                                t)
                 .get();
    EXPECT_EQ(r, (std::vector<std::size_t>{4, 1}));
}

TEST(Pool, ImapYieldsInOrder) {
    mp::Pool pool(2);
    std::vector<int> got;
    for (int r : pool.imap(sleep_ms, std::vector<int>{60, 0, 30, 0, 10})) got.push_back(r);
    EXPECT_EQ(got, (std::vector<int>{60, 0, 30, 0, 10}));
    got.clear();
    for (int r : pool.imap(square, std::views::iota(0, 100), 7)) got.push_back(r);
    ASSERT_EQ(got.size(), 100u);
    EXPECT_EQ(got[99], 99 * 99);
}

TEST(Pool, ImapUnorderedYieldsAsResultsArrive) {
    mp::Pool pool(2);
    std::vector<int> got;
    // The slow item goes first; the fast ones finish (on the other worker) before it.
    for (int r : pool.imap_unordered(sleep_ms, std::vector<int>{400, 0, 0, 0})) got.push_back(r);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got.back(), 400);
    EXPECT_EQ(std::multiset<int>(got.begin(), got.end()), (std::multiset<int>{0, 0, 0, 400}));
}

TEST(Pool, ImapRaisesAtTheFailingItemOnly) {
    mp::Pool pool(2);
    std::vector<int> got;
    auto results = pool.imap(fail_on_3, std::vector<int>{1, 2, 3, 4});
    auto it = results.begin();
    got.push_back(*it);
    ++it;
    got.push_back(*it);
    ++it;
    EXPECT_THROW((void)*it, mp::RemoteError);
    ++it;
    got.push_back(*it);
    ++it;
    EXPECT_TRUE(it == results.end());
    EXPECT_EQ(got, (std::vector<int>{1, 2, 4}));
}

TEST(Pool, AnIdleWorkerTakesTasksQueuedBehindALongOne) {
    mp::Pool pool(2);
    auto slow = pool.apply_async(sleep_ms, 600);
    std::vector<mp::AsyncResult<int>> quick;
    for (int i = 0; i < 20; ++i) quick.push_back(pool.apply_async(sleep_ms, 1));
    // Half of the quick ones were queued behind the slow task at first; the other
    // worker takes them back, so all finish before the slow one.
    for (auto& q : quick) EXPECT_EQ(q.get(5s), 1);
    EXPECT_FALSE(slow.ready());
    EXPECT_EQ(slow.get(5s), 600);
}

// ---- apply, AsyncResult ----------------------------------------------------------------

TEST(Pool, ApplyAndApplyAsync) {
    mp::Pool pool(2);
    EXPECT_EQ(pool.apply(square, 7), 49);
    EXPECT_EQ(pool.apply(add, 2, 3), 5);
    EXPECT_EQ(pool.apply([](int x) { return x + 1; }, 41), 42);
    EXPECT_EQ(pool.apply(Scale{3}, 5), 15);
    int k = 4;
    EXPECT_EQ(pool.apply([k](int x) { return k * x; }, 5), 20);
    mp::AsyncResult<int> r = pool.apply_async(square, 9);
    EXPECT_EQ(r.get(), 81);
    EXPECT_EQ(r.get(), 81);  // get() again returns the same value
    EXPECT_TRUE(r.ready());
    EXPECT_TRUE(r.successful());
    std::vector<mp::AsyncResult<int>> many;
    for (int i = 0; i < 500; ++i) many.push_back(pool.apply_async(square, i));
    for (int i = 499; i >= 0; --i) EXPECT_EQ(many[static_cast<std::size_t>(i)].get(), i * i);
}

TEST(Pool, ApplyOfAVoidFunction) {
    reset_shared();
    mp::Pool pool(2);
    mp::AsyncResult<void> r = pool.apply_async([](int n) { shared()->counter.fetch_add(n); }, 5);
    r.get();
    pool.apply([] { shared()->counter.fetch_add(1); });
    EXPECT_EQ(shared()->counter.load(), 6);
}

TEST(Pool, GetWithTimeoutThrowsTimeoutError) {
    mp::Pool pool(1);
    auto r = pool.apply_async(sleep_ms, 3000);
    EXPECT_FALSE(r.ready());
    EXPECT_THROW((void)r.successful(), mp::ValueError);
    double t = seconds_of([&] { EXPECT_THROW(r.get(50ms), mp::TimeoutError); });
    EXPECT_GE(t, 0.045);
    EXPECT_LT(t, 1.0);
    EXPECT_FALSE(r.wait(20ms));
    auto quick = pool.apply_async(square, 3);
    EXPECT_FALSE(quick.wait(10ms));  // queued behind the sleeper on the only worker
    pool.terminate();
    EXPECT_THROW(r.get(), mp::WorkerLost);
}

TEST(Pool, WaitReturnsOnceReady) {
    mp::Pool pool(2);
    auto r = pool.apply_async(sleep_ms, 50);
    EXPECT_TRUE(r.wait(5s));
    EXPECT_TRUE(r.ready());
    r.wait();
    EXPECT_EQ(r.get(0ms), 50);
}

// ---- failures --------------------------------------------------------------------------

TEST(Pool, ThrowingTaskGivesRemoteErrorWithTypeAndMessage) {
    mp::Pool pool(2);
    try {
        pool.apply(fail_on_3, 3);
        FAIL() << "no exception";
    } catch (const mp::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::out_of_range");
        EXPECT_STREQ(e.what(), "item 3 is out of range");
    }
    try {
        pool.apply(throw_mine, 0);
        FAIL() << "no exception";
    } catch (const mp::RemoteError& e) {
        EXPECT_NE(e.type_name().find("MyError"), std::string::npos) << e.type_name();
        EXPECT_STREQ(e.what(), "custom failure");
    }
    try {
        pool.apply(throw_int, 0);
        FAIL() << "no exception";
    } catch (const mp::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "int");
    }
    auto r = pool.apply_async(fail_on_3, 3);
    r.wait();
    EXPECT_TRUE(r.ready());
    EXPECT_FALSE(r.successful());
    // The pool goes on.
    EXPECT_EQ(pool.apply(square, 4), 16);
}

TEST(Pool, MapWithAFailingItemThrowsRemoteErrorAndThePoolGoesOn) {
    mp::Pool pool(2);
    EXPECT_THROW(pool.map(fail_on_3, std::views::iota(0, 10)), mp::RemoteError);
    EXPECT_THROW(pool.map(fail_on_3, std::views::iota(0, 10), 1), mp::RemoteError);
    EXPECT_EQ(pool.map(square, {1, 2}), (std::vector<int>{1, 4}));
}

TEST(Pool, WorkerKilledMidTaskGivesWorkerLostAndThePoolGoesOn) {
    reset_shared();
    mp::test::FdLeakCheck fds;
    {
        mp::Pool pool(2);
        auto before = pool.worker_pids();
        std::vector<mp::AsyncResult<int>> others;
        auto victim = pool.apply_async(announce_and_hang, 0);
        for (int i = 0; i < 50; ++i) others.push_back(pool.apply_async(sleep_ms, 2));
        ASSERT_TRUE(mp::test::eventually([] { return shared()->pid.load() != 0; }));
        pid_t pid = shared()->pid.load();
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        auto t = Clock::now();
        try {
            victim.get(5s);
            FAIL() << "no exception";
        } catch (const mp::WorkerLost& e) {
            EXPECT_EQ(e.exitcode(), -SIGKILL);
            EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos) << e.what();
        }
        EXPECT_LT(std::chrono::duration<double>(Clock::now() - t).count(), 1.5);
        for (auto& r : others) EXPECT_EQ(r.get(5s), 2);  // the other tasks finish
        std::vector<int> items(100);
        std::iota(items.begin(), items.end(), 0);
        auto sq = pool.map(square, items, 3);
        EXPECT_EQ(sq[99], 99 * 99);
        auto after = pool.worker_pids();
        EXPECT_EQ(after.size(), 2u);
        EXPECT_EQ(std::count(after.begin(), after.end(), pid), 0);  // replaced
    }
    EXPECT_TRUE(mp::test::child_pids().empty());
    EXPECT_TRUE(fds.leaked().empty());
}

TEST(Pool, TaskThatExitsGivesWorkerLostWithItsExitCode) {
    mp::Pool pool(2);
    try {
        pool.apply(exit_3, 0);
        FAIL() << "no exception";
    } catch (const mp::WorkerLost& e) {
        EXPECT_EQ(e.exitcode(), 3);
    }
    // A map whose one chunk kills its worker: that chunk's error, others unaffected.
    EXPECT_THROW(pool.map([](int x) { return x == 5 ? exit_3(x) : x; }, std::views::iota(0, 10), 1),
                 mp::WorkerLost);
    EXPECT_EQ(pool.map(square, {5, 6}), (std::vector<int>{25, 36}));
}

TEST(Pool, SelfKillingTasksNeverHangThePool) {
    mp::Pool pool(2);
    std::vector<mp::AsyncResult<int>> rs;
    for (int i = 0; i < 10; ++i) {
        rs.push_back(pool.apply_async(
            [](int x) {
                if (x % 3 == 0) ::raise(SIGKILL);
                return x;
            },
            i));
    }
    int lost = 0, ok = 0;
    for (auto& r : rs) {
        try {
            r.get(10s);
            ++ok;
        } catch (const mp::WorkerLost&) {
            ++lost;
        }
    }
    EXPECT_EQ(lost, 4);  // 0, 3, 6, 9
    EXPECT_EQ(ok, 6);
}

// ---- workers: initializer, maxtasksperchild --------------------------------------------

TEST(Pool, InitializerRunsOncePerWorkerAndWhatItSetsStays) {
    reset_shared();
    {
        mp::Pool pool(3, init_tag, 77);
        auto tags = pool.map(read_tag, std::views::iota(0, 300), 1);
        EXPECT_TRUE(std::all_of(tags.begin(), tags.end(), [](int t) { return t == 77; }));
        pool.close();
        pool.join();
    }
    EXPECT_EQ(shared()->init_calls.load(), 3);
    EXPECT_EQ(g_worker_tag, 0);  // the parent's copy is untouched
}

TEST(Pool, EveryTaskIncrementsStateSharedThroughTheInitializer) {
    reset_shared();
    mp::Pool pool(
        mp::PoolOptions{.processes = 2, .initializer = [] { shared()->init_calls.fetch_add(1); }});
    for (int i = 0; i < 40; ++i) pool.apply_async(count_task, i);
    auto last = pool.map(count_task, std::views::iota(0, 60), 1);
    pool.close();
    pool.join();
    EXPECT_EQ(shared()->counter.load(), 100);
    EXPECT_EQ(shared()->init_calls.load(), 2);
    EXPECT_EQ(last.size(), 60u);
}

TEST(Pool, SeedValueThroughInitializerIncrementedUnderItsLockByEveryTask) {
    mp::Value<int> counter(0);
    {
        mp::Pool pool(4, init_counter, counter);
        auto seen = pool.map(increment_counter, std::views::iota(0, 1000), 1);
        for (int i = 0; i < 200; ++i) pool.apply_async(increment_counter, i);
        pool.close();
        pool.join();
        std::sort(seen.begin(), seen.end());
        // Every task saw a different count: no increment was lost or done twice.
        EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
    }
    EXPECT_EQ(counter.load(), 1200);
    EXPECT_FALSE(g_counter.has_value());  // only the workers' copies were set
}

TEST(Pool, WorkersPutIntoAQueueHandedThroughTheInitializer) {
    mp::Queue<int> q;
    mp::Pool pool(2, init_log, q);
    auto r = pool.map(log_and_square, std::views::iota(0, 50));
    EXPECT_EQ(r[7], 49);
    std::multiset<int> got;
    for (int i = 0; i < 50; ++i) got.insert(q.get(5s));
    EXPECT_EQ(got.size(), 50u);
    EXPECT_EQ(*got.begin(), 0);
    EXPECT_EQ(*got.rbegin(), 49);
}

TEST(Pool, ThrowingInitializerFailsTasksInsteadOfRespawningForever) {
    mp::Pool pool(2, init_throws);
    try {
        pool.apply(square, 2);
        FAIL() << "no exception";
    } catch (const mp::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::invalid_argument");
        EXPECT_NE(std::string(e.what()).find("bad initializer argument"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("initializer"), std::string::npos);
    }
    EXPECT_THROW(pool.map(square, {1, 2, 3}), mp::RemoteError);
}

TEST(Pool, InitializerThatExitsGivesWorkerLost) {
    mp::Pool pool(2, init_exits);
    auto t = Clock::now();
    EXPECT_THROW(pool.apply(square, 2), mp::WorkerLost);
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - t).count(), 2.0);
}

TEST(Pool, MaxtasksperchildReplacesWorkers) {
    mp::Pool pool(mp::PoolOptions{.processes = 2, .maxtasksperchild = 2});
    auto pids = pool.map(my_pid, std::views::iota(0, 20), 1);
    std::map<int, int> per_pid;
    for (int p : pids) ++per_pid[p];
    EXPECT_GE(per_pid.size(), 10u);
    for (auto [pid, n] : per_pid) EXPECT_LE(n, 2) << pid;
    // Each apply counts as one task as well.
    std::set<int> apply_pids;
    for (int i = 0; i < 6; ++i) apply_pids.insert(pool.apply(my_pid, 0));
    EXPECT_GE(apply_pids.size(), 3u);
}

// ---- callbacks -------------------------------------------------------------------------

TEST(Pool, CallbacksRunOnceWithTheValueOrTheError) {
    mp::Pool pool(2);
    int got = 0;
    std::string err;
    auto r = pool.apply_async(square, 6);
    r.then([&](int v) { got = v; }, [&](const mp::Error& e) { err = e.what(); });
    r.wait();
    EXPECT_EQ(got, 36);
    EXPECT_TRUE(err.empty());

    pool.apply_async(fail_on_3, 3)
        .then([&](int v) { got = v; }, [&](const mp::Error& e) { err = e.what(); })
        .wait();
    EXPECT_EQ(err, "item 3 is out of range");
    EXPECT_EQ(got, 36);

    std::vector<int> all;
    pool.map_async(square, {1, 2, 3}).then([&](const std::vector<int>& v) { all = v; }).wait();
    EXPECT_EQ(all, (std::vector<int>{1, 4, 9}));

    // A callback added after the result arrived runs soon, on the pool's thread (API.md).
    std::atomic<int> late{0};
    auto done = pool.apply_async(square, 2);
    done.wait();
    done.then([&](int v) { late = v; });
    EXPECT_TRUE(mp::test::eventually([&] { return late.load() == 4; }, 30s));

    // Callbacks of results nobody waits for run when the pool is next driven (join here).
    int n = 0;
    for (int i = 0; i < 20; ++i) pool.apply_async(square, i).then([&](int) { ++n; });
    pool.close();
    pool.join();
    EXPECT_EQ(n, 20);
}

// ---- close, join, terminate, destructor ------------------------------------------------

TEST(Pool, CloseThenJoinFinishesQueuedWork) {
    mp::Pool pool(2);
    std::vector<mp::AsyncResult<int>> rs;
    for (int i = 0; i < 10; ++i) rs.push_back(pool.apply_async(sleep_ms, 20));
    auto m = pool.map_async(square, std::views::iota(0, 100));
    EXPECT_THROW(pool.join(), mp::ValueError);  // join before close
    pool.close();
    EXPECT_THROW(pool.apply(square, 1), mp::ValueError);
    EXPECT_THROW(pool.map(square, {1}), mp::ValueError);
    pool.join();
    for (auto& r : rs) {
        EXPECT_TRUE(r.ready());
        EXPECT_EQ(r.get(0ms), 20);
    }
    EXPECT_EQ(m.get(0ms)[10], 100);
    EXPECT_TRUE(pool.worker_pids().empty());
    EXPECT_TRUE(mp::test::child_pids().empty());
    pool.join();  // again: nothing to do
}

TEST(Pool, TerminateReturnsFastWithATaskStuck) {
    reset_shared();
    mp::Pool pool(2);
    auto stuck = pool.apply_async(announce_and_hang, 0);
    auto queued = pool.map_async(sleep_ms, std::vector<int>(20, 100), 1);
    ASSERT_TRUE(mp::test::eventually([] { return shared()->pid.load() != 0; }));
    double t = seconds_of([&] { pool.terminate(); });
    EXPECT_LT(t, 1.5);
    EXPECT_THROW(stuck.get(), mp::WorkerLost);
    EXPECT_THROW(queued.get(), mp::WorkerLost);
    EXPECT_TRUE(mp::test::child_pids().empty());
    EXPECT_THROW(pool.apply(square, 1), mp::ValueError);
    pool.join();  // allowed after terminate
}

TEST(Pool, DestructorTerminatesAndLeavesNothing) {
    reset_shared();  // first: shared() maps its memfd region once, on first use
    mp::test::FdLeakCheck fds;
    std::optional<mp::AsyncResult<int>> pending;
    double t = seconds_of([&] {
        mp::Pool pool(2);
        EXPECT_EQ(pool.apply(square, 3), 9);
        pending = pool.apply_async(announce_and_hang, 0);
        ASSERT_TRUE(mp::test::eventually([] { return shared()->pid.load() != 0; }));
    });
    EXPECT_LT(t, 3.0);
    EXPECT_THROW(pending->get(), mp::WorkerLost);  // a result may outlive its pool
    EXPECT_TRUE(mp::test::child_pids().empty());
    EXPECT_TRUE(fds.leaked().empty());
}

TEST(Pool, ManyPoolsInARowLeaveNoFdOrChild) {
    mp::test::FdLeakCheck fds;
    for (int i = 0; i < 10; ++i) {
        mp::Pool pool(2);
        EXPECT_EQ(pool.map(square, {i}), std::vector<int>{i * i});
    }
    EXPECT_TRUE(mp::test::child_pids().empty());
    EXPECT_TRUE(fds.leaked().empty());
}

bool process_gone(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

TEST(Pool, IsMovable) {
    mp::Pool a(2);
    mp::Pool b(std::move(a));
    EXPECT_EQ(b.apply(square, 5), 25);
    EXPECT_THROW(a.apply(square, 1), mp::ValueError);
    mp::Pool c(1);
    c = std::move(b);
    EXPECT_EQ(c.apply(square, 6), 36);
}

// ---- threads ---------------------------------------------------------------------------

TEST(Pool, UsableFromSeveralThreads) {
    mp::Pool pool(2);
    std::vector<std::thread> ts;
    std::atomic<int> bad{0};
    for (int t = 0; t < 4; ++t) {
        ts.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                if (pool.apply(square, t * 1000 + i) != (t * 1000 + i) * (t * 1000 + i)) ++bad;
            }
            auto m = pool.map(square, std::views::iota(0, 50));
            if (m[49] != 49 * 49) ++bad;
        });
    }
    for (auto& th : ts) th.join();
    EXPECT_EQ(bad.load(), 0);
}

// ---- examples --------------------------------------------------------------------------

TEST(PoolExamples, SquaresExamplePrintsTheSeedsResults) {
    auto r = mp::test::run_program(mp::test::binary("examples/07_pool"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("map:       [1, 4, 9, 16]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("apply:     49"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("map_async: [1, 4, 9, 16, 25, 36]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("apply_async: [0, 1, 4, 9, 16]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("imap:      1 4 9 16 25 36"), std::string::npos) << r.out;
}

TEST(PoolExamples, QueueLockPoolExampleLogsEveryJobInOrder) {
    auto r = mp::test::run_program(mp::test::binary("examples/12_queue_lock_pool"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (int k = 1; k <= 12; ++k) {
        EXPECT_NE(r.out.find("[" + std::to_string(k) + "/12]"), std::string::npos) << k << "\n"
                                                                                   << r.out;
    }
    // The progress counter and the log line are updated together under the Lock, so
    // the lines arrive numbered 1, 2, 3, … in the order they were logged.
    std::size_t prev = 0;
    for (int k = 1; k <= 12; ++k) {
        auto at = r.out.find("[" + std::to_string(k) + "/12]");
        ASSERT_NE(at, std::string::npos) << k;
        if (k > 1) {
            EXPECT_GT(at, prev) << k;
        }
        prev = at;
    }
    EXPECT_NE(r.out.find("primes below 120000: 11301"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("matches the sequential count: yes"), std::string::npos) << r.out;
}

TEST(PoolExamples, FactorialsMatchGmp) {
    auto r = mp::test::run_program(mp::test::binary("examples/10_factorials"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // 1000! has 2568 digits and ends in 249 zeros; 20! = 2432902008176640000.
    EXPECT_NE(r.out.find("20! = 2432902008176640000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1000! has 2568 digits"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("all checked against the parent: OK"), std::string::npos) << r.out;
}

// ---- never broken by a death (issue 10) ----------------------------------------------------

namespace {

bool is_even(int x) {
    return x % 2 == 0;
}
void do_nothing(int) {}
void touch_nothing() {}

pid_t parent_of(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    return ppid;
}

}  // namespace

TEST(PoolRobust, TwoHundredFreshPoolsEachLosingAWorkerRightAwayKeepServing) {
    for (int i = 0; i < 200; ++i) {
        mp::Pool pool(2);
        auto pids = pool.worker_pids();
        ASSERT_EQ(pids.size(), 2u);
        ::kill(pids[i % 2], SIGKILL);
        ASSERT_EQ(pool.apply(square, 3), 9) << "pool " << i;
        ASSERT_EQ(pool.map(square, {1, 2, 3}), (std::vector<int>{1, 4, 9})) << "pool " << i;
    }
}

TEST(PoolRobust, AKillStormFailsOnlyRunningTasksAndThePoolGoesOn) {
    mp::Pool pool(4);
    std::atomic<bool> stop{false};
    std::atomic<int> kills{0};
    std::thread storm([&] {
        unsigned k = 0;
        while (!stop) {
            auto pids = pool.worker_pids();
            if (!pids.empty()) {
                ::kill(pids[k++ % pids.size()], SIGKILL);
                ++kills;
            }
            std::this_thread::sleep_for(5ms);
        }
    });
    auto end = Clock::now() + 2s;
    int ok = 0, lost = 0;
    while (Clock::now() < end) {
        try {
            auto r = pool.map(square, std::views::iota(0, 200));
            for (int i = 0; i < 200; ++i) ASSERT_EQ(r[i], i * i);
            ++ok;
        } catch (const mp::WorkerLost&) {
            ++lost;
        }
        auto results = pool.imap_unordered(square, std::views::iota(0, 50));
        for (auto it = results.begin(); it != results.end(); ++it) {
            try {
                int v = *it;
                int root = static_cast<int>(std::lround(std::sqrt(v)));
                ASSERT_EQ(root * root, v);
                ++ok;
            } catch (const mp::WorkerLost&) {
                ++lost;
            }
        }
        std::vector<mp::AsyncResult<int>> rs;
        for (int i = 0; i < 50; ++i) rs.push_back(pool.apply_async(add, i, 1));
        for (int i = 0; i < 50; ++i) {
            try {
                ASSERT_EQ(rs[i].get(30s), i + 1);
                ++ok;
            } catch (const mp::WorkerLost&) {
                ++lost;
            }
        }
    }
    stop = true;
    storm.join();
    EXPECT_GT(kills.load(), 10);
    EXPECT_GT(ok, 0);
    // Afterwards the pool serves as if nothing happened.
    EXPECT_EQ(pool.map(square, std::views::iota(0, 100)).back(), 99 * 99);
    EXPECT_EQ(pool.apply(add, 2, 3), 5);
    // The storm's last victim may still be being replaced (the tasks above needed only three).
    EXPECT_TRUE(mp::test::eventually([&] { return pool.worker_pids().size() == 4u; }))
        << pool.worker_pids().size() << " workers";
}

TEST(PoolRobust, ARespawnRefusedByRlimitNprocIsRetriedUntilAllowed) {
    mp::Process child([] {
        // RLIMIT_NPROC does not bind root: run as nobody.
        if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
        mp::Pool pool(1);
        pid_t worker = pool.worker_pids().at(0);
        pid_t zygote = parent_of(worker);
        rlimit old{};
        if (::prlimit(zygote, RLIMIT_NPROC, nullptr, &old) != 0) ::_exit(16);
        rlimit none{0, old.rlim_max};
        if (::prlimit(zygote, RLIMIT_NPROC, &none, nullptr) != 0) ::_exit(11);
        ::kill(worker, SIGKILL);
        auto r = pool.apply_async(square, 7);
        try {
            r.get(500ms);
            ::_exit(12);  // no worker could have been made
        } catch (const mp::TimeoutError&) {
        }
        if (::prlimit(zygote, RLIMIT_NPROC, &old, nullptr) != 0) ::_exit(13);
        if (r.get(20s) != 49) ::_exit(14);
        if (pool.map(square, {1, 2}) != std::vector<int>{1, 4}) ::_exit(15);
    });
    child.start();
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
}

TEST(PoolRobust, WorkersEndSoonAfterTheParentDiesOfAnySignal) {
    for (int sig : {SIGTERM, SIGINT, SIGKILL}) {
        struct Pids {
            std::atomic<int> n{0};
            std::atomic<int> pid[2];
        };
        mp::detail::SharedRegion region(sizeof(Pids));
        auto* pids = new (region.data()) Pids;
        mp::Process owner([pids] {
            mp::Pool pool(2);
            auto w = pool.worker_pids();
            pids->pid[0] = w.at(0);
            pids->pid[1] = w.at(1);
            pids->n = 2;
            std::this_thread::sleep_for(60s);
        });
        owner.start();
        ASSERT_TRUE(mp::test::eventually([&] { return pids->n.load() == 2; }, 10s));
        ::kill(owner.pid(), sig);
        owner.join();
        // The zygote watches the parent's pidfd and kills the workers at once (1 s is
        // the promise; the check is generous for a loaded machine).
        EXPECT_TRUE(mp::test::eventually(
            [&] { return process_gone(pids->pid[0]) && process_gone(pids->pid[1]); }, 5s))
            << "signal " << sig;
    }
}

TEST(PoolRobust, AWorkerKilledInItsInitializerOnceIsReplaced) {
    // One death in the initializer is not "the initializer is broken".
    mp::Pool pool(1, [] { std::this_thread::sleep_for(300ms); });
    auto pid = pool.worker_pids().at(0);
    ::kill(pid, SIGKILL);
    EXPECT_EQ(pool.apply(square, 4), 16);
}

// ---- progress without the caller ------------------------------------------------------------

TEST(PoolBackground, CallbacksAndQueuedTasksFinishWhileTheCallerSleeps) {
    mp::Pool pool(2);
    std::atomic<int> done{0};
    for (int i = 0; i < 20000; ++i) pool.apply_async(square, i).then([&](int) { ++done; });
    // No pool call from here on: the pool's thread must do everything.
    auto end = Clock::now() + 60s;
    while (done.load() < 20000 && Clock::now() < end) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(done.load(), 20000);
}

TEST(PoolBackground, CallbacksRunOnThePoolsThreadOneAtATime) {
    mp::Pool pool(4);
    std::atomic<int> inside{0};
    std::atomic<int> overlap{0};
    std::atomic<int> n{0};
    auto me = std::this_thread::get_id();
    std::atomic<bool> on_caller{false};
    for (int i = 0; i < 200; ++i) {
        pool.apply_async(square, i).then([&](int) {
            if (++inside > 1) ++overlap;
            if (std::this_thread::get_id() == me) on_caller = true;
            std::this_thread::sleep_for(100us);
            --inside;
            ++n;
        });
    }
    EXPECT_TRUE(mp::test::eventually([&] { return n.load() == 200; }, 60s));
    EXPECT_EQ(overlap.load(), 0);
    EXPECT_FALSE(on_caller.load());
}

// ---- lazy imap, any result type ---------------------------------------------------------

TEST(PoolLazy, ImapOverAnInfiniteRangeStoppedEarlyUsesBoundedMemory) {
    mp::Pool pool(2);
    int k = 0;
    for (int r : pool.imap(square, std::views::iota(0))) {
        ASSERT_EQ(r, k * k);
        if (++k == 2000) break;
    }
    EXPECT_EQ(k, 2000);
    std::set<int> seen;
    for (int r : pool.imap_unordered(square, std::views::iota(0), 4)) {
        seen.insert(r);
        if (seen.size() == 500) break;
    }
    EXPECT_EQ(seen.size(), 500u);
    // Still usable afterwards (the abandoned look-ahead finishes in the background).
    EXPECT_EQ(pool.apply(square, 9), 81);
}

TEST(PoolLazy, ImapReadsItsInputOnlyAsWorkersNeedIt) {
    mp::Pool pool(2);
    std::atomic<int> read{0};
    auto counted = std::views::iota(0, 1'000'000) | std::views::transform([&read](int x) {
                       ++read;
                       return x;
                   });
    auto it = pool.imap(square, counted);
    EXPECT_EQ(read.load(), 0);  // nothing read at the call
    EXPECT_EQ(it.next(10s), std::optional<int>(0));
    EXPECT_LT(read.load(), 1000);  // a bounded look-ahead, not the whole input
}

TEST(PoolLazy, NextWithATimeoutAndTheEnd) {
    mp::Pool pool(1);
    auto it = pool.imap(sleep_ms, std::vector<int>{800, 0});
    EXPECT_THROW(it.next(50ms), mp::TimeoutError);
    EXPECT_EQ(it.next(), std::optional<int>(800));
    EXPECT_EQ(it.next(5s), std::optional<int>(0));
    EXPECT_EQ(it.next(), std::nullopt);
    EXPECT_EQ(it.next(), std::nullopt);
}

TEST(PoolLazy, AnErrorReadingTheInputSurfacesAtItsItem) {
    mp::Pool pool(2);
    auto bad = std::views::iota(0, 10) | std::views::transform([](int x) {
                   if (x == 5) throw std::out_of_range("input item 5 is unreadable");
                   return x;
               });
    for (bool ordered : {true, false}) {
        std::vector<int> got;
        std::string error;
        auto it = ordered ? pool.imap(square, bad, 2) : pool.imap_unordered(square, bad, 2);
        for (;;) {
            try {
                auto r = it.next(10s);
                if (!r) break;
                got.push_back(*r);
            } catch (const std::out_of_range& e) {
                error = e.what();
                EXPECT_EQ(got.size(), 5u);  // every item before it came first
            }
        }
        std::sort(got.begin(), got.end());
        EXPECT_EQ(got, (std::vector<int>{0, 1, 4, 9, 16}));
        EXPECT_EQ(error, "input item 5 is unreadable");
    }
}

TEST(PoolTypes, MapOfBoolVoidAndUserTypes) {
    mp::Pool pool(2);
    std::vector<bool> even = pool.map(is_even, std::views::iota(0, 7));
    EXPECT_EQ(even, (std::vector<bool>{true, false, true, false, true, false, true}));
    std::vector<std::monostate> none = pool.map(do_nothing, std::views::iota(0, 5));
    EXPECT_EQ(none.size(), 5u);
    pool.apply(touch_nothing);
    pool.apply(do_nothing, 1);
    std::vector<bool> flags{true, false, true};
    EXPECT_EQ(pool.map([](bool b) { return !b; }, flags), (std::vector<bool>{false, true, false}));
    int n = 0;
    for (bool b : pool.imap(is_even, std::vector<int>{2, 4, 5})) n += b ? 1 : 0;
    EXPECT_EQ(n, 2);
    for (std::monostate m : pool.imap_unordered(do_nothing, std::vector<int>{1, 2})) {
        (void)m;
        ++n;
    }
    EXPECT_EQ(n, 4);
    auto pts = pool.map(twice, std::vector<Point>{{1, 2}, {3, 4}});
    EXPECT_EQ(pts[1].y, 8);
}

// ---- tracing and progress ---------------------------------------------------------------

#include "mp/progress.hpp"
#include "mp/trace.hpp"

TEST(PoolTrace, ATraceHasOneSlicePerTaskOnItsWorkersTrack) {
#if __has_include(<nlohmann/json.hpp>)
    std::string path = "/tmp/mp_test_trace_" + std::to_string(::getpid()) + ".json";
    mp::trace_to(path);
    EXPECT_TRUE(mp::tracing());
    {
        mp::Pool pool(2);
        pool.map(square, std::views::iota(0, 40), 1);
        pool.apply(shout, std::string("hi"));
    }
    mp::trace_flush();
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    EXPECT_NE(s.find("traceEvents"), std::string::npos);
    EXPECT_NE(s.find("ForkPoolWorker"), std::string::npos);
    EXPECT_NE(s.find("bytes_in"), std::string::npos);
    // Every task is a complete ("X") event: 40 map chunks + 1 apply at least.
    std::size_t slices = 0;
    for (std::size_t at = s.find("\"X\""); at != std::string::npos; at = s.find("\"X\"", at + 1))
        ++slices;
    EXPECT_GE(slices, 41u);
    std::remove(path.c_str());
#else
    EXPECT_THROW(mp::trace_to("/tmp/never.json"), mp::Error);
#endif
}

TEST(PoolTrace, ProgressPassesEveryItemThrough) {
    mp::Pool pool(2);
    int n = 0;
    for (int r : mp::progress(pool.imap_unordered(square, std::views::iota(0, 30)))) n += r >= 0;
    EXPECT_EQ(n, 30);
    std::vector<int> v{1, 2, 3};
    int sum = 0;
    for (int x : mp::progress(v, "v")) sum += x;
    EXPECT_EQ(sum, 6);
}
