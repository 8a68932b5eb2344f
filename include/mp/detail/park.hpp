// mp/detail/park.hpp — the one way mp sleeps until another process says "look again".
// Internal building block of the queues, the Pool's rings and the Condition; not part of
// the API contract.
//
//     // in shared memory, zero-filled:  ParkWord ready_word;  std::atomic<uint64_t> head;
//     // waiter                                   // waker
//     park_until(ready_word, [&] {                head.store(n, std::memory_order_release);
//         return head.load(acquire) != seen;      unpark_all(ready_word);
//     }, deadline);
//
// A ParkWord is one futex word: bit 0 says "somebody is parked (or about to be)", bits
// 1..31 count wake-ups. It lives in memory shared by the processes involved.
//
// The protocol, and why no wake-up is lost (W: waiter, P: waker):
//   W1  w = word.load(acquire)
//   W2  if bit 0 is clear in w: CAS word w -> w|1 (an RMW: announces W), w |= 1
//   W3  seq_cst fence; if ready(): return
//   W4  futex_wait(word, w)          (sleeps only while word still equals w)
//   P1  publish (the stores that make ready() true)
//   P2  seq_cst fence; x = word.load()
//   P3  if bit 0 is set in x: CAS word x -> x+1 (clears bit 0, bumps the count: release);
//       futex_wake_all(word)
// The two fences are ordered one way or the other. If P2's comes first, W3's ready()
// sees P1's stores. If W3's comes first, P2's load sees W2's announcement or a later
// value of the word: bit 0 set (P3 bumps the word, so W4 either finds it changed or is
// woken), or bit 0 already cleared by another waker's bump after W2 (the word is no
// longer w: W4 returns at once and W re-checks). A waker whose bump raced with a
// waiter's W1 read of the bumped value is covered by W1's acquire: the stores made
// before the bump are visible to W3. The waker clears the flag with the bump in one
// RMW, so while nobody parks again a stream of publications costs a load each, not a
// system call each; a waiter woken for nothing re-announces itself (W2). Every parked
// waiter is woken (futex_wake_all): callers with several waiters re-check, and at most
// one wins (a lock's CAS, a Condition's token).
//
// Spinning: before W1 a waiter may spin, polling ready(), for up to `spin` — but only
// if spinning can pay: there is more than one CPU, the waker last ran on another CPU
// than this thread (unpark_all() leaves that hint in the word's companion), and
// recent spins in this thread ended in success. After a spin that ended in a sleep
// anyway, this thread skips the next 2^k - 1 spins (k = failures in a row, up to 8).
// So a waiter whose peer is descheduled (more runnable processes than CPUs) soon
// stops stealing the CPU that peer needs, and a waiter whose peer shares its CPU
// never spins.
//
// Waiting on an eventfd (park_until_fd / unpark_fd): the same protocol for a waiter
// that must also wake for what no waker can announce (a process's end: a pidfd). W4 is
// a poll() of the eventfd and those fds; P3 writes the eventfd instead of FUTEX_WAKE.
// No wake-up is lost for the same reason: a waker that saw bit 0 wrote the eventfd,
// which stays readable until its one waiter drains it after poll() and before it
// re-checks ready(). So an eventfd has ONE waiter thread (the one that drains it).
// park_quiet_fd is that waiter asleep without having announced itself (it handed the
// job of watching `ready` to other threads for a while); park_announce does W1-W3 for
// it from another thread, which then re-checks ready() itself and writes the eventfd
// if it holds: from then on it is an announced waiter like any other.
//
// What survives a SIGKILL: a waiter killed while parked leaves bit 0 set; the next
// unpark_all clears it with one spare wake-up. A waker killed between P1 and P3 leaves
// a waiter asleep: callers whose waker can die pass a deadline (or wait in slices)
// and check on the waker between slices.
#pragma once

#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>

#include "mp/detail/futex.hpp"

