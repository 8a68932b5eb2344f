// The fork start method, and what every method shares: a pidfd to wait on a direct
// child without polling and to signal it without racing against pid reuse.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "popen.hpp"

namespace mp::detail {

int pidfd_send_signal(int pidfd, int sig) noexcept {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

namespace {

int decode_status(const siginfo_t& info) {
    if (info.si_code == CLD_EXITED) return info.si_status;
    return -info.si_status;  // CLD_KILLED, CLD_DUMPED: -signal, as in Python
}

class PopenChild final : public Popen {
  public:
    explicit PopenChild(pid_t pid) : pid_(pid) {
        pidfd_ = pidfd_open(pid_);
        if (pidfd_ < 0) {
            int err = errno;
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            throw_pidfd_open_error("Process.start", err);
        }
    }
    ~PopenChild() override { close_fd(pidfd_); }

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

// The number of threads of this process (/proc/self/stat, field 20).
int thread_count() noexcept {
    int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    close_fd(fd);
    if (n <= 0) return 1;
    buf[n] = '\0';
    const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
    if (p == nullptr) return 1;
    int field = 2;
    for (; *p != '\0' && field < 20; ++p) {
        if (*p == ' ') ++field;
    }
    return std::atoi(p);
}

// Python 3.12's DeprecationWarning, once per process: forking a program that runs
// threads can deadlock the child (a lock held by another thread stays held there).
void warn_if_threaded() noexcept {
    static std::atomic<bool> warned{false};
    if (warned.load(std::memory_order_relaxed)) return;
    const char* env = std::getenv("MP_FORK_WARNING");
    if (env != nullptr && std::strcmp(env, "0") == 0) return;
    int user_threads = thread_count() - mp_thread_count().load(std::memory_order_relaxed);
    if (user_threads <= 1 || warned.exchange(true)) return;
    std::fprintf(stderr,
                 "mp: warning: this process runs %d threads and start method 'fork' copies only "
                 "the calling one; the child may deadlock on a lock another thread held. Use "
                 "mp::set_start_method(\"forkserver\") or mp::get_context(\"forkserver\") "
                 "(MP_FORK_WARNING=0 silences this).\n",
                 user_threads);
}

}  // namespace

std::unique_ptr<Popen> popen_for_child(pid_t pid) {
    return std::make_unique<PopenChild>(pid);
}

std::unique_ptr<Popen> launch_fork(ChildSpec& spec) {
    if (!spec.fork_main) throw ValueError("Process.start: nothing to run in the forked child");
    warn_if_threaded();
    flush_std_streams();
    pid_t parent = ::getpid();
    bool main_thread = ::gettid() == parent;
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("Process.start: fork");
    if (pid == 0) {
        // A daemon forked by the main thread dies with its parent, whatever kills it
        // (PR_SET_PDEATHSIG follows the thread, so another thread's child cannot rely on it).
        if (spec.daemon && main_thread) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(1);
        }
        ::_exit(spec.fork_main());
    }
    return popen_for_child(pid);
}

std::unique_ptr<Popen> launch(StartMethod method, ChildSpec& spec) {
    switch (method) {
        case StartMethod::fork:
            return launch_fork(spec);
        case StartMethod::spawn:
            return launch_spawn(spec);
        case StartMethod::forkserver:
            return launch_forkserver(spec);
    }
    throw ValueError("Process.start: unknown start method");
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

std::atomic<int>& mp_thread_count() noexcept {
    static std::atomic<int> n{0};
    return n;
}

}  // namespace mp::detail
