// mp/synchronize.hpp — Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition,
// Barrier (Python: multiprocessing.synchronize).
//
//     mp::Lock lock;                              // create before start(): children inherit it
//     mp::Process p([lock]() mutable { std::lock_guard g(lock); /* critical section */ });
//     p.start();
//     { std::lock_guard g(lock); /* the parent's critical section */ }
//     p.join();
//
// Every object here is a handle: copying one gives a second handle to the same shared
// primitive, whose state lives in an anonymous shared mapping made by the constructor
// and inherited by the children started afterwards (create them before start()).
// They work between processes and between threads alike, wait in the kernel (a futex
// or a process-shared robust pthread mutex) and take std::chrono timeouts. Lock, RLock,
// Semaphore, BoundedSemaphore and Condition meet the standard Lockable and
// TimedLockable requirements (lock, unlock, try_lock, try_lock_for, try_lock_until),
// so std::lock_guard, std::unique_lock and std::scoped_lock work with them; beside
// those they have Python's acquire(), acquire(timeout), acquire(false) and release().
// A timeout that is zero or negative means "do not wait"; a very long one (more than
// 100 years) means "wait forever".
//
// Robustness that Python lacks — what is promised when a process (or thread) dies:
//  * Lock, RLock, and the lock of a Condition are robust process-shared pthread mutexes:
//    when the holder dies (SIGKILL included) the kernel marks the mutex; the next
//    acquire, blocked or not yet started, throws mp::LockAbandoned and the caller then
//    HOLDS the lock (for an RLock with depth 1). Repair the state the lock guards, then
//    release() it. A std::lock_guard whose constructor throws does not unlock, so catch
//    LockAbandoned where you lock and release() there. After that the lock is normal.
//  * Condition: its own bookkeeping (how many wait, wake-up tokens) is changed only
//    while holding its lock, so a death inside it is reported by the lock as above.
//    A waiter that dies while asleep in wait() leaves at most one surplus wake-up
//    behind (a later waiter may return from wait() spuriously — use wait_for with a
//    predicate, as with any condition variable); a notify() interrupted by the death
//    of its caller may be lost or become a spurious wake-up. No live waiter is ever
//    left asleep by a notify that completed.
//  * Barrier: a party that dies while waiting, or while updating the barrier, is seen by
//    the others within about 100 ms: the barrier breaks and every waiter gets
//    mp::BrokenBarrierError (reset() makes it usable again), never a hang.
//  * Semaphore and BoundedSemaphore: NOT robust. Units are not owned by anyone (any
//    process may release them, as in Python), so a process that dies after acquire()
//    and before release() takes its units with it; the others wait until their
//    timeout. Their bookkeeping is a single atomic word, so a death never corrupts it.
//    Use a timeout, or a Lock, when a peer may die.
//  * Event: no holder; a death changes nothing.
//
// Misuse (Python raises ValueError/AssertionError; we throw mp::ValueError for all):
// release() of a Lock this thread does not hold, of an RLock this thread does not own,
// a BoundedSemaphore released above its start value, wait()/notify() on a Condition
// whose lock this thread does not hold, and a blocking acquire() of a Lock this thread
// already holds (it would deadlock forever; a timed acquire waits out its timeout and
// returns false, as in Python).
//
// Thread safety: all members may be called from any thread of any process holding a
// handle. Ownership of Lock and RLock is per (process, thread), as in Python.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>

#include "mp/detail/shared_region.hpp"
#include "mp/errors.hpp"

