// Tests of the park helper (mp/detail/park.hpp): the one sleep/wake protocol of mp.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mp/detail/park.hpp>
#include <mp/mp.hpp>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using mp::detail::Clock;
using mp::detail::park_announce;
using mp::detail::park_quiet_fd;
using mp::detail::park_until;
using mp::detail::park_until_fd;
using mp::detail::ParkWord;
using mp::detail::unpark_all;
using mp::detail::unpark_fd;

namespace {

// A wait that only ends by its deadline although the condition holds is a lost
// wake-up: every waker below publishes and unparks at once, so no wait should come
// anywhere near this (generous under load).
constexpr auto kLost = 10s;

/// Shared by a parent and a forked child: two directions of a ping-pong.
struct PingPong {
    ParkWord to_child;
    ParkWord to_parent;
    alignas(64) std::atomic<std::uint64_t> ping;  // written by the parent
    alignas(64) std::atomic<std::uint64_t> pong;  // written by the child
};

/// Anonymous shared memory for one T, unmapped at scope exit.
template <class T>
class SharedObject {
  public:
    SharedObject() {
        void* p =
            ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
        t_ = new (p) T{};
    }
    ~SharedObject() { ::munmap(t_, sizeof(T)); }
    SharedObject(const SharedObject&) = delete;
    SharedObject& operator=(const SharedObject&) = delete;
    T* operator->() const { return t_; }
    T& operator*() const { return *t_; }

