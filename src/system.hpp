// Internal: the one place where system calls are checked. Not installed.
#pragma once

#include <cerrno>
#include <chrono>
#include <deque>
#include <optional>
#include <span>

#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <string>

#include "mp/errors.hpp"

namespace mp::detail {

/// Throws mp::OSError (or BrokenPipeError for EPIPE) naming `what`, keeping errno.
[[noreturn]] void throw_errno(const std::string& what, int code = errno);

/// Checks the result of a system call that returns -1 on failure.
template <class R>
R check(R result, const char* what) {
    if (result == static_cast<R>(-1)) throw_errno(what);
    return result;
}

/// Retries a call interrupted by a signal (EINTR).
template <class F>
auto retry_eintr(F&& f) {
    for (;;) {
        auto r = f();
        if (!(r == -1 && errno == EINTR)) return r;
    }
}

/// pidfd_open(2): an fd for process `pid` that polls readable once it has ended
/// (a zombie counts as ended); -1 with errno set on failure.
int pidfd_open(pid_t pid) noexcept;

/// Throws the OSError for a failed pidfd_open(2) by `who` (e.g. "Process.start"): the
/// "mp needs Linux 5.3 or later" hint only when the kernel lacks the call (ENOSYS), never for
/// EMFILE and the like, which name their own cause.
[[noreturn]] void throw_pidfd_open_error(const std::string& who, int code);

/// Closes an fd, ignoring EINTR (Linux always releases the fd).
void close_fd(int fd) noexcept;

/// The most fds one message carries (the kernel's SCM_MAX_FD).
inline constexpr std::size_t kMaxFdsPerMessage = 253;

/// Writes every byte of `iov` to socket (or pipe) `fd` with sendmsg(MSG_NOSIGNAL: no
/// SIGPIPE), `fds` (at most kMaxFdsPerMessage) going with the first bytes as SCM_RIGHTS;
/// resumes after EINTR and partial writes, advancing through `iov` (which it changes).
/// Returns 0, or the errno of the call that failed (EPIPE: the peer is gone; ENOTSOCK or
/// EINVAL with fds: `fd` cannot carry them; EINVAL: too many fds); callers say what
/// failed in their own words.
int sendmsg_all(int fd, std::span<iovec> iov, std::span<const int> fds) noexcept;

/// One recvmsg(2) of up to `size` bytes (close-on-exec fds; `flags` as recvmsg's) that
/// appends the fds sent with them (SCM_RIGHTS, up to kMaxFdsPerMessage) to `fds`.
/// recvmsg's result and errno; -1 with EMSGSIZE if fds were cut off in transit (those that
/// arrived are in `fds`).
ssize_t recv_with_fds(int sock, void* data, std::size_t size, int flags, std::deque<int>& fds);

using Clock = std::chrono::steady_clock;

/// `tp` as a timespec on CLOCK_MONOTONIC (libstdc++'s steady_clock), for absolute
/// timeouts (FUTEX_WAIT_BITSET, pthread_mutex_clocklock); a time before the epoch is 0.
timespec to_timespec(Clock::time_point tp) noexcept;

/// Milliseconds left until `deadline` for poll(2), rounded up; -1 for "no deadline".
int poll_timeout_ms(std::optional<Clock::time_point> deadline);

/// Polls one fd for `events` until `deadline`; EINTR resumes with the time left.
/// Returns the revents, or 0 if the deadline passed.
short poll_fd(int fd, short events, std::optional<Clock::time_point> deadline);

}  // namespace mp::detail
