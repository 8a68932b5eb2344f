// The fork start method: fork(), then a pidfd to wait on the child without polling
// and to signal it without racing against pid reuse.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "popen.hpp"

namespace mp::detail {
namespace {

int pidfd_send_signal(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

int decode_status(const siginfo_t& info) {
    if (info.si_code == CLD_EXITED) return info.si_status;
    return -info.si_status;  // CLD_KILLED, CLD_DUMPED: -signal, as in Python
}

class PopenFork final : public Popen {
  public:
    explicit PopenFork(const std::function<int()>& child_main) {
        flush_std_streams();
        pid_ = ::fork();
        if (pid_ < 0) throw_errno("Process.start: fork");
        if (pid_ == 0) ::_exit(child_main());
        pidfd_ = pidfd_open(pid_);
        if (pidfd_ < 0) {
            int err = errno;
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            throw_pidfd_open_error("Process.start", err);
        }
    }
    ~PopenFork() override { close_fd(pidfd_); }

    pid_t pid() const noexcept override { return pid_; }
    int sentinel() const noexcept override { return pidfd_; }

    std::optional<int> poll() override { return reap(WNOHANG); }

    std::optional<int> wait(std::optional<Clock::time_point> deadline) override {
        if (code_) return code_;
        if (poll_fd(pidfd_, POLLIN, deadline) == 0) return std::nullopt;
        return reap(0);
    }

    void send_signal(int sig) override {
        if (code_) return;
        if (pidfd_send_signal(pidfd_, sig) < 0 && errno != ESRCH) throw_errno("Process: signal");
    }

  private:
    std::optional<int> reap(int flags) {
        if (code_) return code_;
        siginfo_t info{};
        int r = retry_eintr(
            [&] { return ::waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED | flags); });
        if (r < 0) {
            if (errno != ECHILD) throw_errno("Process: waitid");
            code_ = 255;  // someone else (a SIGCHLD handler) reaped it: the status is lost
            return code_;
        }
        if (info.si_pid == 0) return std::nullopt;  // WNOHANG and still running
        code_ = decode_status(info);
        return code_;
    }

    pid_t pid_ = 0;
    int pidfd_ = -1;
    std::optional<int> code_;
};

}  // namespace

std::unique_ptr<Popen> launch(const std::function<int()>& child_main) {
    return std::make_unique<PopenFork>(child_main);
}

void flush_std_streams() noexcept {
    try {
        std::cout.flush();
        std::cerr.flush();
        std::clog.flush();
    } catch (...) {
    }
    std::fflush(nullptr);
}

}  // namespace mp::detail
