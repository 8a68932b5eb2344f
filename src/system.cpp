#include "system.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

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

int sendmsg_all(int fd, std::span<iovec> iov, std::span<const int> fds) noexcept {
    if (fds.size() > kMaxFdsPerMessage) return EINVAL;
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    std::size_t left = 0;
    for (const iovec& v : iov) left += v.iov_len;
    while (left > 0) {
        ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        msg.msg_control = nullptr;  // the fds went with the first bytes
        msg.msg_controllen = 0;
        left -= static_cast<std::size_t>(w);
        auto done = static_cast<std::size_t>(w);
        while (done > 0 && msg.msg_iovlen > 0) {  // advance past what was written
            std::size_t step = std::min(done, msg.msg_iov->iov_len);
            msg.msg_iov->iov_base = static_cast<char*>(msg.msg_iov->iov_base) + step;
            msg.msg_iov->iov_len -= step;
            done -= step;
            if (msg.msg_iov->iov_len == 0) {
                ++msg.msg_iov;
                --msg.msg_iovlen;
            }
        }
    }
    return 0;
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

ssize_t recv_with_fds(int sock, void* data, std::size_t size, int flags, std::deque<int>& fds) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    iovec iov{data, size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t r = ::recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
    if (r < 0) return r;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < n; ++i) {
            int f;
            std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
            fds.push_back(f);
        }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0) {  // fds lost in transit (RLIMIT_NOFILE)
        errno = EMSGSIZE;
        return -1;
    }
    return r;
}

}  // namespace mp::detail
