#include "system.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mp::detail {

void throw_errno(const std::string& what, int code) {
    if (code == EPIPE || code == ECONNRESET) throw BrokenPipeError(code, what);
    throw OSError(code, what);
}

int pidfd_open(pid_t pid) noexcept {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

void throw_pidfd_open_error(const std::string& who, int code) {
    throw_errno(who + ": pidfd_open" +
                    (code == ENOSYS ? " (this kernel lacks it: mp needs Linux 5.3 or later)"
                     : code == EMFILE || code == ENFILE
                         ? " (no free file descriptor: close some, or raise ulimit -n)"
                         : ""),
                code);
}

void close_fd(int fd) noexcept {
    if (fd >= 0) ::close(fd);
}

timespec to_timespec(Clock::time_point tp) noexcept {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
    if (ns < 0) ns = 0;
    return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

int poll_timeout_ms(std::optional<Clock::time_point> deadline) {
    if (!deadline) return -1;
    auto left = *deadline - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms);
}

short poll_fd(int fd, short events, std::optional<Clock::time_point> deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        int r = ::poll(&p, 1, poll_timeout_ms(deadline));
        if (r > 0) return p.revents;
        if (r == 0) {
            if (!deadline || Clock::now() >= *deadline) return 0;
            continue;  // rounding: poll woke a hair early
        }
        if (errno != EINTR) throw_errno("poll");
    }
}

}  // namespace mp::detail
