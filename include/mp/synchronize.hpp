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
//    when the holding thread ends without releasing (SIGKILL, a crash, _exit, or just a
//    thread returning) the kernel's robust-futex list marks the mutex and wakes one
//    waiter; the next acquire, already blocked or not yet started, throws
//    mp::LockAbandoned and the caller then HOLDS the lock (an RLock at depth 1; inside
//    Condition::wait at the depth it had before wait()). Repair the state the lock
//    guards, then release() it; from then on it is a normal lock. A std::lock_guard
//    whose constructor throws does not unlock, so catch LockAbandoned where you lock and
//    release() there (inside Condition::wait, a std::unique_lock around it does release).
//  * Condition: its own bookkeeping (how many wait, wake-up tokens) is changed only
//    while holding its lock, so a death inside it is reported by the lock as above.
//    A waiter that dies while asleep in wait() is still counted: a later notify() may
//    spend one wake-up on it, or later wake one waiter too many (a spurious return from
//    wait() — use wait_for with a predicate, as with any condition variable). A notify()
//    interrupted by the death of its caller may be lost or become a spurious wake-up.
//    A notify() that completed never leaves a live waiter asleep.
//  * Barrier: a party that dies while waiting is seen by the others within about 100 ms
//    (each waiting party holds a robust per-party mutex that the others probe; one that
//    dies after its cycle released it but before it left breaks the next cycle) — also
//    one that dies while it waits for the previous cycle to drain, before it takes its
//    place (it holds a robust "waiting room" mutex; the cycle it was waiting for breaks
//    once the drain ends) — and one that dies while updating the barrier is reported by
//    its robust internal lock: in each case the barrier breaks and every waiter gets
//    mp::BrokenBarrierError (reset() makes it usable again) instead of hanging. (With
//    more callers than parties, the waiting room has a place for `parties` of them.)
//  * Semaphore and BoundedSemaphore: NOT robust, and nothing is promised about units.
//    Units are owned by no one (any process may release them, as in Python), so a
//    process that dies between acquire() and release() takes its units with it: the
//    others wait until their timeout (or forever, without one). What is promised: the
//    count itself is never corrupted (it is one atomic word), and a waiter that dies
//    asleep costs only a spare wake-up system call later. Use a timeout, or a Lock,
//    when a peer may die.
//  * Event: no holder; a death changes nothing.
//
// Ownership differs from Python in one place: Python's multiprocessing.Lock may be
// released by a process other than the one that acquired it; mp::Lock, like std::mutex,
// must be released by the thread that holds it (that is what lets a holder's death be
// detected). For hand-off signalling between processes use a Semaphore(0) or an Event.
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
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

#include "mp/detail/reduction.hpp"
#include "mp/detail/shared_region.hpp"
#include "mp/errors.hpp"

namespace mp {

namespace detail {

struct ParkWord;  // mp/detail/park.hpp

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

/// Python's acquire() forms and the standard Lockable / TimedLockable members, written
/// once for every lock-like type in terms of Derived::acquire_until(Deadline) and
/// Derived::release().
template <class Derived>
class LockInterface {
  public:
    /// Blocks until acquired; returns true.
    bool acquire() { return self().acquire_until(std::nullopt); }
    /// acquire(false): takes it only if that needs no waiting; acquire(true) is acquire().
    bool acquire(bool blocking) {
        return self().acquire_until(blocking ? Deadline{} : Deadline{no_wait});
    }
    /// Waits at most `timeout`; true if acquired.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return self().acquire_until(deadline_after(timeout));
    }

    void lock() { acquire(); }
    void unlock() { self().release(); }
    [[nodiscard]] bool try_lock() { return acquire(false); }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
        return acquire(timeout);
    }
    template <class Clock, class Duration>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Duration> tp) {
        return self().acquire_until(to_deadline(tp));
    }

  private:
    Derived& self() { return static_cast<Derived&>(*this); }
};

/// Who holds a lock, as seen by this process: the holder's tid when it is a thread of
/// this process, and its depth. Kept in private memory (one per lock and process, shared
/// by the handles there), so an uncontended acquire touches no shared cache line but the
/// mutex's; the mutex's futex word (the kernel's record: owner tid, OWNER_DIED) confirms it.
struct LockOwner {
    std::atomic<pid_t> tid{0};
    std::uint32_t depth = 0;
    /// A Condition's wake-up deferred to the release (see Condition::notify): the park
    /// word to unpark once the lock is free, and its mapping (kept alive until then).
    /// Touched only by the holder.
    ParkWord* wake = nullptr;
    SharedRegion wake_region;
};

