// A lock in shared memory that outlives a holder killed while holding it (see pid_lock.hpp).
#include "pid_lock.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "mp/detail/futex.hpp"
#include "system.hpp"

namespace mp::detail {

namespace {

std::atomic<std::uint32_t> g_pid{0};
const bool g_pid_reset_on_fork =
    ::pthread_atfork(nullptr, nullptr, [] { g_pid.store(0, std::memory_order_relaxed); }) == 0;

/// The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...); 0 if it cannot be read.
char proc_state(pid_t pid) noexcept {
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 'X' : 0;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    close_fd(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char* paren = std::strrchr(buf, ')');  // the name may hold spaces and parentheses
    return paren != nullptr && paren[1] == ' ' ? paren[2] : 0;
}

}  // namespace

std::uint32_t self_pid() noexcept {
    std::uint32_t p = g_pid.load(std::memory_order_relaxed);
    if (p == 0 || !g_pid_reset_on_fork) {
        p = static_cast<std::uint32_t>(::getpid());
        g_pid.store(p, std::memory_order_relaxed);
    }
    return p;
}

// Tried in order: a pidfd (polls readable once the process ended); if no fd can be had
// (EMFILE), waitid(WNOWAIT) for our own children (a zombie child is reported, not
// reaped); the state in /proc; kill(pid, 0) as the last resort.
bool process_gone(std::uint32_t pid_bits) noexcept {
    const auto pid = static_cast<pid_t>(pid_bits);
    int fd = pidfd_open(pid);
    if (fd >= 0) {
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, 0);
        close_fd(fd);
        return r > 0;
    }
    if (errno == ESRCH) return true;
    siginfo_t si{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0)
        return si.si_pid == pid;  // our child: 0 while it runs, its pid once it ended
    char state = proc_state(pid);
    if (state != 0) return state == 'Z' || state == 'X';
    return ::kill(pid, 0) == -1 && errno == ESRCH;
}

PidLocked pid_lock(std::atomic<std::uint32_t>& word, ParkWord& hint, Clock::duration spin,
                   std::optional<Clock::time_point> deadline) {
    const std::uint32_t me = self_pid();
    std::uint32_t cur = 0;
    if (word.compare_exchange_strong(cur, me, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        park_detail::note_waker(hint);
        return PidLocked::yes;
    }
    // Test, then test-and-set, with growing pauses: a holder that takes it again at once
    // keeps the line in its cache instead of losing it to every poll.
    unsigned pauses = 1;
    auto take = [&] {
        for (unsigned k = 0; k < pauses; ++k) cpu_relax();
        pauses = std::min(pauses * 2, 32u);
        std::uint32_t free = 0;
        return word.load(std::memory_order_relaxed) == 0 &&
               word.compare_exchange_strong(free, me, std::memory_order_acquire,
                                            std::memory_order_relaxed);
    };
    if (park_spin(hint, take, spin)) {
        park_detail::note_waker(hint);
        return PidLocked::yes;
    }
    PidLocked got = PidLocked::yes;
    for (;;) {
        cur = word.load(std::memory_order_relaxed);
        if (cur == 0) {  // others may sleep: keep the waiters bit so our unlock wakes one
            if (word.compare_exchange_weak(cur, me | kPidLockWaiters, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
                break;
            }
            continue;
        }
        if ((cur & kPidLockWaiters) == 0) {
            if (!word.compare_exchange_weak(cur, cur | kPidLockWaiters, std::memory_order_relaxed))
                continue;
            cur |= kPidLockWaiters;
        }
        auto now = Clock::now();
        if (deadline && now >= *deadline) return PidLocked::no;
        auto until = now + kPidLockSlice;
        if (deadline && *deadline < until) until = *deadline;
        if (!futex_wait(word, cur, until) && word.load(std::memory_order_relaxed) == cur &&
            process_gone(cur & ~kPidLockWaiters)) {
            // The holder died holding the lock: take it over.
            if (word.compare_exchange_strong(cur, me | kPidLockWaiters, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
                got = PidLocked::over_a_dead;
                break;
            }
        }
    }
    park_detail::note_waker(hint);
    return got;
}

PidLocked pid_lock_unless_held(std::atomic<std::uint32_t>& word) noexcept {
    std::uint32_t cur = word.load(std::memory_order_acquire);
    if (cur != 0 && !process_gone(cur & ~kPidLockWaiters)) return PidLocked::no;
    // Somebody may sleep on a lock that had a holder: keep the bit so our unlock wakes one.
    if (!word.compare_exchange_strong(cur, self_pid() | (cur != 0 ? kPidLockWaiters : 0),
                                      std::memory_order_acquire, std::memory_order_relaxed)) {
        return PidLocked::no;  // somebody else took it meanwhile
    }
    return cur != 0 ? PidLocked::over_a_dead : PidLocked::yes;
}

void pid_unlock(std::atomic<std::uint32_t>& word) noexcept {
    if ((word.exchange(0, std::memory_order_seq_cst) & kPidLockWaiters) != 0) {
        try {
            futex_wake(word, 1);
        } catch (...) {  // cannot fail on a valid word; a sleeper re-checks within the slice
        }
    }
}

}  // namespace mp::detail
