// Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier: across processes,
// across threads, with timeouts, with misuse, and with holders killed by SIGKILL.
#include <gtest/gtest.h>
#include <mp/mp.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>

#include "../src/protocol_steps.hpp"
#include "child_process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

using mp::test::finish;

// ---- stopping a party at step k of a protocol (src/protocol_steps.hpp) --------------------

using mp::detail::Protocol;
Protocol g_step_protocol = Protocol::barrier;
int g_step = 0;
int g_step_signal = SIGKILL;

void signal_at_step(Protocol p, int step) noexcept {
    if (p == g_step_protocol && step == g_step) {
        g_step = 0;  // once
        ::raise(g_step_signal);
    }
}

/// In a child: raise `sig` (SIGKILL, or SIGSTOP) the first time `protocol` reaches `step`.
void signal_at(Protocol protocol, int step, int sig = SIGKILL) {
    g_step_protocol = protocol;
    g_step = step;
    g_step_signal = sig;
    mp::detail::protocol_step_hook = signal_at_step;
}

/// Waits on `bar` for at most 30 s: 1 if it passed, 2 if it broke. A test that expects a
/// break within 8 s thereby tells a break by a death from a break by this timeout.
int wait_outcome_30s(mp::Barrier& bar) {
    try {
        bar.wait(30s);
        return 1;
    } catch (const mp::BrokenBarrierError&) {
        return 2;
    }
}

using mp::test::process_state;

void expect_ok(mp::Process& p) {
    EXPECT_EQ(finish(p), 0) << "child " << p.name() << " failed";
}

/// Throws (so the child ends with exit code 1) when `cond` is false.
void require(bool cond, const char* what) {
    if (!cond) throw std::runtime_error(what);
}

/// Starts a child that takes `lock`, raises `ready`, and sleeps until killed.
template <class L>
mp::Process start_holder(L lock, mp::Event ready, int depth = 1) {
    mp::Process p([lock, ready, depth]() mutable {
        for (int i = 0; i < depth; ++i) lock.acquire();
        ready.set();
        for (;;) std::this_thread::sleep_for(1s);
    });
    p.start();
    EXPECT_TRUE(ready.wait(10s));
    return p;
}

/// Waits on `bar` (at most 10 s, or forever); 1 if the barrier passed, 2 if it broke.
int wait_outcome(mp::Barrier& bar, bool forever = false) {
    try {
        forever ? bar.wait() : bar.wait(10s);
        return 1;
    } catch (const mp::BrokenBarrierError&) {
        return 2;
    }
}

/// 4 processes x 20000 read-pause-write increments under `lock` (any TimedLockable):
/// the total must be exact. A wait longer than 10 s (a lost wake-up) fails the child.
template <class L>
void expect_exact_total(L lock) {
    mp::RawValue<long> total(0);
    constexpr int kPerChild = 20000;
    std::vector<mp::Process> ps;
    for (int i = 0; i < 4; ++i) {
        ps.emplace_back([lock, total]() mutable {
            for (int k = 0; k < kPerChild; ++k) {
                std::unique_lock u(lock, 10s);
                require(u.owns_lock(), "no lost wake-up");
                long v = total.value();
                if (k % 500 == 0) std::this_thread::yield();  // widen the window
                total.value() = v + 1;
            }
        });
    }
    for (auto& p : ps) p.start();
    for (auto& p : ps) expect_ok(p);
    EXPECT_EQ(total.value(), 4L * kPerChild);
}

/// A full round passes: parties()-1 children and this process meet at `bar`.
void expect_round_passes(mp::Barrier& bar) {
    std::vector<mp::Process> ps;
    for (std::size_t i = 0; i + 1 < bar.parties(); ++i)
        ps.emplace_back([bar]() mutable { bar.wait(10s); });
    for (auto& p : ps) p.start();
    EXPECT_NO_THROW(bar.wait(10s));
    for (auto& p : ps) EXPECT_EQ(finish(p), 0);
}

}  // namespace

// ---- Lock ----------------------------------------------------------------------------------

TEST(Lock, ATakeoverKilledAtEveryStepLeavesTheLockUsable) {
    using namespace mp::detail;
    for (int step : {kLockGotOwnerDead, kLockMadeConsistent}) {
        SCOPED_TRACE("killed at takeover step " + std::to_string(step));
        mp::Lock lock;
        mp::Event ready;
        mp::Process holder = start_holder(lock, ready);
        holder.kill();  // dies holding it
        EXPECT_EQ(finish(holder), -SIGKILL);
        mp::Process taker([lock, step]() mutable {
            signal_at(Protocol::lock_takeover, step);
            try {
                lock.acquire();
            } catch (const mp::LockAbandoned&) {
            }
            lock.release();
            std::_Exit(3);  // not reached
        });
        taker.start();
        EXPECT_EQ(finish(taker), -SIGKILL);
        // Whatever step the taker died at, the next taker is told and holds the lock.
        EXPECT_THROW(lock.acquire(10s), mp::LockAbandoned);
        lock.release();
        EXPECT_TRUE(lock.acquire(1s));
        lock.release();
        EXPECT_FALSE(lock.locked());
    }
}

TEST(Lock, AcquireReleaseAndLocked) {
    mp::Lock l;
    EXPECT_FALSE(l.locked());
    EXPECT_TRUE(l.acquire());
    EXPECT_TRUE(l.locked());
    l.release();
    EXPECT_FALSE(l.locked());
    EXPECT_TRUE(l.acquire(false));
    l.release();
    EXPECT_TRUE(l.acquire(100ms));
    l.release();
    EXPECT_TRUE(l.acquire(true));
    l.release();
}