namespace mp::detail {

/// One futex word plus a hint; zero-filled memory is a valid, idle ParkWord.
struct ParkWord {
    std::atomic<std::uint32_t> word;       // bit 0: a waiter is parked; bits 1..: wake count
    std::atomic<std::int32_t> waker_cpu1;  // 1 + the CPU the last waker ran on; 0: unknown
};
static_assert(std::is_standard_layout_v<ParkWord> && sizeof(ParkWord) == 8 &&
                  std::atomic<std::int32_t>::is_always_lock_free,
              "a ParkWord lives in shared memory: two plain 32-bit words");

using ParkDeadline = std::optional<Clock::time_point>;

/// The default spin before sleeping: long enough to cover a peer that is running on
/// another CPU and about to publish, short beside a sleep and wake-up (~5-30 us).
inline constexpr std::chrono::microseconds kParkSpin{20};

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

namespace park_detail {
/// Whether to spin before parking on `p` (CPU count, the waker's CPU hint, this
/// thread's recent spin results).
bool spin_worth_it(const ParkWord& p) noexcept;
/// Records the outcome of a spin in this thread's policy.
void spin_result(bool success) noexcept;
/// Clears bit 0 and bumps the count (P3's RMW); true if this call did (then it wakes).
inline bool claim_wake(ParkWord& p, std::uint32_t seen) noexcept {
    while ((seen & 1u) != 0) {
        // seen + 1 clears bit 0 and carries into the count.
        if (p.word.compare_exchange_weak(seen, seen + 1, std::memory_order_release,
                                         std::memory_order_relaxed)) {
            return true;
        }
    }
    return false;
}
/// Clears bit 0 and bumps the count (if bit 0 is still set), then wakes every sleeper.
void wake_slow(ParkWord& p, std::uint32_t seen) noexcept;
/// W1-W2: sets bit 0 unless it is set; returns the word's value with bit 0 set.
inline std::uint32_t announce(ParkWord& p) noexcept {
    std::uint32_t w = p.word.load(std::memory_order_acquire);
    while ((w & 1u) == 0) {
        if (p.word.compare_exchange_weak(w, w | 1u, std::memory_order_seq_cst,
                                         std::memory_order_acquire)) {
            return w | 1u;
        }
    }
    return w;
}
/// poll() of `fds` until `deadline` (none: forever); EINTR counts as a return.
void poll_until(std::span<pollfd> fds, ParkDeadline deadline) noexcept;
/// Stores this thread's CPU as `p`'s waker hint.
void note_waker_now(ParkWord& p) noexcept;
/// Calls of note_waker in this thread (inline: it runs on every publication).
inline thread_local unsigned t_wakes = 0;
/// Leaves this thread's CPU as `p`'s waker hint, every 64th call.
inline void note_waker(ParkWord& p) noexcept {
    if ((t_wakes++ & 63) == 0) [[unlikely]]
        note_waker_now(p);
}
}  // namespace park_detail

namespace park_detail {
/// As spin_worth_it, counting the CPUs online in the system rather than those this
/// thread may run on: for a waiter whose peer may run outside this thread's affinity
/// mask (a process pinned to one CPU, its peer to another).
bool spin_worth_it_system(const ParkWord& p) noexcept;

/// Polls `ready` for up to `spin`, pausing between polls, and feeds the outcome back to
/// this thread's policy; true once ready() held.
template <class Ready>
bool spin_poll(Ready& ready, Clock::duration spin) {
    const auto end = Clock::now() + spin;
    do {
        for (int i = 0; i < 32; ++i) {
            if (ready()) {
                spin_result(true);
                return true;
            }
            cpu_relax();
        }
    } while (Clock::now() < end);
    spin_result(false);
    return false;
}
}  // namespace park_detail

/// Polls `fd` for input without blocking (poll with a zero timeout) for up to `spin`, where
/// spinning can pay: more than one CPU online and this thread's recent spins succeeded
/// (the same policy as park_spin, fed back the same way). For a socket whose peer answers
/// within microseconds (a manager's call over a Unix socket): the answer is read without a
/// sleep and a wake-up. True once `fd` is readable, hung up or in error.
bool spin_until_readable(int fd, Clock::duration spin) noexcept;

/// As park_spin (below), with spin_worth_it_system's CPU count: the Connection's reader,
/// whose peer is another process that may be placed on another CPU.
template <class Ready>
bool park_spin_system(const ParkWord& p, Ready& ready, Clock::duration spin) {
    if (spin <= Clock::duration::zero() || !park_detail::spin_worth_it_system(p)) return false;
    return park_detail::spin_poll(ready, spin);
}

/// Polls `ready` for up to `spin` (pausing between polls); true once it holds. Spins
/// only where park_detail::spin_worth_it(p) says it may pay, and feeds the outcome back.
template <class Ready>
bool park_spin(const ParkWord& p, Ready& ready, Clock::duration spin) {
    if (spin <= Clock::duration::zero() || !park_detail::spin_worth_it(p)) return false;
    const auto end = Clock::now() + spin;
    do {
        for (int i = 0; i < 32; ++i) {
            if (ready()) {
                park_detail::spin_result(true);
                return true;
            }
            cpu_relax();
        }
    } while (Clock::now() < end);
    park_detail::spin_result(false);
    return false;
}

/// Polls `ready` for up to `spin`, yielding the CPU between polls (sched_yield), with
/// no policy: for a waiter in a stream of short waits (a Pool worker between tasks, a
/// caller waiting for a result) where a peer that shares its CPU must get to run and
/// one on another CPU publishes within µs. Then park with spin zero.
template <class Ready>
bool park_spin_yielding(Ready& ready, Clock::duration spin) {
    if (spin <= Clock::duration::zero()) return false;
    const auto end = Clock::now() + spin;
    do {
        if (ready()) return true;
        ::sched_yield();
    } while (Clock::now() < end);
    return false;
}

/// Waits until `ready()` returns true (it may be called many times, and may take
/// something when it returns true: a lock, a token) or `deadline` passes. Spins first
/// where that may pay (see above), then sleeps. Returns true once ready() returned
/// true, false if the deadline passed first (ready() is tried once more at the end).
/// May throw OSError only if the futex call fails on a valid word (it cannot).
template <class Ready>
bool park_until(ParkWord& p, Ready&& ready, ParkDeadline deadline = std::nullopt,
                Clock::duration spin = kParkSpin) {
    if (ready()) return true;
    if (deadline && Clock::now() >= *deadline) return false;
    if (park_spin(p, ready, spin)) return true;
    for (;;) {
        const std::uint32_t w = park_detail::announce(p);     // W1, W2
        std::atomic_thread_fence(std::memory_order_seq_cst);  // W3
        if (ready()) return true;
        const bool in_time = futex_wait(p.word, w, deadline);  // W4
        if (ready()) return true;
        if (!in_time) return false;
    }
}

/// As park_until, but the sleep is a poll() of `fds`: fds[0] is an eventfd (opened
/// EFD_NONBLOCK) that wakers write through unpark_fd, the others end the sleep when they
/// poll ready (their revents are left for ready() to read; they are cleared before each
/// poll). The caller must be the only thread that waits on that eventfd: it drains it.
template <class Ready>
bool park_until_fd(ParkWord& p, std::span<pollfd> fds, Ready&& ready,
                   ParkDeadline deadline = std::nullopt, Clock::duration spin = kParkSpin) {
    if (ready()) return true;
    if (deadline && Clock::now() >= *deadline) return false;
    if (park_spin(p, ready, spin)) return true;
    for (;;) {
        park_detail::announce(p);                             // W1, W2
        std::atomic_thread_fence(std::memory_order_seq_cst);  // W3
        if (ready()) return true;
        for (auto& f : fds) f.revents = 0;
        park_detail::poll_until(fds, deadline);  // W4
        eventfd_t drained;
        (void)::eventfd_read(fds[0].fd, &drained);
        if (ready()) return true;
        if (deadline && Clock::now() >= *deadline) return false;
    }
}

/// The waiter of park_until_fd while it does not announce itself on its word (another
/// thread watches `ready` for it, and hands the watch back with park_announce): sleeps
/// in poll() of `fds` until `ready()` (checked after each poll) or `deadline`.
template <class Ready>
bool park_quiet_fd(std::span<pollfd> fds, Ready&& ready, ParkDeadline deadline = std::nullopt) {
    if (ready()) return true;
    for (;;) {
        for (auto& f : fds) f.revents = 0;
        park_detail::poll_until(fds, deadline);
        eventfd_t drained;
        (void)::eventfd_read(fds[0].fd, &drained);
        if (ready()) return true;
        if (deadline && Clock::now() >= *deadline) return false;
    }
}

/// W1-W3 for a waiter in park_quiet_fd on this word's eventfd: after it, the caller
/// re-checks what that waiter waits for and writes the eventfd if it holds; from then
/// on, every unpark_fd of the word writes it (see above).
inline void park_announce(ParkWord& p) noexcept {
    park_detail::announce(p);
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

/// After publishing: wakes every waiter parked on `p` (P2, P3). Costs a fence and a
/// load when nobody is parked. `hint`: leave this thread's CPU as the waker hint; pass
/// false where waiters and wakers of `p` swap roles (a Condition, a lock): there the
/// last waker may be the waiter itself, so the hint would mislead, and waiters spin
/// on the policy alone.
inline void unpark_all(ParkWord& p, bool hint = true) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // P2
    if (hint) park_detail::note_waker(p);
    const std::uint32_t w = p.word.load(std::memory_order_relaxed);
    if ((w & 1u) != 0) park_detail::wake_slow(p, w);  // P3
}

/// unpark_all for a waiter in park_until_fd: writes its eventfd `event_fd` (P3).
inline void unpark_fd(ParkWord& p, int event_fd, bool hint = true) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // P2
    if (hint) park_detail::note_waker(p);
    const std::uint32_t w = p.word.load(std::memory_order_relaxed);
    if ((w & 1u) != 0 && park_detail::claim_wake(p, w)) (void)::eventfd_write(event_fd, 1);
}

/// As unpark_all, for a caller whose last shared-memory operation was a seq_cst
/// read-modify-write (e.g. the exchange that released a lock) after its publication.
/// On x86 such an RMW is a full barrier, so the fence P2 is left to it (the compiler
/// is kept from moving the load above it); elsewhere this is unpark_all.
inline void unpark_all_after_rmw(ParkWord& p, bool hint = true) noexcept {
#if defined(__x86_64__) || defined(__i386__)
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (hint) park_detail::note_waker(p);
    const std::uint32_t w = p.word.load(std::memory_order_relaxed);
    if ((w & 1u) != 0) park_detail::wake_slow(p, w);
#else
    unpark_all(p, hint);
#endif
}

}  // namespace mp::detail
