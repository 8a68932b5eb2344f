// Handles that travel: every mp handle as a Process argument under every start method,
// sent through a Connection (to this process and to a child), and the errors of a
// handle that arrives without its fds or cannot travel.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "mp/connection.hpp"
#include "mp/context.hpp"
#include "mp/process.hpp"
#include "mp/queue.hpp"
#include "mp/shared_memory.hpp"
#include "mp/sharedctypes.hpp"
#include "mp/synchronize.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

class Handles : public ::testing::TestWithParam<std::string> {
  protected:
    mp::Context ctx() const { return mp::get_context(GetParam()); }
    // Starts target(args...) by this method and expects exit code 0.
    template <class F, class... A>
    void run(F f, A&&... args) {
        mp::Process p = ctx().Process(f, std::forward<A>(args)...);
        p.start();
        ASSERT_TRUE(p.join(60s));
        EXPECT_EQ(p.exitcode(), 0);
    }
};

void put_three(mp::Queue<int> q, mp::JoinableQueue<std::string> jq, mp::SimpleQueue<double> sq) {
    for (int i = 1; i <= 3; ++i) q.put(i);
    jq.put("job");
    sq.put(2.5);
}

TEST_P(Handles, Queues) {
    mp::Queue<int> q;
    mp::JoinableQueue<std::string> jq;
    mp::SimpleQueue<double> sq;
    run(put_three, q, jq, sq);
    EXPECT_EQ(q.get(1s) + q.get(1s) + q.get(1s), 6);
    EXPECT_EQ(jq.get(1s), "job");
    jq.task_done();
    EXPECT_TRUE(jq.join(1s));
    EXPECT_EQ(sq.get(), 2.5);
}

void try_locks(mp::Lock l, mp::RLock r, mp::Connection out) {
    out.send(static_cast<int>(l.acquire(false)));  // held by the parent
    r.acquire();
    r.acquire();  // recursive
    r.release();
    r.release();
    out.send(1);
}

TEST_P(Handles, LockAndRLock) {
    mp::Lock l;
    mp::RLock r;
    auto [in, out] = mp::Pipe(false);
    l.acquire();
    run(try_locks, l, r, out);
    EXPECT_EQ(in.recv<int>(), 0) << "the child saw the parent's lock held";
    EXPECT_EQ(in.recv<int>(), 1);
    l.release();
    EXPECT_TRUE(r.acquire(false)) << "the child released the RLock";
    r.release();
}

void take_and_die(mp::Lock l) {
    l.acquire();
    ::_exit(0);
}

TEST_P(Handles, LockAbandonedWhenAChildDiesHoldingIt) {
    mp::Lock l;
    run(take_and_die, l);
    EXPECT_THROW(l.acquire(), mp::LockAbandoned);
    l.release();  // the caller holds it now
}

void semaphores(mp::Semaphore s, mp::BoundedSemaphore b, mp::Connection out) {
    s.release();
    try {
        b.release();  // at its start value
        out.send(std::string("released"));
    } catch (const mp::ValueError&) {
        out.send(std::string("ValueError"));
    }
}

TEST_P(Handles, SemaphoreAndBoundedSemaphore) {
    mp::Semaphore s(0);
    mp::BoundedSemaphore b(1);
    auto [in, out] = mp::Pipe(false);
    run(semaphores, s, b, out);
    EXPECT_TRUE(s.acquire(1s));
    EXPECT_EQ(in.recv<std::string>(), "ValueError");
}

void set_event_and_notify(mp::Event e, mp::Condition c, mp::Value<int> v) {
    e.set();
    std::lock_guard g(c);
    v.value() = 1;
    c.notify_all();
}

TEST_P(Handles, EventConditionValue) {
    mp::Event e;
    mp::Condition c;
    mp::Value<int> v(0);
    std::unique_lock lock(c);
    mp::Process p = ctx().Process(set_event_and_notify, e, c, v);
    p.start();
    EXPECT_TRUE(c.wait_for([&] { return v.value() == 1; }, 60s));
    lock.unlock();
    EXPECT_TRUE(e.wait(60s));
    EXPECT_TRUE(p.join(60s));
    EXPECT_EQ(p.exitcode(), 0);
}

void meet(mp::Barrier b, mp::Connection out) {
    out.send(static_cast<int>(b.wait()));
}

TEST_P(Handles, Barrier) {
    mp::Barrier b(2, nullptr, 60s);
    auto [in, out] = mp::Pipe(false);
    mp::Process p = ctx().Process(meet, b, out);
    p.start();
    int mine = static_cast<int>(b.wait());
    int theirs = in.recv<int>();
    EXPECT_EQ(mine + theirs, 1);
    EXPECT_TRUE(p.join(60s));
}

void add_many(mp::Value<long> v, mp::RawValue<int> rv, mp::Array<int> a, mp::RawArray<char> ra) {
    for (int i = 0; i < 1000; ++i) {
        std::lock_guard g(v);
        v.value() += 1;
    }
    rv.value() = 7;
    for (auto& x : a) x *= 2;
    std::memcpy(ra.data(), "hi", 3);
}