TEST(Lock, CopiesAreHandlesToOneLock) {
    mp::Lock a;
    mp::Lock b = a;
    a.acquire();
    EXPECT_TRUE(b.locked());
    b.release();  // same thread, same lock
    EXPECT_FALSE(a.locked());
}

TEST(Lock, HeldByAnotherProcessTimesOut) {
    mp::Lock l;
    mp::Event ready, done;
    mp::Process p([l, ready, done]() mutable {
        l.acquire();
        ready.set();
        done.wait(10s);
        l.release();
    });
    p.start();
    ASSERT_TRUE(ready.wait(10s));
    EXPECT_FALSE(l.acquire(false));
    EXPECT_FALSE(l.try_lock());
    auto t0 = Clock::now();
    EXPECT_FALSE(l.acquire(150ms));
    EXPECT_GE(Clock::now() - t0, 140ms);
    EXPECT_FALSE(l.try_lock_for(20ms));
    EXPECT_FALSE(l.try_lock_until(Clock::now() + 20ms));
    EXPECT_FALSE(l.try_lock_until(std::chrono::system_clock::now() + 20ms));
    EXPECT_THROW(l.release(), mp::ValueError);  // held by the child, not by us
    done.set();
    EXPECT_TRUE(l.acquire(10s));  // released by the child
    l.release();
    expect_ok(p);
}

TEST(Lock, MisuseThrowsValueError) {
    mp::Lock l;
    EXPECT_THROW(l.release(), mp::ValueError);  // never acquired
    l.acquire();
    EXPECT_THROW(l.acquire(), mp::ValueError);  // would deadlock
    EXPECT_FALSE(l.acquire(false));
    auto t0 = Clock::now();
    EXPECT_FALSE(l.acquire(50ms));  // as in Python: waits out the timeout
    EXPECT_GE(Clock::now() - t0, 45ms);
    std::thread other([&] { EXPECT_THROW(l.release(), mp::ValueError); });
    other.join();
    l.release();
    EXPECT_THROW(l.release(), mp::ValueError);  // released twice
}

TEST(Lock, WaitsAcrossThreads) {
    mp::Lock l;
    l.acquire();
    std::atomic<bool> got{false};
    std::thread t([&] {
        l.acquire();
        got = true;
        l.release();
    });
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(got.load());
    l.release();
    t.join();
    EXPECT_TRUE(got.load());
}

TEST(Lock, ExactTotalAcrossFourProcesses) {
    expect_exact_total(mp::Lock());
}

TEST(Lock, StandardLockWrappers) {
    mp::Lock a, b;
    {
        std::lock_guard g(a);
        EXPECT_TRUE(a.locked());
    }
    EXPECT_FALSE(a.locked());
    {
        std::unique_lock u(a, 100ms);
        EXPECT_TRUE(u.owns_lock());
        u.unlock();
        EXPECT_FALSE(a.locked());
    }
    {
        std::scoped_lock s(a, b);
        EXPECT_TRUE(a.locked());
        EXPECT_TRUE(b.locked());
    }
    EXPECT_FALSE(a.locked());
    EXPECT_FALSE(b.locked());
}

TEST(Lock, ScopedLockOnTwoLocksInOppositeOrdersAcrossProcesses) {
    mp::Lock a, b;
    mp::RawValue<long> n(0);
    constexpr int kRounds = 3000;
    mp::Process p1([a, b, n]() mutable {
        for (int i = 0; i < kRounds; ++i) {
            std::scoped_lock s(a, b);
            ++n.value();
        }
    });
    mp::Process p2([a, b, n]() mutable {
        for (int i = 0; i < kRounds; ++i) {
            std::scoped_lock s(b, a);  // opposite order: std::lock avoids the deadlock
            ++n.value();
        }
    });
    p1.start();
    p2.start();
    expect_ok(p1);
    expect_ok(p2);
    EXPECT_EQ(n.value(), 2L * kRounds);
}

TEST(Lock, HolderKilledGivesLockAbandonedToNextAcquirer) {
    mp::Lock l;
    mp::Event ready;
    mp::Process holder = start_holder(l, ready);
    EXPECT_FALSE(l.acquire(false));
    holder.kill();
    EXPECT_EQ(finish(holder), -9);
    try {
        l.acquire();
        ADD_FAILURE() << "no LockAbandoned";
    } catch (const mp::LockAbandoned& e) {
        EXPECT_NE(std::string(e.what()).find("died"), std::string::npos);
    }
    EXPECT_TRUE(l.locked());  // the caller holds it now
    l.release();
    // Normal use afterwards, here and in another process.
    EXPECT_TRUE(l.acquire(1s));
    l.release();
    mp::Process user([l]() mutable {
        require(l.acquire(5s), "acquire after recovery");
        l.release();
    });
    user.start();
    expect_ok(user);
}

TEST(Lock, WaiterBlockedWhenHolderDiesGetsLockAbandoned) {
    mp::Lock l;
    mp::Event ready;
    mp::RawValue<int> outcome(0);
    mp::Process holder = start_holder(l, ready);
    mp::Process waiter([l, outcome]() mutable {
        try {
            l.acquire();  // blocked until the holder dies
            outcome.value() = 1;
        } catch (const mp::LockAbandoned&) {
            outcome.value() = 2;
        }
        l.release();
    });
    waiter.start();
    std::this_thread::sleep_for(100ms);
    holder.kill();
    EXPECT_EQ(finish(holder), -9);
    expect_ok(waiter);
    EXPECT_EQ(outcome.value(), 2);
    EXPECT_TRUE(l.acquire(false));  // the waiter released it: a plain lock again
    l.release();
}

