// Value, RawValue, Array, RawArray: shared with children, copies are handles,
// get_lock() is an RLock, construction from a count, a list or a range.
#include <gtest/gtest.h>
#include <mp/mp.hpp>

#include <array>
#include <mutex>
#include <numeric>
#include <ranges>
#include <thread>
#include <type_traits>
#include <vector>

#include "child_process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using mp::test::finish;

struct Point {
    double x, y;
    int tag;
};

}  // namespace

// A type that is not trivially copyable is a compile error that says why.
TEST(SharedCtypes, NonTriviallyCopyableTypeIsAClearCompileError) {
    for (const char* decl : {"mp::Value<std::string> v;", "mp::RawArray<std::vector<int>> a(3);"}) {
        std::string program = std::string(
                                  "#include <mp/sharedctypes.hpp>\n#include <string>\n#include "
                                  "<vector>\nint main() { ") +
                              decl + " }\n";
        auto r = mp::test::run_program(
            "/bin/sh", {"-c", "c++ -std=c++20 -fsyntax-only -I" MP_SOURCE_DIR "/include -x c++ -"},
            program, 120s);
        EXPECT_NE(r.exit_code, 0) << decl;
        EXPECT_NE(r.err.find("must be trivially copyable"), std::string::npos) << r.err;
    }
}

TEST(RawValue, DefaultIsZeroAndChildrenShareIt) {
    mp::RawValue<int> a;
    EXPECT_EQ(a.value(), 0);
    mp::RawValue<double> d(2.5);
    EXPECT_EQ(d.value(), 2.5);
    EXPECT_EQ(&d.get_obj(), &d.value());
    mp::Process p([d]() mutable { d.value() = 7.25; });
    p.start();
    EXPECT_EQ(finish(p), 0);
    EXPECT_EQ(d.value(), 7.25);
    mp::RawValue<double> copy = d;  // a handle: the same double
    copy.value() = 1.0;
    EXPECT_EQ(d.value(), 1.0);
}

TEST(RawValue, HoldsTriviallyCopyableStructs) {
    mp::RawValue<Point> pt(Point{1.0, 2.0, 3});
    mp::Process p([pt]() mutable { pt.value().tag = 42; });
    p.start();
    EXPECT_EQ(finish(p), 0);
    EXPECT_EQ(pt.value().tag, 42);
    EXPECT_EQ(pt.value().y, 2.0);
    mp::RawValue<std::array<int, 4>> arr(std::array<int, 4>{1, 2, 3, 4});
    EXPECT_EQ(arr.value()[3], 4);
}

TEST(Value, CounterWithGetLockIsExactAcrossFiveProcesses) {
    mp::Value<int> counter(0);
    constexpr int kPer = 10000;
    std::vector<mp::Process> ps;
    for (int i = 0; i < 5; ++i) {
        ps.emplace_back([counter]() mutable {
            for (int k = 0; k < kPer; ++k) {
                std::lock_guard g(counter.get_lock());
                counter.value() += 1;
            }
        });
    }
    for (auto& p : ps) p.start();
    for (auto& p : ps) EXPECT_EQ(finish(p), 0);
    EXPECT_EQ(counter.value(), 5 * kPer);
    EXPECT_EQ(counter.load(), 5 * kPer);
}

TEST(Value, GetLockIsAnRLockAndTheValueIsLockable) {
    mp::Value<long> v(5);
    static_assert(std::is_same_v<decltype(v.get_lock()), mp::RLock&>);
    {
        std::lock_guard g(v);  // Python: with v:
        EXPECT_TRUE(v.get_lock().is_mine());
        std::lock_guard again(v.get_lock());  // re-entrant
        v.store(6);                           // store() takes the same RLock again
        EXPECT_EQ(v.load(), 6);
    }
    EXPECT_FALSE(v.get_lock().locked());
    EXPECT_TRUE(v.acquire());
    EXPECT_TRUE(v.try_lock());  // re-entrant
    v.release();
    v.release();
    EXPECT_THROW(v.release(), mp::ValueError);
    EXPECT_EQ(&v.get_obj(), &v.value());
    mp::Value<long> dflt;
    EXPECT_EQ(dflt.value(), 0);
}

TEST(Value, SharesAGivenLock) {
    mp::RLock shared;
    mp::Value<int> a(1, shared);
    mp::Value<int> b(2, shared);
    std::lock_guard g(a.get_lock());
    EXPECT_TRUE(b.get_lock().is_mine());  // one lock guards both
    mp::Process p([b]() mutable {
        if (b.get_lock().acquire(false)) throw std::runtime_error("should be held");
    });
    p.start();
    EXPECT_EQ(finish(p), 0);
}

TEST(Value, LockHolderKilledGivesLockAbandoned) {
    mp::Value<int> v(0);
    mp::Event ready;
    mp::Process holder([v, ready]() mutable {
        v.get_lock().acquire();
        v.value() = -1;  // half-way through an update
        ready.set();
        for (;;) std::this_thread::sleep_for(1s);
    });
    holder.start();
    ASSERT_TRUE(ready.wait(10s));
    holder.kill();
    finish(holder);
    EXPECT_THROW(v.get_lock().acquire(), mp::LockAbandoned);
    EXPECT_EQ(v.value(), -1);
    v.value() = 0;  // repaired
    v.get_lock().release();
    EXPECT_EQ(v.load(), 0);
}

