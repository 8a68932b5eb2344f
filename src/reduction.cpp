// Fds beside bytes (<mp/detail/reduction.hpp>): the sink and source, and SCM_RIGHTS
// over a Unix socket.
#include "mp/detail/reduction.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "system.hpp"

namespace mp::detail {

namespace {
constexpr std::size_t kMaxFds = 253;  // SCM_MAX_FD
}

std::uint32_t FdSink::add(int fd, const char* what) {
    if (fd < 0) throw ValueError(std::string(what) + ": the handle is closed and cannot be sent");
    if (fds.size() >= kMaxFds)
        throw ValueError(std::string(what) + ": a message can carry at most 253 handles' fds");
    fds.push_back(fd);
    return static_cast<std::uint32_t>(fds.size() - 1);
}

FdSource::~FdSource() {
    for (int fd : fds_) close_fd(fd);
}

int FdSource::take(std::uint32_t index, const char* what) {
    if (index >= fds_.size() || fds_[index] < 0) {
        throw ValueError(std::string(what) +
                         ": the message names an fd it does not carry (it was sent without its "
                         "fds, e.g. through a transport that cannot carry them, or is corrupt)");
    }
    int fd = fds_[index];
    fds_[index] = -1;
    return fd;
}

FdSource*& current_fd_source() noexcept {
    thread_local FdSource* src = nullptr;
    return src;
}

void send_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds) {
    if (fds.size() > kMaxFds) throw ValueError("a message can carry at most 253 fds");
    std::uint64_t len = bytes.size();
    iovec iov[2] = {{&len, sizeof len}, {const_cast<std::byte*>(bytes.data()), bytes.size()}};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = bytes.empty() ? 1 : 2;
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    std::size_t left = sizeof len + bytes.size();
    while (left > 0) {
        ssize_t w = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            throw_errno("send to a child process");
        }
        msg.msg_control = nullptr;  // the fds went with the first bytes
        msg.msg_controllen = 0;
        left -= static_cast<std::size_t>(w);
        auto n = static_cast<std::size_t>(w);
        while (n > 0 && msg.msg_iovlen > 0) {
            std::size_t step = std::min(n, msg.msg_iov->iov_len);
            msg.msg_iov->iov_base = static_cast<char*>(msg.msg_iov->iov_base) + step;
            msg.msg_iov->iov_len -= step;
            n -= step;
            if (msg.msg_iov->iov_len == 0) {
                ++msg.msg_iov;
                --msg.msg_iovlen;
            }
        }
    }
}

namespace {

// Reads exactly `size` bytes, collecting any fds that come with them; the number read
// before EOF.
std::size_t recv_full(int sock, void* data, std::size_t size, std::vector<int>& fds) {
    std::size_t got = 0;
    while (got < size) {
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
        iovec iov{static_cast<char*>(data) + got, size - got};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t r = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == ECONNRESET) break;
            throw_errno("receive from the parent process");
        }
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < n; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                fds.push_back(fd);
            }
        }
        if ((msg.msg_flags & MSG_CTRUNC) != 0) throw OSError(EMSGSIZE, "fds lost in transit");
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    return got;
}

}  // namespace

Bytes recv_with_fds(int sock, std::vector<int>& fds) {
    std::uint64_t len = 0;
    std::size_t got = recv_full(sock, &len, sizeof len, fds);
    if (got == 0) throw EOFError("the peer closed before sending its message");
    if (got < sizeof len || len > kMaxFrameSize)
        throw SerializationError("truncated or corrupt message from the peer");
    Bytes out(static_cast<std::size_t>(len));
    if (recv_full(sock, out.data(), out.size(), fds) < out.size())
        throw SerializationError("truncated message from the peer");
    return out;
}

}  // namespace mp::detail