TEST(Lock, TimedAcquireReportsAbandonment) {
    mp::Lock l;
    mp::Event ready;
    mp::Process holder = start_holder(l, ready);
    holder.kill();
    finish(holder);
    EXPECT_THROW(l.acquire(1s), mp::LockAbandoned);
    l.release();
    EXPECT_THROW(l.release(), mp::ValueError);
}

TEST(Lock, ThreadThatExitsHoldingItAbandonsIt) {
    mp::Lock l;
    std::thread t([&] { l.acquire(); });  // ends without release()
    t.join();
    EXPECT_THROW(l.acquire(), mp::LockAbandoned);
    l.release();
    EXPECT_TRUE(l.acquire(false));
    l.release();
}

// ---- RLock ---------------------------------------------------------------------------------

TEST(RLock, ReentrantPerThread) {
    mp::RLock r;
    EXPECT_TRUE(r.acquire());
    EXPECT_TRUE(r.acquire());
    EXPECT_TRUE(r.acquire(false));
    EXPECT_TRUE(r.acquire(10ms));
    EXPECT_TRUE(r.is_mine());
    std::thread t([&] {
        EXPECT_FALSE(r.is_mine());
        EXPECT_FALSE(r.acquire(false));
        EXPECT_THROW(r.release(), mp::ValueError);  // not the owner
    });
    t.join();
    r.release();
    r.release();
    r.release();
    EXPECT_TRUE(r.locked());
    r.release();
    EXPECT_FALSE(r.locked());
    EXPECT_THROW(r.release(), mp::ValueError);  // released too often
}

TEST(RLock, OtherProcessWaitsUntilFullyReleased) {
    mp::RLock r;
    mp::RawValue<int> got(0);
    r.acquire();
    r.acquire();
    mp::Process p([r, got]() mutable {
        require(!r.acquire(false), "must be held by the parent");
        r.acquire();
        got.value() = 1;
        r.release();
    });
    p.start();
    std::this_thread::sleep_for(50ms);
    r.release();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(got.value(), 0);  // still held at depth 1
    r.release();
    expect_ok(p);
    EXPECT_EQ(got.value(), 1);
}

TEST(RLock, OwnershipIsPerProcessToo) {
    mp::RLock r;
    r.acquire();
    mp::Process p([r]() mutable {
        require(!r.is_mine(), "a child does not own its parent's RLock");
        try {
            r.release();
        } catch (const mp::ValueError&) {
            return;
        }
        throw std::runtime_error("release() of the parent's RLock did not throw");
    });
    p.start();
    expect_ok(p);
    EXPECT_TRUE(r.is_mine());
    r.release();
}

TEST(RLock, StandardWrappersAndTimedLockable) {
    mp::RLock r;
    std::lock_guard g1(r);
    std::lock_guard g2(r);
    std::unique_lock u(r, std::defer_lock);
    EXPECT_TRUE(u.try_lock_for(10ms));
    EXPECT_TRUE(r.try_lock_until(Clock::now() + 1ms));
    r.unlock();
}

TEST(RLock, OwnerKilledAtDepthTwoGivesLockAbandoned) {
    mp::RLock r;
    mp::Event ready;
    mp::Process holder = start_holder(r, ready, 2);
    holder.kill();
    EXPECT_EQ(finish(holder), -9);
    EXPECT_THROW(r.acquire(), mp::LockAbandoned);
    EXPECT_TRUE(r.is_mine());
    r.release();  // depth 1 after recovery
    EXPECT_FALSE(r.locked());
    EXPECT_TRUE(r.acquire());
    r.release();
}

// ---- Semaphore -----------------------------------------------------------------------------

TEST(Semaphore, CountsUnits) {
    mp::Semaphore s(3);
    EXPECT_EQ(s.get_value(), 3);
    EXPECT_TRUE(s.acquire());
    EXPECT_TRUE(s.acquire(false));
    EXPECT_TRUE(s.acquire(10ms));
    EXPECT_EQ(s.get_value(), 0);
    EXPECT_FALSE(s.acquire(false));
    auto t0 = Clock::now();
    EXPECT_FALSE(s.acquire(100ms));
    EXPECT_GE(Clock::now() - t0, 95ms);
    s.release();
    s.release();  // a plain Semaphore may go above its start value
    s.release();
    s.release();
    EXPECT_EQ(s.get_value(), 4);
    EXPECT_EQ(mp::Semaphore().get_value(), 1);
    EXPECT_EQ(mp::Semaphore(0).get_value(), 0);
    EXPECT_THROW(mp::Semaphore(-1), mp::ValueError);
}

TEST(Semaphore, LockableInterface) {
    mp::Semaphore s(1);
    {
        std::lock_guard g(s);
        EXPECT_EQ(s.get_value(), 0);
        EXPECT_FALSE(s.try_lock());
        EXPECT_FALSE(s.try_lock_for(5ms));
        EXPECT_FALSE(s.try_lock_until(Clock::now() + 5ms));
    }
    EXPECT_EQ(s.get_value(), 1);
}