  private:
    T* t_;
};

/// Waits until `counter` reaches `want`; false if that took as long as kLost.
bool wait_for_value(ParkWord& p, const std::atomic<std::uint64_t>& counter, std::uint64_t want,
                    Clock::duration spin) {
    auto deadline = Clock::now() + kLost;
    bool ok = park_until(
        p, [&] { return counter.load(std::memory_order_acquire) >= want; }, deadline, spin);
    return ok && Clock::now() < deadline;
}

/// `rounds` round trips between this process and a forked child; true if every wait
/// ended by a wake-up, not by kLost.
bool ping_pong_between_processes(std::uint64_t rounds, Clock::duration spin) {
    SharedObject<PingPong> s;
    pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {  // the child: only atomics, futexes and _exit
        for (std::uint64_t i = 1; i <= rounds; ++i) {
            if (!wait_for_value(s->to_child, s->ping, i, spin)) ::_exit(1);
            s->pong.store(i, std::memory_order_release);
            unpark_all(s->to_parent);
        }
        ::_exit(0);
    }
    bool ok = true;
    for (std::uint64_t i = 1; i <= rounds && ok; ++i) {
        s->ping.store(i, std::memory_order_release);
        unpark_all(s->to_child);
        ok = wait_for_value(s->to_parent, s->pong, i, spin);
    }
    if (!ok) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(Park, PingPongBetweenProcessesAlwaysSleepingLosesNoWakeup) {
    // No spin: every wait takes the announce / re-check / futex path, so the race
    // between a waiter announcing itself and a waker publishing is hit constantly.
    EXPECT_TRUE(ping_pong_between_processes(100'000, Clock::duration::zero()));
}

TEST(Park, PingPongBetweenProcessesWithSpinLosesNoWakeup) {
    EXPECT_TRUE(ping_pong_between_processes(30'000, mp::detail::kParkSpin));
}

/// An eventfd (nonblocking), closed at scope exit.
struct EventFd {
    int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ~EventFd() { ::close(fd); }
};

TEST(Park, EventfdPingPongBetweenProcessesLosesNoWakeup) {
    // The Pool's thread sleeps so: park_until_fd, polling an eventfd (and a pidfd, here
    // an fd that never polls ready), woken by unpark_fd. No spin: every wait takes the
    // announce / re-check / poll path.
    SharedObject<PingPong> s;
    EventFd efd;
    ASSERT_GE(efd.fd, 0);
    int never[2];
    ASSERT_EQ(::pipe(never), 0);
    constexpr std::uint64_t kRounds = 20'000;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // the waiter on the eventfd: only atomics, poll, eventfd and _exit
        for (std::uint64_t i = 1; i <= kRounds; ++i) {
            pollfd fds[2] = {{efd.fd, POLLIN, 0}, {never[0], POLLIN, 0}};
            auto deadline = Clock::now() + kLost;
            bool ok = park_until_fd(
                s->to_child, fds, [&] { return s->ping.load(std::memory_order_acquire) >= i; },
                deadline, Clock::duration::zero());
            if (!ok || Clock::now() >= deadline) ::_exit(1);
            s->pong.store(i, std::memory_order_release);
            unpark_all(s->to_parent);
        }
        ::_exit(0);
    }
    bool ok = true;
    for (std::uint64_t i = 1; i <= kRounds && ok; ++i) {
        s->ping.store(i, std::memory_order_release);
        unpark_fd(s->to_child, efd.fd);
        ok = wait_for_value(s->to_parent, s->pong, i, Clock::duration::zero());
    }
    if (!ok) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(never[0]);
    ::close(never[1]);
    EXPECT_TRUE(ok);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Park, AQuietWaiterAnnouncedByAnotherThreadLosesNoWakeup) {
    // The Pool's thread while callers collect results: it sleeps in park_quiet_fd (not
    // announced); the last caller to leave announces it (park_announce, then a re-check)
    // while a worker publishes and calls unpark_fd at the same moment. Whichever comes
    // first, the sleeper must be woken every round.
    ParkWord p{};
    EventFd efd;
    ASSERT_GE(efd.fd, 0);
    std::atomic<std::uint64_t> value{0};  // published by the worker
    std::atomic<std::uint64_t> go{0};     // round started (announcer and worker race)
    std::atomic<std::uint64_t> seen{0};   // rounds the sleeper saw
    ParkWord back{};
    constexpr std::uint64_t kRounds = 2'000;
    std::atomic<bool> lost{false};
    std::thread sleeper([&] {
        for (std::uint64_t i = 1; i <= kRounds; ++i) {
            pollfd fds[1] = {{efd.fd, POLLIN, 0}};
            auto deadline = Clock::now() + kLost;
            // Spurious returns (a stale eventfd count) are allowed: sleep on until it holds.
            while (value.load(std::memory_order_acquire) < i && Clock::now() < deadline)
                park_quiet_fd(
                    fds, [&] { return value.load(std::memory_order_acquire) >= i; }, deadline);
            if (value.load(std::memory_order_acquire) < i) lost = true;
            seen.store(i, std::memory_order_release);
            unpark_all(back);
        }
    });
    auto race = [&](bool announcer) {
        for (std::uint64_t i = 1; i <= kRounds; ++i) {
            while (go.load(std::memory_order_acquire) < i) std::this_thread::yield();
            if (announcer) {
                park_announce(p);
                if (value.load(std::memory_order_acquire) >= i) (void)::eventfd_write(efd.fd, 1);
            } else {
                value.store(i, std::memory_order_release);
                unpark_fd(p, efd.fd);
            }
        }
    };
    std::thread announcer(race, true);
    std::thread worker(race, false);
    for (std::uint64_t i = 1; i <= kRounds && !lost; ++i) {
        go.store(i, std::memory_order_release);
        if (!wait_for_value(back, seen, i, Clock::duration::zero())) lost = true;
        // Next round: the sleeper is quiet again (nobody announced): clear the word as a
        // waker that found it announced would.
        unpark_fd(p, -1, false);
    }
    go.store(kRounds, std::memory_order_release);
    value.store(kRounds, std::memory_order_release);
    (void)::eventfd_write(efd.fd, 1);
    announcer.join();
    worker.join();
    sleeper.join();
    EXPECT_FALSE(lost.load());
}

TEST(Park, ManyWaitersOneWordAllSeeEveryStep) {
    // Four threads wait on one word for each value of a counter that one thread bumps:
    // wake_all must reach every parked waiter, every step.
    ParkWord p{};
    std::atomic<std::uint64_t> counter{0};
    std::atomic<std::uint64_t> seen_all{0};  // sum of the steps the waiters saw
    ParkWord back{};
    std::atomic<std::uint64_t> acks{0};
    constexpr std::uint64_t kSteps = 5'000;
    constexpr int kWaiters = 4;
    std::atomic<bool> lost{false};
    std::vector<std::thread> waiters;
    for (int t = 0; t < kWaiters; ++t) {
        waiters.emplace_back([&] {
            for (std::uint64_t i = 1; i <= kSteps; ++i) {
                if (!wait_for_value(p, counter, i, Clock::duration::zero())) lost = true;
                seen_all.fetch_add(1, std::memory_order_relaxed);
                acks.fetch_add(1, std::memory_order_release);
                unpark_all(back);
            }
        });
    }
    for (std::uint64_t i = 1; i <= kSteps && !lost; ++i) {
        counter.store(i, std::memory_order_release);
        unpark_all(p);
        if (!wait_for_value(back, acks, i * kWaiters, Clock::duration::zero())) lost = true;
    }
    if (lost) {  // let the waiters run to the end
        counter.store(kSteps, std::memory_order_release);
        unpark_all(p);
    }
    for (auto& w : waiters) w.join();
    EXPECT_FALSE(lost.load());
    EXPECT_EQ(seen_all.load(), kSteps * kWaiters);
}

TEST(Park, DeadlineIsHonouredAndTheConditionRecheckedAtTheEnd) {
    ParkWord p{};
    auto t0 = Clock::now();
    EXPECT_FALSE(park_until(
        p, [] { return false; }, t0 + 50ms));
    auto waited = Clock::now() - t0;
    EXPECT_GE(waited, 50ms);
    EXPECT_LT(waited, 5s);
    // A deadline already passed: no wait at all, but a ready condition still wins.
    EXPECT_FALSE(park_until(
        p, [] { return false; }, Clock::now() - 1s));
    EXPECT_TRUE(park_until(
        p, [] { return true; }, Clock::now() - 1s));
}

TEST(Park, UnparkWithNobodyParkedLeavesTheWordAlone) {
    ParkWord p{};
    for (int i = 0; i < 1000; ++i) unpark_all(p);
    EXPECT_EQ(p.word.load(), 0u);
    // A waiter that timed out leaves its announcement; the next unpark clears it
    // and counts one wake-up.
    EXPECT_FALSE(park_until(
        p, [] { return false; }, Clock::now() + 1ms, Clock::duration::zero()));
    EXPECT_EQ(p.word.load() & 1u, 1u);
    unpark_all(p);
    EXPECT_EQ(p.word.load(), 2u);
    unpark_all(p);
    EXPECT_EQ(p.word.load(), 2u);
}

TEST(Park, ASleeperIsWokenByAnotherThread) {
    ParkWord p{};
    std::atomic<int> flag{0};
    std::thread waker([&] {
        std::this_thread::sleep_for(20ms);
        flag.store(1, std::memory_order_release);
        unpark_all(p);
    });
    auto t0 = Clock::now();
    EXPECT_TRUE(park_until(
        p, [&] { return flag.load(std::memory_order_acquire) == 1; }, t0 + kLost,
        Clock::duration::zero()));
    EXPECT_LT(Clock::now() - t0, kLost);
    waker.join();
}

TEST(Park, ConditionPingPongBetweenProcessesLosesNoWakeup) {
    // The Condition sleeps with the park helper: two processes take turns through one
    // Condition and a shared counter; a lost notification would leave a wait to its
    // (generous) timeout, which fails the run.
    mp::Condition c;
    mp::RawValue<long> turn(0);
    constexpr long kRounds = 5'000;
    mp::Process other(
        [](mp::Condition cond, mp::RawValue<long> t) {
            std::unique_lock lock(cond);
            for (long i = 1; i <= kRounds; ++i) {
                while (t.value() != 2 * i - 1) {
                    if (!cond.wait(60s)) ::_exit(1);
                }
                t.value() = 2 * i;
                cond.notify();
            }
        },
        c, turn);
    other.start();
    {
        std::unique_lock lock(c);
        for (long i = 1; i <= kRounds; ++i) {
            turn.value() = 2 * i - 1;
            c.notify();
            while (turn.value() != 2 * i) ASSERT_TRUE(c.wait(60s)) << "round " << i;
        }
    }
    ASSERT_TRUE(other.join(60s));
    EXPECT_EQ(other.exitcode(), 0);
}

}  // namespace

// spin_until_readable (a manager call's wait for its answer): true once the fd has input
// or its peer hung up; false, after at most the spin, when nothing came; never spins on
// one CPU. Each case runs in a thread of its own (the spin policy is per thread).
TEST(Park, SpinUntilReadableSeesInputAndHangUpAndGivesUpAfterItsSpin) {
    using namespace std::chrono_literals;
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    const bool spins = mp::cpu_count() > 1;
    auto in_thread = [](auto f) {
        bool r = false;
        std::thread([&] { r = f(); }).join();
        return r;
    };
    // Input that comes while it spins.
    EXPECT_EQ(in_thread([&] {
                  std::thread writer([&] {
                      std::this_thread::sleep_for(2ms);
                      ASSERT_EQ(::write(sv[1], "x", 1), 1);
                  });
                  bool r = mp::detail::spin_until_readable(sv[0], 2s);
                  writer.join();
                  return r;
              }),
              spins);
    char c = 0;
    ASSERT_EQ(::read(sv[0], &c, 1), 1);
    // Nothing comes: it gives up after its spin.
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(in_thread([&] { return mp::detail::spin_until_readable(sv[0], 20ms); }));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    // The peer hangs up: readable (the read that follows sees EOF).
    ::close(sv[1]);
    EXPECT_EQ(in_thread([&] { return mp::detail::spin_until_readable(sv[0], 2s); }), spins);
    ::close(sv[0]);
}
