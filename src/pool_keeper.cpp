// The zygote keeper of a `fork` pool (see pool_keeper.hpp).
#include "pool_keeper.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mp/detail/reduction.hpp"
#include "system.hpp"

namespace mp::detail {
namespace {

/// A zygote made by the keeper: not this process's child, so its end is seen on its
/// pidfd and its status is the keeper's (reported as -SIGKILL: a zygote only ends
/// when told to, with its parent, or killed).
class PopenKept final : public Popen {
  public:
    PopenKept(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
    ~PopenKept() override { close_fd(pidfd_); }
    pid_t pid() const noexcept override { return pid_; }
    int sentinel() const noexcept override { return pidfd_; }
    std::optional<int> poll() override { return wait(Clock::now()); }
    std::optional<int> wait(std::optional<Clock::time_point> deadline) override {
        if (poll_fd(pidfd_, POLLIN, deadline) == 0) return std::nullopt;
        return -SIGKILL;
    }
    void send_signal(int sig) override {
        if (pidfd_send_signal(pidfd_, sig) < 0 && errno != ESRCH) throw_errno("Pool: signal");
    }

  private:
    pid_t pid_;
    int pidfd_;
};

// ---- the keeper (its own single-threaded process) --------------------------------------

[[noreturn]] void keeper_main(const ZygoteKeeper::Body& body, int sock, int parent_pidfd) {
    ::prctl(PR_SET_NAME, "mp-pool-keeper");
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGPIPE, SIG_IGN);
    std::vector<int> zygotes;  // pidfds of the zygotes made and not yet reaped
    auto reap = [&](int pidfd, int flags) {
        siginfo_t info{};
        int r = retry_eintr(
            [&] { return ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | flags); });
        return r < 0 || info.si_pid != 0;
    };
    auto end = [&](int code) {
        for (int z : zygotes) pidfd_send_signal(z, SIGKILL);
        for (int z : zygotes) reap(z, 0);
        ::_exit(code);
    };
    std::vector<pollfd> fds;
    for (;;) {
        fds.assign({{sock, POLLIN, 0}, {parent_pidfd, POLLIN, 0}});
        for (int z : zygotes) fds.push_back({z, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            end(3);
        }
        if (fds[1].revents != 0) end(0);  // the parent is gone
        for (std::size_t k = 2; k < fds.size(); ++k) {
            if (fds[k].revents == 0 || !reap(fds[k].fd, WNOHANG)) continue;
            close_fd(fds[k].fd);
            std::erase(zygotes, fds[k].fd);
        }
        if (fds[0].revents == 0) continue;
        std::vector<int> got;
        try {
            (void)recv_with_fds(sock, got);
        } catch (...) {
            end(0);  // the parent closed its end: the pool is gone
        }
        if (got.size() != 2) {
            for (int fd : got) close_fd(fd);
            continue;
        }
        flush_std_streams();
        pid_t z = ::fork();
        if (z == 0) {
            close_fd(sock);
            for (int fd : zygotes) close_fd(fd);
            body(got[0], got[1]);  // never returns
            ::_exit(1);
        }
        close_fd(got[0]);
        close_fd(got[1]);
        int pidfd = z > 0 ? pidfd_open(z) : -1;
        std::vector<int> reply;
        if (pidfd >= 0) reply.push_back(pidfd);
        std::int32_t err = z < 0 ? errno : pidfd < 0 ? errno : 0;
        std::int32_t msg[2] = {z > 0 ? z : 0, err};
        try {
            send_with_fds(sock, std::as_bytes(std::span(msg)), reply);
        } catch (...) {
        }
        if (pidfd >= 0) {
            zygotes.push_back(pidfd);
        } else if (z > 0) {
            ::kill(z, SIGKILL);
            ::waitpid(z, nullptr, 0);
        }
    }
}

}  // namespace

ZygoteKeeper::ZygoteKeeper(Body body, int parent_pidfd) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        throw_errno("Pool: socketpair (the zygote keeper)");
    flush_std_streams();
    pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        close_fd(sv[0]);
        close_fd(sv[1]);
        throw_errno("Pool: fork (the zygote keeper)", err);
    }
    if (pid == 0) {
        ::close(sv[0]);
        keeper_main(body, sv[1], parent_pidfd);
    }
    close_fd(sv[1]);
    sock_ = sv[0];
    pid_ = pid;
    self_ = popen_for_child(pid);
}

ZygoteKeeper::~ZygoteKeeper() {
    close_fd(sock_);  // the keeper sees EOF, kills what it made and exits
    try {
        if (self_ && !self_->wait(Clock::now() + std::chrono::seconds(5))) {
            self_->send_signal(SIGKILL);
            self_->wait(std::nullopt);
        }
    } catch (...) {
    }
}

std::unique_ptr<Popen> ZygoteKeeper::make_zygote(int region_fd, int sock) {
    if (self_->poll()) {
        throw OSError(ENOTRECOVERABLE,
                      "Pool: the pool's zygote keeper (its copy of the program as it was when "
                      "the Pool was made) was killed, so no new worker can be forked with the "
                      "'fork' start method's semantics; make a new Pool");
    }
    int fds[2] = {region_fd, sock};
    std::vector<int> got;
    Bytes reply;
    try {
        send_with_fds(sock_, {}, fds);
        reply = recv_with_fds(sock_, got);
    } catch (const Error&) {  // EOF, a broken pipe: the keeper died meanwhile
        for (int fd : got) close_fd(fd);
        throw OSError(ENOTRECOVERABLE, "Pool: the pool's zygote keeper is gone; make a new Pool");
    }
    std::int32_t msg[2] = {0, EPROTO};
    if (reply.size() == sizeof msg) std::memcpy(msg, reply.data(), sizeof msg);
    if (msg[0] <= 0 || got.size() != 1) {
        for (int fd : got) close_fd(fd);
        throw OSError(msg[1] != 0 ? msg[1] : EPROTO, "Pool: fork (the pool's zygote)");
    }
    return std::make_unique<PopenKept>(msg[0], got[0]);
}

}  // namespace mp::detail