TEST(Semaphore, LimitsConcurrencyAcrossProcesses) {
    mp::Semaphore s(2);
    mp::RawValue<int> inside(0), most(0);
    mp::Lock guard;
    std::vector<mp::Process> ps;
    for (int i = 0; i < 4; ++i) {
        ps.emplace_back([s, inside, most, guard]() mutable {
            for (int k = 0; k < 20; ++k) {
                std::lock_guard g(s);
                {
                    std::lock_guard gg(guard);
                    ++inside.value();
                    most.value() = std::max(most.value(), inside.value());
                }
                std::this_thread::sleep_for(200us);
                std::lock_guard gg(guard);
                --inside.value();
            }
        });
    }
    for (auto& p : ps) p.start();
    for (auto& p : ps) expect_ok(p);
    EXPECT_EQ(inside.value(), 0);
    EXPECT_GE(most.value(), 1);
    EXPECT_LE(most.value(), 2);
    EXPECT_EQ(s.get_value(), 2);
}

TEST(Semaphore, ReleaseWakesSleeperInAnotherProcess) {
    mp::Semaphore s(0);
    mp::Process p([s]() mutable { require(s.acquire(10s), "woken by release"); });
    p.start();
    std::this_thread::sleep_for(50ms);
    s.release();
    expect_ok(p);
    EXPECT_EQ(s.get_value(), 0);
}

TEST(Semaphore, UnitsOfAKilledProcessAreLostButNobodyHangsWithATimeout) {
    // Documented as NOT promised: a dead holder's units are not given back.
    mp::Semaphore s(1);
    mp::Event ready;
    mp::Process holder = start_holder(s, ready);
    holder.kill();
    EXPECT_EQ(finish(holder), -9);
    EXPECT_EQ(s.get_value(), 0);
    EXPECT_FALSE(s.acquire(50ms));  // a timeout still ends the wait
    s.release();                    // any process may give a unit back
    EXPECT_TRUE(s.acquire(false));
}

TEST(BoundedSemaphore, OverReleaseThrowsValueError) {
    mp::BoundedSemaphore b(2);
    EXPECT_THROW(b.release(), mp::ValueError);
    b.acquire();
    b.release();
    EXPECT_THROW(b.release(), mp::ValueError);
    EXPECT_EQ(b.get_value(), 2);
    b.acquire();
    b.acquire();
    EXPECT_FALSE(b.acquire(false));
    mp::Process p([b]() mutable { b.release(); });  // any process may release
    p.start();
    expect_ok(p);
    EXPECT_EQ(b.get_value(), 1);
    EXPECT_THROW(mp::BoundedSemaphore(-2), mp::ValueError);
}

// ---- Event ---------------------------------------------------------------------------------

TEST(Event, SetClearIsSet) {
    mp::Event e;
    EXPECT_FALSE(e.is_set());
    EXPECT_FALSE(e.wait(20ms));
    e.set();
    EXPECT_TRUE(e.is_set());
    EXPECT_TRUE(e.wait());
    EXPECT_TRUE(e.wait(0ms));
    e.clear();
    EXPECT_FALSE(e.is_set());
    auto t0 = Clock::now();
    EXPECT_FALSE(e.wait(100ms));
    EXPECT_GE(Clock::now() - t0, 95ms);
}

TEST(Event, WakesEveryWaitingProcess) {
    mp::Event go, seen;
    mp::Semaphore arrived(0);
    mp::RawValue<int> woke(0);
    mp::Lock l;
    std::vector<mp::Process> ps;
    for (int i = 0; i < 3; ++i) {
        ps.emplace_back([go, arrived, woke, l]() mutable {
            arrived.release();
            require(go.wait(10s), "event set");
            std::lock_guard g(l);
            ++woke.value();
        });
    }
    for (auto& p : ps) p.start();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(arrived.acquire(10s));
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(woke.value(), 0);
    go.set();
    for (auto& p : ps) expect_ok(p);
    EXPECT_EQ(woke.value(), 3);
    // And the other way round: a child sets, the parent waits.
    mp::Process setter([seen]() mutable { seen.set(); });
    setter.start();
    EXPECT_TRUE(seen.wait(10s));
    expect_ok(setter);
}

// ---- Condition -----------------------------------------------------------------------------

TEST(Condition, MisuseThrowsValueError) {
    mp::Condition c;
    EXPECT_THROW(c.wait(), mp::ValueError);
    EXPECT_THROW(c.wait(10ms), mp::ValueError);
    EXPECT_THROW(c.notify(), mp::ValueError);
    EXPECT_THROW(c.notify_all(), mp::ValueError);
    EXPECT_THROW(c.release(), mp::ValueError);
}

TEST(Condition, TimedWaitReturnsFalseHoldingTheLock) {
    mp::Condition c;
    std::unique_lock u(c);
    auto t0 = Clock::now();
    EXPECT_FALSE(c.wait(100ms));
    EXPECT_GE(Clock::now() - t0, 95ms);
    EXPECT_TRUE(c.try_lock_for(1ms));  // its own RLock, held again after the timeout: re-enters
    c.release();
    EXPECT_FALSE(c.wait_for([] { return false; }, 30ms));
    EXPECT_TRUE(c.wait_for([] { return true; }, 30ms));
    c.notify();  // nobody waits: a no-op
    c.notify_all();
}