namespace mp {

namespace detail {

using SyncClock = std::chrono::steady_clock;
using Deadline = std::optional<SyncClock::time_point>;

/// The deadline of a call that must not wait (acquire(false), a zero timeout).
inline constexpr SyncClock::time_point no_wait = SyncClock::time_point::min();

/// A steady-clock deadline `timeout` from now; nullopt ("forever") beyond 100 years.
template <class Rep, class Period>
Deadline deadline_after(std::chrono::duration<Rep, Period> timeout) {
    using namespace std::chrono;
    if (timeout <= duration<Rep, Period>::zero()) return no_wait;
    if (duration_cast<duration<double>>(timeout) > hours(24 * 365 * 100)) return std::nullopt;
    return SyncClock::now() + ceil<SyncClock::duration>(timeout);
}

/// The same instant as `tp` (any clock) on the steady clock.
template <class Clock, class Duration>
Deadline to_deadline(std::chrono::time_point<Clock, Duration> tp) {
    if constexpr (std::is_same_v<Clock, SyncClock>) {
        return std::chrono::time_point_cast<SyncClock::duration>(tp);
    } else {
        return deadline_after(tp - Clock::now());
    }
}

/// This thread's kernel thread id, cached per thread (reset in the child after fork).
inline thread_local pid_t tls_tid = 0;
pid_t init_current_tid() noexcept;
inline pid_t current_tid() noexcept {
    pid_t t = tls_tid;
    return t != 0 ? t : init_current_tid();
}

/// Who holds a lock, as seen by this process: the holder's tid when it is a thread of
/// this process, and its depth. Kept in private memory (one per lock and process, shared
/// by the handles there), so an uncontended acquire touches no shared cache line but the
/// mutex's; the mutex's futex word (the kernel's record: owner tid, OWNER_DIED) confirms it.
struct LockOwner {
    std::atomic<pid_t> tid{0};
    std::uint32_t depth = 0;
};

/// What Lock and RLock share: a robust process-shared mutex plus owner and depth.
/// The fast paths are inline; everything else is in src/synchronize.cpp.
class LockCore {
public:
    /// Acquires until `deadline` (nullopt: forever; no_wait: try once). False on timeout.
    bool acquire_until(Deadline deadline) {
        const pid_t me = current_tid();
        if (owner_->tid.load(std::memory_order_relaxed) != me &&
            (!deadline || *deadline == no_wait)) [[likely]] {
            int r = deadline ? pthread_mutex_trylock(m_) : pthread_mutex_lock(m_);
            if (r == 0) [[likely]] {
                owner_->tid.store(me, std::memory_order_relaxed);
                owner_->depth = 1;
                return true;
            }
            if (r == EBUSY) return false;
            return took_over(r, me);
        }
        return acquire_slow(deadline, me);
    }
    /// Releases one level. ValueError if the calling thread does not hold it.
    void release() {
        const pid_t me = current_tid();
        if (owner_->depth == 1 && owner_->tid.load(std::memory_order_relaxed) == me &&
            kernel_says_mine(me)) [[likely]] {
            owner_->depth = 0;
            owner_->tid.store(0, std::memory_order_relaxed);
            if (pthread_mutex_unlock(m_) == 0) [[likely]] return;
        }
        release_slow(me);
    }
    /// True if the calling thread holds it.
    [[nodiscard]] bool is_mine() const noexcept {
        const pid_t me = current_tid();
        return owner_->tid.load(std::memory_order_relaxed) == me && kernel_says_mine(me);
    }
    /// True if some thread of some process holds it (false once its holder died).
    [[nodiscard]] bool locked() const noexcept;
    /// Releases completely (whatever the depth); returns the depth to restore.
    std::uint32_t release_all();
    /// Takes the lock again with `depth`. LockAbandoned (holding it) if its holder died.
    void reacquire(std::uint32_t depth);

protected:
    LockCore(bool recursive, const char* kind);

private:
    // glibc keeps a robust mutex's futex word first; its contents are kernel ABI (the
    // robust-futex protocol): the owner's tid, plus FUTEX_OWNER_DIED once it died.
    bool kernel_says_mine(pid_t me) const noexcept {
        auto word = static_cast<std::uint32_t>(
            std::atomic_ref<int>(m_->__data.__lock).load(std::memory_order_relaxed));
        return (word & 0x7fffffffu) == static_cast<std::uint32_t>(me);  // TID_MASK | OWNER_DIED
    }
    bool took_over(int r, pid_t me);
    bool acquire_slow(Deadline deadline, pid_t me);
    void release_slow(pid_t me);

