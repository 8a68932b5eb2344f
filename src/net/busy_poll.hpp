// Internal to mp::net: a bounded, adaptive busy-poll before a blocking read. Not installed.
//
// A round trip over a Unix socket between two sleeping processes costs two kernel
// wake-ups (tens of microseconds each when the peer sleeps on another CPU). A manager's
// client that expects its answer within microseconds, and a server thread that expects
// the next request soon, try the socket without blocking for a short while first.
// Bounds: never on a machine (or affinity mask) with one CPU; at most `budget` per wait;
// after a few waits in a row in which nothing came while spinning (the peer is not
// running, or is slow, or is blocked in a long call), the next waits do not spin at all,
// for a number of waits that doubles up to 1024, and then one spin probes again.
// The spin is only a faster way to see the same bytes: a wait that spins in vain then
// blocks exactly as it would have, so nothing is lost or reordered.
#pragma once

#include <sched.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace mp::detail::net {

/// True if this process may run on more than one CPU (spinning helps only then).
inline bool spinning_helps() noexcept {
    static const bool helps = [] {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (::sched_getaffinity(0, sizeof set, &set) != 0) return false;
        return CPU_COUNT(&set) > 1;
    }();
    return helps;
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

class BusyPoll {
  public:
    explicit BusyPoll(std::chrono::microseconds budget) : budget_(budget) {}

    /// Tries `attempt()` (a non-blocking read: >= 0 when it got something or the peer
    /// closed, < 0 with errno EAGAIN/EWOULDBLOCK when nothing is there yet) until it does
    /// or the budget is spent. Returns its last result; < 0 with EAGAIN means "block now".
    template <class Attempt>
    long spin(Attempt&& attempt) {
        if (skip_ > 0 || !spinning_helps()) {
            if (skip_ > 0) --skip_;
            errno = EAGAIN;
            return -1;
        }
        auto start = std::chrono::steady_clock::now();
        for (;;) {
            long r = attempt();
            if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                misses_ = 0;
                backoff_ = 1;
                return r;
            }
            if (std::chrono::steady_clock::now() - start > budget_) break;
            // No sched_yield: on a loaded machine it hands the CPU to an unrelated task for
            // a whole time slice (milliseconds); the back-off below covers a peer that is
            // not running.
            for (int k = 0; k < 16; ++k) cpu_relax();
        }
        if (++misses_ >= kMissesBeforeBackoff) {
            skip_ = backoff_;
            backoff_ = backoff_ >= kMaxSkip ? kMaxSkip : backoff_ * 2;
        }
        errno = EAGAIN;
        return -1;
    }

    /// Spins until `fd` has bytes to read (or is closed); false: block for it instead.
    bool wait_readable(int fd) {
        return spin([fd] {
                   char b;
                   return static_cast<long>(::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT));
               }) >= 0;
    }

  private:
    static constexpr unsigned kMissesBeforeBackoff = 3;
    static constexpr unsigned kMaxSkip = 1024;
    std::chrono::microseconds budget_;
    unsigned misses_ = 0;
    unsigned skip_ = 0;
    unsigned backoff_ = 1;
};

}  // namespace mp::detail::net