TEST(Condition, ProducerConsumerAcrossProcesses) {
    mp::Condition c;
    mp::RawValue<int> item(0), consumed(0);
    constexpr int kItems = 200;
    mp::Process consumer([c, item, consumed]() mutable {
        for (int i = 1; i <= kItems; ++i) {
            std::unique_lock u(c);
            require(c.wait_for([&] { return item.value() == i; }, 10s), "item arrives");
            ++consumed.value();
            c.notify_all();
        }
    });
    consumer.start();
    for (int i = 1; i <= kItems; ++i) {
        std::unique_lock u(c);
        ASSERT_TRUE(c.wait_for([&] { return consumed.value() == i - 1; }, 10s));
        item.value() = i;
        c.notify();
    }
    expect_ok(consumer);
    EXPECT_EQ(consumed.value(), kItems);
}

TEST(Condition, NotifyNWakesExactlyN) {
    mp::Condition c;
    mp::RawValue<int> waiting(0), woke(0);
    std::vector<mp::Process> ps;
    for (int i = 0; i < 4; ++i) {
        ps.emplace_back([c, waiting, woke]() mutable {
            std::unique_lock u(c);
            ++waiting.value();
            require(c.wait(10s), "notified");
            ++woke.value();
        });
    }
    for (auto& p : ps) p.start();
    ASSERT_TRUE(mp::test::eventually([&] {
        std::lock_guard g(c);
        return waiting.value() == 4;
    }));
    {
        std::lock_guard g(c);
        c.notify(2);
    }
    ASSERT_TRUE(mp::test::eventually([&] {
        std::lock_guard g(c);
        return woke.value() == 2;
    }));
    std::this_thread::sleep_for(100ms);
    {
        std::lock_guard g(c);
        EXPECT_EQ(woke.value(), 2);  // not more
        c.notify_all();
    }
    for (auto& p : ps) expect_ok(p);
    EXPECT_EQ(woke.value(), 4);
}

TEST(Condition, LateWaiterDoesNotStealAnEarlierWakeUp) {
    mp::Condition c;
    mp::RawValue<int> first_woke(0);
    mp::Event first_waiting;
    mp::Process first([c, first_woke, first_waiting]() mutable {
        std::unique_lock u(c);
        first_waiting.set();
        require(c.wait(10s), "notified");
        first_woke.value() = 1;
    });
    first.start();
    ASSERT_TRUE(first_waiting.wait(10s));
    std::unique_lock u(c);  // first is inside wait() once we hold the lock
    c.notify();
    EXPECT_FALSE(c.wait(100ms));  // arrived after notify(): must not take its wake-up
    u.unlock();
    expect_ok(first);
    EXPECT_EQ(first_woke.value(), 1);
}

TEST(Condition, WithGivenLockAndRLock) {
    mp::Lock l;
    mp::Condition c(l);
    c.acquire();
    EXPECT_TRUE(l.locked());  // the same lock
    EXPECT_FALSE(c.wait(10ms));
    EXPECT_TRUE(l.locked());
    c.release();
    EXPECT_FALSE(l.locked());

    mp::RLock r;
    mp::Condition cr(r);
    r.acquire();
    r.acquire();  // depth 2: wait() must release both levels
    mp::RawValue<int> flag(0);
    mp::Process p([r, cr, flag]() mutable {
        std::unique_lock u(cr);  // possible only while the parent waits
        flag.value() = 1;
        cr.notify();
    });
    p.start();
    EXPECT_TRUE(cr.wait_for([&] { return flag.value() == 1; }, 10s));
    EXPECT_TRUE(r.is_mine());
    r.release();
    EXPECT_TRUE(r.locked());  // depth restored to 2
    r.release();
    EXPECT_FALSE(r.locked());
    expect_ok(p);
}

TEST(Condition, NotifyWakesTheWaiterAtTheReleaseEvenIfTheConditionIsGoneByThen) {
    // notify() defers the wake-up to the lock's release; the Condition handle it came
    // from may be destroyed first (the release then still reaches the waiter, and
    // touches no unmapped memory), and the release may go through the Lock's handle.
    mp::Lock l;
    auto c = std::make_unique<mp::Condition>(l);
    mp::RawValue<int> flag(0);
    mp::Event entered;
    mp::Process waiter([c = *c, flag, entered]() mutable {
        std::unique_lock u(c);
        entered.set();
        require(c.wait_for([&] { return flag.value() == 1; }, 10s), "woken by the release");
    });
    waiter.start();
    ASSERT_TRUE(entered.wait(10s));
    l.acquire();  // possible only once the waiter sleeps in wait()
    flag.value() = 1;
    c->notify();
    c.reset();
    l.release();
    expect_ok(waiter);
}

TEST(Condition, WaitsAcrossThreads) {
    mp::Condition c;
    bool ready = false;
    std::thread t([&] {
        std::lock_guard g(c);
        ready = true;
        c.notify();
    });
    {
        std::unique_lock u(c);
        EXPECT_TRUE(c.wait_for([&] { return ready; }, 10s));
    }
    t.join();
}

TEST(Condition, LockHolderKilledGivesLockAbandoned) {
    mp::Condition c;
    mp::Event ready;
    mp::Process holder([c, ready]() mutable {
        c.acquire();
        ready.set();
        for (;;) std::this_thread::sleep_for(1s);
    });
    holder.start();
    ASSERT_TRUE(ready.wait(10s));
    holder.kill();
    EXPECT_EQ(finish(holder), -9);
    EXPECT_THROW(c.acquire(), mp::LockAbandoned);
    c.release();
    // Normal use afterwards.
    mp::RawValue<int> flag(0);
    mp::Process p([c, flag]() mutable {
        std::lock_guard g(c);
        flag.value() = 1;
        c.notify_all();
    });
    std::unique_lock u(c);
    p.start();
    EXPECT_TRUE(c.wait_for([&] { return flag.value() == 1; }, 10s));
    u.unlock();
    expect_ok(p);
}