TEST(RawArray, ZeroFilledFromACount) {
    mp::RawArray<int> a(100);
    EXPECT_EQ(a.size(), 100u);
    EXPECT_FALSE(a.empty());
    EXPECT_TRUE(std::all_of(a.begin(), a.end(), [](int x) { return x == 0; }));
    mp::RawArray<int> none(0);
    EXPECT_EQ(none.size(), 0u);
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(none.begin(), none.end());
}

TEST(RawArray, FromAListOrARange) {
    mp::RawArray<int> a{1, 2, 3};
    EXPECT_EQ(a.size(), 3u);
    EXPECT_EQ(a[0] + a[1] + a[2], 6);
    std::vector<double> v{0.5, 1.5, 2.5, 3.5};
    mp::RawArray<double> b(v);
    EXPECT_EQ(std::vector<double>(b.begin(), b.end()), v);
    mp::RawArray<long> c(std::views::iota(0, 10));
    EXPECT_EQ(c.size(), 10u);
    EXPECT_EQ(std::accumulate(c.begin(), c.end(), 0L), 45L);
}

TEST(RawArray, CopiesShareAndChildrenWrite) {
    mp::RawArray<int> a(8);
    mp::RawArray<int> alias = a;
    EXPECT_EQ(alias.data(), a.data());  // a handle, not a new array
    std::vector<mp::Process> ps;
    for (int w = 0; w < 4; ++w) {
        ps.emplace_back([a, w]() mutable {
            a[static_cast<std::size_t>(2 * w)] = w * 10;
            a.at(static_cast<std::size_t>(2 * w + 1)) = w * 10 + 1;
        });
    }
    for (auto& p : ps) p.start();
    for (auto& p : ps) EXPECT_EQ(finish(p), 0);
    EXPECT_EQ(std::vector<int>(a.begin(), a.end()),
              (std::vector<int>{0, 1, 10, 11, 20, 21, 30, 31}));
    std::span<int> s = a.get_obj();
    EXPECT_EQ(s.size(), 8u);
    EXPECT_EQ(s.data(), a.data());
    EXPECT_THROW((void)a.at(8), mp::ValueError);
}

TEST(Array, LockedAndRawInterface) {
    mp::Array<double> a(10);
    EXPECT_EQ(a.size(), 10u);
    EXPECT_EQ(std::accumulate(a.begin(), a.end(), 0.0), 0.0);
    mp::Array<int> b{1, 2, 3};
    EXPECT_EQ(b[2], 3);
    static_assert(std::is_same_v<decltype(b.get_lock()), mp::RLock&>);
    static_assert(std::is_same_v<decltype(b.get_obj()), std::span<int>>);
    std::vector<int> src{4, 5};
    mp::Array<int> c(src);
    EXPECT_EQ(c.at(1), 5);
    EXPECT_THROW((void)c.at(2), mp::ValueError);
    {
        std::lock_guard g(b);
        EXPECT_TRUE(b.get_lock().is_mine());
    }
    EXPECT_FALSE(b.get_lock().locked());
    mp::RLock shared;
    mp::Array<int> d(3, shared);
    std::lock_guard g(shared);
    EXPECT_TRUE(d.get_lock().is_mine());
}

TEST(Array, FilledByFourProcessesWithLockedSum) {
    mp::Array<long> a(400);
    mp::Value<long> sum(0);
    std::vector<mp::Process> ps;
    for (int w = 0; w < 4; ++w) {
        ps.emplace_back([a, sum, w]() mutable {
            for (std::size_t i = static_cast<std::size_t>(w) * 100;
                 i < static_cast<std::size_t>(w + 1) * 100; ++i) {
                a[i] = static_cast<long>(i);
                std::lock_guard g(sum.get_lock());
                sum.value() += static_cast<long>(i);
            }
        });
    }
    for (auto& p : ps) p.start();
    for (auto& p : ps) EXPECT_EQ(finish(p), 0);
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], static_cast<long>(i));
    EXPECT_EQ(sum.value(), 399L * 400 / 2);
}

TEST(Examples, SharedMemoryLesson) {
    auto r = mp::test::run_program(mp::test::binary("examples/06_shared_memory"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("Final value: 5000 "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Array filled by 4 processes: 0 1 4 9 16 25 36 49 64 81 100 121\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("now holds: \"hello from the child\""), std::string::npos) << r.out;
}

TEST(Examples, MpWorkerAgreesAndReportsSpeedups) {
    auto r = mp::test::run_program(mp::test::binary("examples/08_mp_worker"), {}, "", 120s);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    // pi(2,000,000) = 148933, found by each of the three versions.
    std::size_t count = 0;
    for (auto at = r.out.find("148933 primes"); at != std::string::npos;
         at = r.out.find("148933 primes", at + 1))
        ++count;
    EXPECT_EQ(count, 3u) << r.out;
    EXPECT_NE(r.out.find("All three agree: yes"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("speedup"), std::string::npos);
    EXPECT_NE(r.out.find("worker 1 (pid "), std::string::npos);
}