    SharedRegion region_;
    pthread_mutex_t* m_ = nullptr;
    std::shared_ptr<LockOwner> owner_;
    const char* kind_;
    bool recursive_;
};

}  // namespace detail

/// Python's multiprocessing.Lock: a non-recursive lock shared by processes.
/// Owned by the (process, thread) that acquired it; robust to the holder's death.
class Lock : public detail::LockCore {
public:
    Lock();

    /// Blocks until held; returns true. LockAbandoned (holding it) if the holder died;
    /// ValueError if this thread already holds it (it would deadlock).
    bool acquire() { return acquire_until(std::nullopt); }
    /// acquire(false): takes it only if free now; acquire(true) is acquire().
    bool acquire(bool blocking) { return blocking ? acquire() : acquire_until(detail::no_wait); }
    /// Waits at most `timeout`; true if now held.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return acquire_until(detail::deadline_after(timeout));
    }
    /// Releases it. ValueError if this thread does not hold it.
    using LockCore::release;

    // Lockable / TimedLockable.
    void lock() { acquire(); }
    void unlock() { release(); }
    [[nodiscard]] bool try_lock() { return acquire(false); }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
        return acquire(timeout);
    }
    template <class Clock, class Duration>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Duration> tp) {
        return acquire_until(detail::to_deadline(tp));
    }

    /// True if some thread of some process holds it (a snapshot).
    using LockCore::locked;
};

/// Python's multiprocessing.RLock: re-entrant per (process, thread); release() as often
/// as acquire(). Robust to the owner's death (the taker gets depth 1).
class RLock : public detail::LockCore {
public:
    RLock();

    bool acquire() { return acquire_until(std::nullopt); }
    bool acquire(bool blocking) { return blocking ? acquire() : acquire_until(detail::no_wait); }
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return acquire_until(detail::deadline_after(timeout));
    }
    /// Drops one level; the last release frees it. ValueError if not owned by this thread.
    using LockCore::release;

    void lock() { acquire(); }
    void unlock() { release(); }
    [[nodiscard]] bool try_lock() { return acquire(false); }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
        return acquire(timeout);
    }
    template <class Clock, class Duration>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Duration> tp) {
        return acquire_until(detail::to_deadline(tp));
    }

    using LockCore::locked;
    /// True if the calling thread owns it.
    using LockCore::is_mine;
};

namespace detail {
struct SemaphoreState;
}

/// Python's multiprocessing.Semaphore: a counter; acquire() takes a unit (waiting while
/// there is none), release() gives one back. Not robust: see the header notes.
class Semaphore {
public:
    /// Semaphore(value=1). ValueError if `value` is negative or above 2^31-1.
    explicit Semaphore(long value = 1);

    bool acquire() { return acquire_until(std::nullopt); }
    bool acquire(bool blocking) { return blocking ? acquire() : acquire_until(detail::no_wait); }
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return acquire_until(detail::deadline_after(timeout));
    }
    /// Gives one unit back and wakes one waiter. ValueError for a BoundedSemaphore
    /// already at its start value.
    void release();
    /// The units available now (a snapshot).
    [[nodiscard]] long get_value() const noexcept;

    void lock() { acquire(); }
    void unlock() { release(); }
    [[nodiscard]] bool try_lock() { return acquire(false); }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
        return acquire(timeout);
    }
    template <class Clock, class Duration>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Duration> tp) {
        return acquire_until(detail::to_deadline(tp));
    }

    bool acquire_until(detail::Deadline deadline);

protected:
    Semaphore(long value, bool bounded);

private:
    detail::SharedRegion region_;
    detail::SemaphoreState* s_ = nullptr;
};

/// Python's multiprocessing.BoundedSemaphore: release() above the start value → ValueError.
class BoundedSemaphore : public Semaphore {
public:
    explicit BoundedSemaphore(long value = 1);
};

namespace detail {
struct EventState;
}

/// Python's multiprocessing.Event: a flag that processes can wait for.
class Event {
public:
    Event();
    /// Sets the flag and wakes every waiter.
    void set();
    /// Clears the flag.
    void clear();
    [[nodiscard]] bool is_set() const noexcept;
    /// Waits until the flag is set; returns true.
    bool wait() { return wait_until(std::nullopt); }
    /// Waits at most `timeout`; returns the flag.
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_until(detail::deadline_after(timeout));
    }
    bool wait_until(detail::Deadline deadline);