TEST(Condition, WaiterGetsLockAbandonedWhenHolderDiesWhileItWaits) {
    mp::Condition c;
    mp::Event holding;
    mp::RawValue<int> outcome(0);
    mp::Event entered;
    mp::Process waiter([c, outcome, entered]() mutable {
        std::unique_lock u(c);
        entered.set();
        try {
            c.wait(10s);
            outcome.value() = 1;
        } catch (const mp::LockAbandoned&) {
            outcome.value() = 2;  // and we hold the lock again: u releases it
        }
    });
    waiter.start();
    ASSERT_TRUE(entered.wait(10s));
    // The killer gets the lock only once the waiter sleeps in wait().
    mp::Process killer([c, holding]() mutable {
        c.acquire();
        c.notify_all();
        holding.set();
        for (;;) std::this_thread::sleep_for(1s);  // dies holding the lock
    });
    killer.start();
    ASSERT_TRUE(holding.wait(10s));
    killer.kill();
    finish(killer);
    expect_ok(waiter);
    EXPECT_EQ(outcome.value(), 2);
    EXPECT_TRUE(c.acquire(1s));
    c.release();
}

// ---- Barrier -------------------------------------------------------------------------------

TEST(Barrier, IndicesAreDistinctAcrossProcesses) {
    constexpr std::size_t kParties = 4;
    mp::Barrier bar(kParties);
    EXPECT_EQ(bar.parties(), kParties);
    EXPECT_FALSE(bar.broken());
    mp::RawArray<int> index(kParties * 3);
    std::vector<mp::Process> ps;
    for (std::size_t i = 0; i < kParties; ++i) {
        ps.emplace_back([bar, index, i]() mutable {
            for (std::size_t round = 0; round < 3; ++round)
                index[round * kParties + i] = static_cast<int>(bar.wait(10s));
        });
    }
    for (auto& p : ps) p.start();
    for (auto& p : ps) expect_ok(p);
    for (std::size_t round = 0; round < 3; ++round) {
        std::set<int> seen(index.begin() + round * kParties,
                           index.begin() + (round + 1) * kParties);
        EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 3})) << "round " << round;
    }
    EXPECT_EQ(bar.n_waiting(), 0u);
}

TEST(Barrier, NWaitingCountsWaiters) {
    mp::Barrier bar(3);
    std::vector<mp::Process> ps;
    for (int i = 0; i < 2; ++i) ps.emplace_back([bar]() mutable { bar.wait(10s); });
    for (auto& p : ps) p.start();
    EXPECT_TRUE(mp::test::eventually([&] { return bar.n_waiting() == 2; }));
    EXPECT_EQ(bar.wait(10s), 2u);  // the last to arrive gets parties-1
    for (auto& p : ps) expect_ok(p);
    EXPECT_EQ(bar.n_waiting(), 0u);
}

TEST(Barrier, TimeoutBreaksTheBarrier) {
    mp::Barrier bar(2);
    auto t0 = Clock::now();
    EXPECT_THROW(bar.wait(100ms), mp::BrokenBarrierError);
    EXPECT_GE(Clock::now() - t0, 95ms);
    EXPECT_TRUE(bar.broken());
    EXPECT_THROW(bar.wait(), mp::BrokenBarrierError);  // stays broken
    bar.reset();
    EXPECT_FALSE(bar.broken());
    expect_round_passes(bar);
}

TEST(Barrier, AbortWakesWaitersWithBrokenBarrierError) {
    mp::Barrier bar(3);
    mp::RawValue<int> broken_seen(0);
    mp::Lock l;
    std::vector<mp::Process> ps;
    for (int i = 0; i < 2; ++i) {
        ps.emplace_back([bar, broken_seen, l]() mutable {
            if (wait_outcome(bar, true) == 2) {
                std::lock_guard g(l);
                ++broken_seen.value();
            }
        });
    }
    for (auto& p : ps) p.start();
    ASSERT_TRUE(mp::test::eventually([&] { return bar.n_waiting() == 2; }));
    bar.abort();
    for (auto& p : ps) expect_ok(p);
    EXPECT_EQ(broken_seen.value(), 2);
    EXPECT_TRUE(bar.broken());
    EXPECT_THROW(bar.wait(1s), mp::BrokenBarrierError);
    bar.reset();
    EXPECT_FALSE(bar.broken());
    EXPECT_EQ(bar.n_waiting(), 0u);
}

TEST(Barrier, ResetWhileWaitingBreaksCurrentWaitersThenWorks) {
    mp::Barrier bar(2);
    mp::RawValue<int> outcome(0);
    mp::Process p([bar, outcome]() mutable { outcome.value() = wait_outcome(bar); });
    p.start();
    ASSERT_TRUE(mp::test::eventually([&] { return bar.n_waiting() == 1; }));
    bar.reset();
    expect_ok(p);
    EXPECT_EQ(outcome.value(), 2);
    EXPECT_FALSE(bar.broken());
    expect_round_passes(bar);
}