/// What Lock and RLock share: a robust process-shared mutex plus owner and depth.
/// The fast paths are inline; everything else is in src/synchronize.cpp.
class LockCore {
  public:
    /// Where the spin policy's hint (a ParkWord) lives in the lock's region: its own line.
    static constexpr std::size_t kHintOffset = 64;
    /// Acquires until `deadline` (nullopt: forever; no_wait: try once). False on timeout.
    bool acquire_until(Deadline deadline) {
        const pid_t me = current_tid();
        if (owner_->tid.load(std::memory_order_relaxed) != me &&
            (!deadline || *deadline == no_wait)) [[likely]] {
            int r = pthread_mutex_trylock(m_);
            if (r == EBUSY && !deadline) r = lock_contended();
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
        if (owner_->depth == 1 && owner_->wake == nullptr &&
            owner_->tid.load(std::memory_order_relaxed) == me && kernel_says_mine(me)) [[likely]] {
            owner_->depth = 0;
            owner_->tid.store(0, std::memory_order_relaxed);
            if (pthread_mutex_unlock(m_) == 0) [[likely]]
                return;
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
    /// Held by the calling thread: unpark `p` (in `region`) once the lock is released
    /// completely, instead of now, so that the woken waiter finds the lock free and does
    /// not sleep a second time on it. A wake-up already deferred to another word is done now.
    void unpark_at_release(ParkWord& p, const SharedRegion& region);

  protected:
    LockCore(bool recursive, const char* kind);

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    // glibc keeps a robust mutex's futex word first; its contents are kernel ABI (the
    // robust-futex protocol): the owner's tid, plus FUTEX_OWNER_DIED once it died.
    bool kernel_says_mine(pid_t me) const noexcept {
        auto word = static_cast<std::uint32_t>(
            std::atomic_ref<int>(m_->__data.__lock).load(std::memory_order_relaxed));
        return (word & 0x7fffffffu) == static_cast<std::uint32_t>(me);  // TID_MASK | OWNER_DIED
    }
    bool took_over(int r, pid_t me);
    /// Blocks for the mutex after a failed try: spins briefly first where that may pay
    /// (the park helper's policy), then sleeps in pthread_mutex_lock. Its result.
    int lock_contended() noexcept;
    bool acquire_slow(Deadline deadline, pid_t me);
    void release_slow(pid_t me);
    /// Unlocks the mutex, then does the deferred wake-up, if any.
    int unlock_and_wake() noexcept;

    SharedRegion region_;
    pthread_mutex_t* m_ = nullptr;
    ParkWord* hint_ = nullptr;  // on its own cache line: the spin policy's (unused) hint
    std::shared_ptr<LockOwner> owner_;
    const char* kind_;
    bool recursive_;
};

}  // namespace detail

/// Python's multiprocessing.Lock: a non-recursive lock shared by processes.
/// Owned by the (process, thread) that acquired it; robust to the holder's death.
///
/// acquire() blocks and returns true; LockAbandoned (holding it) if the holder died;
/// ValueError if this thread already holds it (it would deadlock). acquire(false) and
/// acquire(timeout) return whether it is now held. release(): ValueError if this thread
/// does not hold it. lock/unlock/try_lock/try_lock_for/try_lock_until: the same, for
/// std::lock_guard, std::unique_lock and std::scoped_lock.
class Lock : public detail::LockCore, public detail::LockInterface<Lock> {
  public:
    Lock();
    using LockCore::acquire_until;
    using LockCore::locked;
    using LockCore::release;
};

/// Python's multiprocessing.RLock: re-entrant per (process, thread); release() as often
/// as acquire(); the last release frees it (ValueError if not owned by this thread).
/// Robust to the owner's death: the taker gets LockAbandoned holding it at depth 1.
class RLock : public detail::LockCore, public detail::LockInterface<RLock> {
  public:
    RLock();
    using LockCore::acquire_until;
    using LockCore::is_mine;
    using LockCore::locked;
    using LockCore::release;
};

namespace detail {
struct SemaphoreState;
}

/// Python's multiprocessing.Semaphore: a counter; acquire() takes a unit (waiting while
/// there is none), release() gives one back. Not robust: see the header notes.
class Semaphore : public detail::LockInterface<Semaphore> {
  public:
    /// Semaphore(value=1). ValueError if `value` is negative or above 2^31-1.
    explicit Semaphore(long value = 1);

    /// Gives one unit back and wakes one waiter. ValueError for a BoundedSemaphore
    /// already at its start value.
    void release();
    /// The units available now (a snapshot).
    [[nodiscard]] long get_value() const noexcept;
    /// Takes a unit, waiting until `deadline` (nullopt: forever). False on timeout.
    bool acquire_until(detail::Deadline deadline);

  protected:
    Semaphore(long value, bool bounded);

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

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

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    detail::SharedRegion region_;
    detail::EventState* s_ = nullptr;
};

namespace detail {
struct ConditionState;
}

/// Python's multiprocessing.Condition: wait for a notification while releasing a lock.
/// Uses its own RLock, or the Lock or RLock given (shared: the same lock object).
class Condition : public detail::LockInterface<Condition> {
  public:
    Condition();
    explicit Condition(const Lock& lock);
    explicit Condition(const RLock& lock);

    // The lock's interface (Python's Condition.acquire/release, `with cond:`) comes from
    // LockInterface: acquire(), acquire(false), acquire(timeout), lock(), try_lock_for() ...
    bool acquire_until(detail::Deadline deadline) { return lock_.acquire_until(deadline); }
    void release() { lock_.release(); }

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

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

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
    /// Barrier(parties, action=None). ValueError if parties is 0 or above 65536. The
    /// action, if any, is run by the last party to arrive before the others are released
    /// (each process runs its own copy, inherited by fork); if it throws, the barrier
    /// breaks and the exception reaches that party's wait().
    explicit Barrier(std::size_t parties, std::function<void()> action = nullptr);
    /// Barrier(parties, action, timeout): `timeout` is the default of wait().
    template <class Rep, class Period>
    Barrier(std::size_t parties, std::function<void()> action,
            std::chrono::duration<Rep, Period> timeout)
        : Barrier(parties, std::move(action)) {
        default_timeout_ = std::chrono::ceil<detail::SyncClock::duration>(timeout);
    }

    /// Waits for all parties (at most the default timeout, if one was given); returns
    /// this caller's arrival index. BrokenBarrierError if the barrier is or becomes
    /// broken (abort(), reset(), a timeout, a dead party).
    std::size_t wait() {
        return default_timeout_ ? wait(*default_timeout_) : wait_until(std::nullopt);
    }
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

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    detail::SharedRegion region_;
    detail::BarrierState* s_ = nullptr;
    std::function<void()> action_;
    std::optional<detail::SyncClock::duration> default_timeout_;
};

}  // namespace mp

#include "mp/detail/reduce_handles.hpp"  // NOLINT: Reduce<> for the locks