private:
    detail::SharedRegion region_;
    detail::EventState* s_ = nullptr;
};

namespace detail {
struct ConditionState;
}

/// Python's multiprocessing.Condition: wait for a notification while releasing a lock.
/// Uses its own RLock, or the Lock or RLock given (shared: the same lock object).
class Condition {
public:
    Condition();
    explicit Condition(const Lock& lock);
    explicit Condition(const RLock& lock);

    // The lock's interface (Python's Condition.acquire/release, `with cond:`).
    bool acquire() { return lock_.acquire_until(std::nullopt); }
    bool acquire(bool blocking) { return blocking ? acquire() : lock_.acquire_until(detail::no_wait); }
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return lock_.acquire_until(detail::deadline_after(timeout));
    }
    void release() { lock_.release(); }
    void lock() { acquire(); }
    void unlock() { release(); }
    [[nodiscard]] bool try_lock() { return acquire(false); }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
        return acquire(timeout);
    }
    template <class Clock, class Duration>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Duration> tp) {
        return lock_.acquire_until(detail::to_deadline(tp));
    }

    /// Releases the lock (all levels of an RLock), sleeps until notified, takes the lock
    /// back; returns true. ValueError if this thread does not hold the lock.
    /// LockAbandoned (holding the lock) if a holder died while we slept.
    bool wait() { return wait_until(std::nullopt); }
    /// As wait(), at most `timeout`; false if it ran out (the lock is held again anyway).
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_until(detail::deadline_after(timeout));
    }
    bool wait_until(detail::Deadline deadline);

    /// Waits until pred() is true (checked first, then after each wake-up, with the lock
    /// held); returns pred()'s last result.
    template <class Pred>
    bool wait_for(Pred pred) {
        while (!pred()) wait();
        return true;
    }
    /// As wait_for(pred), giving up after `timeout`: returns pred()'s last result.
    template <class Pred, class Rep, class Period>
    bool wait_for(Pred pred, std::chrono::duration<Rep, Period> timeout) {
        auto deadline = detail::deadline_after(timeout);
        bool result = pred();
        while (!result) {
            if (deadline && detail::SyncClock::now() >= *deadline) break;
            wait_until(deadline);
            result = pred();
        }
        return result;
    }

    /// Wakes up to `n` of the processes/threads waiting now. ValueError if the lock is not held.
    void notify(std::size_t n = 1);
    /// Wakes everyone waiting now. ValueError if the lock is not held.
    void notify_all();

private:
    detail::LockCore lock_;
    detail::SharedRegion region_;
    detail::ConditionState* s_ = nullptr;
};

namespace detail {
struct BarrierState;
}

/// Python's threading.Barrier across processes: `parties` callers of wait() meet; each
/// gets a distinct index in [0, parties). A wait that times out breaks the barrier.
class Barrier {
public:
    /// ValueError if parties is 0 or above 65536.
    explicit Barrier(std::size_t parties);

    /// Waits for all parties; returns this caller's arrival index. BrokenBarrierError
    /// if the barrier is or becomes broken (abort(), reset(), a timeout, a dead party).
    std::size_t wait() { return wait_until(std::nullopt); }
    /// As wait(); if `timeout` runs out the barrier breaks and BrokenBarrierError is thrown.
    template <class Rep, class Period>
    std::size_t wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_until(detail::deadline_after(timeout));
    }
    std::size_t wait_until(detail::Deadline deadline);

    /// Breaks the barrier: current and future waiters get BrokenBarrierError until reset().
    void abort();
    /// Back to the empty state; current waiters get BrokenBarrierError.
    void reset();
    [[nodiscard]] std::size_t parties() const noexcept;
    /// How many are waiting now in the current cycle.
    [[nodiscard]] std::size_t n_waiting() const;
    [[nodiscard]] bool broken() const;

private:
    detail::SharedRegion region_;
    detail::BarrierState* s_ = nullptr;
};

}  // namespace mp