TEST(Barrier, DeadPartyBreaksTheBarrierInsteadOfHanging) {
    mp::Barrier bar(3);
    mp::Process victim([bar]() mutable { bar.wait(); });
    victim.start();
    ASSERT_TRUE(mp::test::eventually([&] { return bar.n_waiting() == 1; }));
    mp::RawValue<int> outcome(0);
    // No timeout: only the death of the victim can end this wait.
    mp::Process other([bar, outcome]() mutable { outcome.value() = wait_outcome(bar, true); });
    other.start();
    ASSERT_TRUE(mp::test::eventually([&] { return bar.n_waiting() == 2; }));
    victim.kill();
    finish(victim);
    expect_ok(other);
    EXPECT_EQ(outcome.value(), 2);
    EXPECT_TRUE(bar.broken());
    bar.reset();
    EXPECT_EQ(bar.n_waiting(), 0u);
    expect_round_passes(bar);
}

TEST(Barrier, APartyKilledWhileWaitingForTheDrainBreaksTheNextCycle) {
    mp::Barrier bar(3);
    mp::RawValue<int> stopped_outcome(0);
    // S stops itself asleep in cycle 1, so that cycle cannot finish draining.
    mp::Process s([bar, stopped_outcome]() mutable {
        signal_at(Protocol::barrier, mp::detail::kBarrierFilling, SIGSTOP);
        require(wait_outcome_30s(bar) == 1, "cycle 1 passes");
        stopped_outcome.value() = wait_outcome_30s(bar);  // cycle 2: its victim is dead
    });
    s.start();
    ASSERT_TRUE(mp::test::eventually([&] { return process_state(s.pid()) == 'T'; }, 20s));
    // V passes cycle 1, calls wait() again while cycle 1 drains, and dies right there.
    mp::Process v([bar]() mutable {
        require(wait_outcome_30s(bar) == 1, "cycle 1 passes");
        signal_at(Protocol::barrier, mp::detail::kBarrierInWaitingRoom);
        bar.wait(30s);
        std::_Exit(3);  // not reached
    });
    v.start();
    ASSERT_TRUE(mp::test::eventually([&] { return bar.n_waiting() == 2; }, 20s));
    EXPECT_NO_THROW(bar.wait(30s));  // the last of cycle 1
    EXPECT_EQ(finish(v), -SIGKILL) << "the victim died in the waiting room";
    ::kill(s.pid(), SIGCONT);
    auto start = Clock::now();
    EXPECT_THROW(bar.wait(30s), mp::BrokenBarrierError);
    EXPECT_LT(Clock::now() - start, 8s) << "broken by the death, not by a 30 s timeout";
    expect_ok(s);
    EXPECT_EQ(stopped_outcome.value(), 2);
    bar.reset();
    expect_round_passes(bar);
}

TEST(Barrier, APartyKilledAfterItsCycleReleasedItButBeforeItLeftBreaksTheNextCycle) {
    mp::Barrier bar(2);
    // The victim arrives first and stops itself asleep: the cycle fills and releases it,
    // but it dies before it wakes to leave. The next cycle can never fill without it.
    mp::Process victim([bar]() mutable {
        signal_at(Protocol::barrier, mp::detail::kBarrierFilling, SIGSTOP);
        wait_outcome_30s(bar);
        std::_Exit(3);  // not reached
    });
    victim.start();
    ASSERT_TRUE(mp::test::eventually([&] { return process_state(victim.pid()) == 'T'; }, 20s));
    EXPECT_EQ(wait_outcome_30s(bar), 1) << "the cycle the victim filled passes";
    victim.kill();
    ASSERT_TRUE(mp::test::eventually([&] { return process_state(victim.pid()) == 'Z'; }, 20s));
    auto start = Clock::now();
    EXPECT_EQ(wait_outcome_30s(bar), 2);
    EXPECT_LT(Clock::now() - start, 8s) << "broken by the death, not by a 30 s timeout";
    EXPECT_EQ(finish(victim), -SIGKILL);
    bar.reset();
    expect_round_passes(bar);
}

TEST(Barrier, APartyKilledAtEveryStepOfTheCycleBreaksItInsteadOfHanging) {
    using namespace mp::detail;
    for (int step : {kBarrierEntered, kBarrierTookSlot, kBarrierLastArrived, kBarrierFilling,
                     kBarrierLeaving, kBarrierLeft}) {
        SCOPED_TRACE("killed at barrier step " + std::to_string(step));
        mp::Barrier bar(2);
        const bool victim_last = step == kBarrierLastArrived;
        mp::Process victim([bar, step, victim_last]() mutable {
            signal_at(Protocol::barrier, step);
            if (victim_last)
                require(mp::test::eventually([&] { return bar.n_waiting() == 1; }), "");
            for (int i = 0; i < 2; ++i) wait_outcome_30s(bar);
            std::_Exit(3);  // not reached
        });
        victim.start();
        if (step == kBarrierFilling) {  // the victim arrives first and sleeps
            ASSERT_TRUE(mp::test::eventually(
                [&] { return process_state(victim.pid()) == 'Z' || bar.n_waiting() == 1; }));
        }
        auto start = Clock::now();
        bool broke = false;
        for (int i = 0; i < 3 && !broke; ++i) broke = wait_outcome_30s(bar) == 2;
        EXPECT_TRUE(broke);
        EXPECT_LT(Clock::now() - start, 8s) << "broken by the death, not by a 30 s timeout";
        EXPECT_EQ(finish(victim), -SIGKILL);
        bar.reset();
        expect_round_passes(bar);
    }
}