TEST_P(Handles, ValuesAndArrays) {
    mp::Value<long> v(0);
    mp::RawValue<int> rv(0);
    mp::Array<int> a{1, 2, 3};
    mp::RawArray<char> ra(8);
    mp::Process p = ctx().Process(add_many, v, rv, a, ra);
    p.start();
    for (int i = 0; i < 1000; ++i) {
        std::lock_guard g(v);
        v.value() += 1;
    }
    ASSERT_TRUE(p.join(60s));
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(v.value(), 2000);
    EXPECT_EQ(rv.value(), 7);
    EXPECT_EQ(std::vector<int>(a.begin(), a.end()), (std::vector<int>{2, 4, 6}));
    EXPECT_STREQ(ra.data(), "hi");
}

void write_shm(mp::SharedMemory shm) {
    std::memcpy(shm.buf().data(), "from the child", 15);
}

TEST_P(Handles, SharedMemory) {
    mp::SharedMemory shm(4096);
    run(write_shm, shm);
    EXPECT_STREQ(reinterpret_cast<const char*>(shm.buf().data()), "from the child");
    shm.unlink();
}

// Receives every kind of handle through the Connection and uses each.
void receive_handles(mp::Connection c) {
    auto q = c.recv<mp::Queue<int>>();
    auto l = c.recv<mp::Lock>();
    auto v = c.recv<mp::Value<int>>();
    auto e = c.recv<mp::Event>();
    auto shm = c.recv<mp::SharedMemory>();
    auto conn = c.recv<mp::Connection>();
    q.put(41);
    {
        std::lock_guard g(l);
        v.value() = 99;
    }
    shm.buf()[0] = std::byte{'x'};
    conn.send(std::string("over the sent connection"));
    e.set();
}

TEST_P(Handles, ThroughAConnectionToAChild) {
    run(+[] {});  // the fork server, if any, is up (its pidfd stays open here, as it should)
    {
        // So is the SharedMemory resource tracker (its socket stays open here, as it should).
        mp::SharedMemory warm(64);
        warm.unlink();
    }
    mp::test::FdLeakCheck leaks;
    {
        auto [mine, theirs] = mp::Pipe();
        mp::Queue<int> q;
        mp::Lock l;
        mp::Value<int> v(0);
        mp::Event e;
        mp::SharedMemory shm(64);
        auto [r, w] = mp::Pipe(false);
        mp::Process p = ctx().Process(receive_handles, std::move(theirs));
        p.start();
        mine.send(q);
        mine.send(l);
        mine.send(v);
        mine.send(e);
        mine.send(shm);
        mine.send(w);
        w.close();
        EXPECT_EQ(q.get(60s), 41);
        EXPECT_EQ(r.recv<std::string>(), "over the sent connection");
        EXPECT_TRUE(e.wait(60s));
        EXPECT_EQ(v.value(), 99);
        EXPECT_EQ(shm.buf()[0], std::byte{'x'});
        EXPECT_TRUE(p.join(60s));
        EXPECT_EQ(p.exitcode(), 0);
        shm.unlink();
    }
    EXPECT_TRUE(leaks.leaked().empty());
}

INSTANTIATE_TEST_SUITE_P(StartMethods, Handles, ::testing::Values("fork", "forkserver", "spawn"),
                         [](const auto& param_info) { return param_info.param; });

TEST(HandlesThroughAConnection, InThisProcess) {
    auto [a, b] = mp::Pipe();
    mp::Queue<int> q;
    a.send(q);
    auto q2 = b.recv<mp::Queue<int>>();
    q2.put(5);
    EXPECT_EQ(q.get(1s), 5);
    mp::Semaphore s(0);
    a.send(s);
    auto s2 = b.recv<mp::Semaphore>();
    s2.release();
    EXPECT_TRUE(s.acquire(1s));
    mp::RawArray<int> ra{1, 2};
    a.send(ra);
    auto ra2 = b.recv<mp::RawArray<int>>();
    ra2[1] = 20;
    EXPECT_EQ(ra[1], 20);
}

TEST(HandlesThroughAConnection, AWrongTypeIsRefusedAndTheFrameKept) {
    auto [a, b] = mp::Pipe();
    mp::Lock l;
    a.send(l);
    EXPECT_THROW(b.recv<mp::RLock>(), mp::SerializationError);
    auto l2 = b.recv<mp::Lock>();
    l.acquire();
    EXPECT_FALSE(l2.acquire(false));
    l.release();
}

TEST(HandlesThroughAConnection, AHandleWithoutItsFdsIsAClearError) {
    mp::Lock l;
    mp::Bytes bytes;
    mp::detail::FdSink sink;
    mp::detail::Reduce<mp::Lock>::save(l, bytes, sink);
    EXPECT_EQ(sink.fds.size(), 1u);
    mp::detail::FdSource none;
    std::span<const std::byte> in = bytes;
    try {
        (void)mp::detail::Reduce<mp::Lock>::load(in, none);
        FAIL();
    } catch (const mp::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("fd"), std::string::npos) << e.what();
    }
}

TEST(HandlesThroughAConnection, ABarrierWithAnActionCannotTravel) {
    mp::Barrier b(2, [] {});
    auto [x, y] = mp::Pipe();
    EXPECT_THROW(x.send(b), mp::ValueError);
    mp::Process p = mp::get_context("spawn").Process(meet, b, x);
    EXPECT_THROW(p.start(), mp::ValueError);
    EXPECT_EQ(p.pid(), 0);
}

TEST(HandlesThroughAConnection, AClosedHandleCannotBeSent) {
    auto [x, y] = mp::Pipe();
    mp::Queue<int> q;
    q.close();
    EXPECT_THROW(x.send(q), mp::ValueError);
}

}  // namespace