TEST(Barrier, BadPartiesThrowValueError) {
    EXPECT_THROW(mp::Barrier(0), mp::ValueError);
    EXPECT_THROW(mp::Barrier(100000), mp::ValueError);
    mp::Barrier one(1);
    EXPECT_EQ(one.wait(), 0u);
    EXPECT_EQ(one.wait(), 0u);
}

// ---- the lesson's example ------------------------------------------------------------------

TEST(Examples, LockShowsTheRaceAndTheFix) {
    auto r = mp::test::run_program(mp::test::binary("examples/05_lock"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    long expected = 0, got_unlocked = 0, got_locked = 0;
    auto at = r.out.find("Without a lock: expected ");
    ASSERT_NE(at, std::string::npos) << r.out;
    ASSERT_EQ(std::sscanf(r.out.c_str() + at, "Without a lock: expected %ld, got %ld", &expected,
                          &got_unlocked),
              2);
    at = r.out.find("With a lock:");
    ASSERT_NE(at, std::string::npos) << r.out;
    long expected2 = 0;
    ASSERT_EQ(std::sscanf(r.out.c_str() + at, "With a lock: expected %ld, got %ld", &expected2,
                          &got_locked),
              2);
    EXPECT_EQ(expected, 800);
    EXPECT_LT(got_unlocked, expected) << "the race did not show";
    EXPECT_EQ(got_locked, expected);
    for (int i = 0; i < 3; ++i)
        EXPECT_NE(r.out.find("Process " + std::to_string(i) + " entering the critical section"),
                  std::string::npos);
}

TEST(Barrier, ActionRunsOnceBeforeTheRelease) {
    mp::RawValue<int> runs(0);
    mp::RawValue<int> seen_by_child(-1);
    mp::Barrier bar(2, [runs]() mutable { ++runs.value(); });
    mp::Process p([bar, runs, seen_by_child]() mutable {
        bar.wait(10s);
        seen_by_child.value() = runs.value();  // the action ran before anyone was released
    });
    p.start();
    EXPECT_NO_THROW(bar.wait(10s));
    expect_ok(p);
    EXPECT_EQ(runs.value(), 1);
    EXPECT_EQ(seen_by_child.value(), 1);
}

TEST(Barrier, ThrowingActionBreaksTheBarrier) {
    mp::Barrier bar(1, [] { throw std::runtime_error("action failed"); });
    EXPECT_THROW(bar.wait(), std::runtime_error);
    EXPECT_TRUE(bar.broken());
    EXPECT_THROW(bar.wait(), mp::BrokenBarrierError);
    bar.reset();
    EXPECT_FALSE(bar.broken());
}

TEST(Barrier, DefaultTimeoutAppliesToWait) {
    mp::Barrier bar(2, nullptr, 100ms);
    auto t0 = Clock::now();
    EXPECT_THROW(bar.wait(), mp::BrokenBarrierError);
    EXPECT_GE(Clock::now() - t0, 95ms);
    EXPECT_TRUE(bar.broken());
}

// ---- stress: no lost wake-ups --------------------------------------------------------------

TEST(Stress, SemaphoreAsMutexGivesExactTotals) {
    mp::Semaphore s(1);
    expect_exact_total(s);
    EXPECT_EQ(s.get_value(), 1);
}

TEST(Stress, RLockGivesExactTotals) {
    expect_exact_total(mp::RLock());
}

TEST(Stress, BoundedBufferWithConditionTwoProducersTwoConsumers) {
    // A ring of 4 slots guarded by one Condition; every item is consumed exactly once.
    constexpr int kPerProducer = 3000;
    mp::Condition c;
    mp::RawArray<long> ring(4);
    mp::RawValue<long> head(0), tail(0), sum(0), taken(0);
    auto producer = [=](long base) mutable {
        for (long i = 1; i <= kPerProducer; ++i) {
            std::unique_lock u(c);
            require(c.wait_for([&] { return tail.value() - head.value() < 4; }, 10s), "space");
            ring[static_cast<std::size_t>(tail.value() % 4)] = base + i;
            ++tail.value();
            c.notify_all();
        }
    };
    auto consumer = [=]() mutable {
        for (;;) {
            std::unique_lock u(c);
            require(c.wait_for(
                        [&] {
                            return head.value() < tail.value() || taken.value() == 2 * kPerProducer;
                        },
                        10s),
                    "item");
            if (taken.value() == 2 * kPerProducer) return;
            sum.value() += ring[static_cast<std::size_t>(head.value() % 4)];
            ++head.value();
            ++taken.value();
            c.notify_all();
        }
    };
    std::vector<mp::Process> ps;
    ps.emplace_back(producer, 0L);
    ps.emplace_back(producer, 1'000'000L);
    ps.emplace_back(consumer);
    ps.emplace_back(consumer);
    for (auto& p : ps) p.start();
    for (auto& p : ps) expect_ok(p);
    const long n = kPerProducer;
    EXPECT_EQ(taken.value(), 2 * n);
    EXPECT_EQ(sum.value(), n * (n + 1) + 1'000'000L * n);
}

TEST(Stress, EventPingPongAcrossProcesses) {
    mp::Event ping, pong;
    constexpr int kRounds = 2000;
    mp::Process p([ping, pong]() mutable {
        for (int i = 0; i < kRounds; ++i) {
            require(ping.wait(10s), "ping");
            ping.clear();
            pong.set();
        }
    });
    p.start();
    for (int i = 0; i < kRounds; ++i) {
        ping.set();
        ASSERT_TRUE(pong.wait(10s)) << "round " << i;
        pong.clear();
    }
    expect_ok(p);
}
