// The fork server (Python's multiprocessing/forkserver.py), server side.
//
// A fresh image of the program (boot.cpp, role "forkserver") that forks every child of
// the forkserver start method: single-threaded, so each fork is safe; its static
// initializers ran once, so each child starts with the program's globals built and
// nothing of what the parent did after start-up.
//
// Boot: the parent sends, through the boot socket, the authentication token and the
// socket path, with [the listening socket, a pidfd of the parent]. The server forks
// once more so it is not the parent's child (nothing for the parent to reap), tells
// the parent its pid, and serves:
//
//  * a request: a connection on the listening socket (in a 0700 directory), from the
//    same uid (SO_PEERCRED), starting with the token; then the child description and
//    its fds (SCM_RIGHTS): the parent's pidfd, its fds 0, 1 and 2 (which become the
//    child's), then the handles' fds. The server forks the child and answers its pid with a pidfd
//    of it; when the child ends, its exit status (an i32: the code, or -signal) goes
//    down the same connection, which is then closed. A peer of another uid or with a
//    wrong token is dropped without a word.
//  * the parent's end (its pidfd polls readable): the server removes the socket and its
//    directory and exits. Daemon children die with it (PR_SET_PDEATHSIG); the others run
//    on, as Python's do.
//  * the end of a process that asked for a daemon child (the pidfd it sent): the server
//    kills that child, so a daemon never outlives its parent, whatever killed it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>

#include "popen.hpp"

namespace mp::detail {

namespace {

constexpr std::size_t kTokenBytes = 32;

bool same_token(std::span<const std::byte> a, std::span<const std::byte> b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;  // constant time
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

struct Server {
    int listen_fd = -1;
    int parent_fd = -1;
    int sig_fd = -1;
    Bytes token;
    std::string path;
    struct Child {
        int conn = -1;   // where its status goes
        int watch = -1;  // a daemon's: a pidfd of the process that asked for it
    };
    std::map<pid_t, Child> conns;  // running children

    void close_all_in_child(int keep_conn) {
        close_fd(listen_fd);
        close_fd(parent_fd);
        close_fd(sig_fd);
        for (auto& [pid, c] : conns) {
            if (c.conn != keep_conn) close_fd(c.conn);
            close_fd(c.watch);
        }
        conns.clear();
    }

    void reap() {
        for (;;) {
            int status = 0;
            pid_t pid = ::waitpid(-1, &status, WNOHANG);
            if (pid <= 0) return;
            std::int32_t code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            auto it = conns.find(pid);
            if (it == conns.end()) continue;
            (void)::send(it->second.conn, &code, sizeof code, MSG_NOSIGNAL);
            close_fd(it->second.conn);
            close_fd(it->second.watch);
            conns.erase(it);
        }
    }

    void serve_one() {
        int conn = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) return;
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
            cred.uid != ::getuid()) {
            close_fd(conn);
            return;
        }
        timeval tv{5, 0};  // a peer that connects and sends nothing cannot stall the server
        ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::vector<int> fds;
        Bytes msg;
        try {
            msg = recv_with_fds(conn, fds);
        } catch (...) {
            for (int fd : fds) close_fd(fd);
            close_fd(conn);
            return;
        }
        if (msg.size() < kTokenBytes || fds.size() < 4 ||
            !same_token(std::span(msg).first(kTokenBytes), token)) {
            for (int fd : fds) close_fd(fd);
            close_fd(conn);
            return;
        }
        // Decoded once, here: the child (a fork) runs what is decoded.
        ChildSpec spec;
        try {
            spec = decode_spec(std::span(msg).subspan(kTokenBytes));
        } catch (...) {
            for (int fd : fds) close_fd(fd);
            close_fd(conn);
            return;
        }
        pid_t server = ::getpid();
        pid_t pid = ::fork();
        if (pid == 0) {
            close_all_in_child(-1);
            close_fd(conn);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGCHLD, SIG_DFL);
            for (int i = 0; i < 3; ++i) {  // the parent's stdin, stdout, stderr
                ::dup2(fds[1 + static_cast<std::size_t>(i)], i);
                close_fd(fds[1 + static_cast<std::size_t>(i)]);
            }
            fds.erase(fds.begin() + 1, fds.begin() + 4);
            int code = 1;
            try {
                if (spec.daemon) {  // a daemon ends with the server, which ends with the parent
                    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
                    if (::getppid() != server) ::_exit(1);
                }
                code = run_child(spec, std::move(fds));
            } catch (const std::exception& e) {
                std::fprintf(stderr, "mp: a fork server child could not start: %s\n", e.what());
            }
            flush_std_streams();
            ::_exit(code);
        }
        // A daemon ends when the process that asked for it ends: keep its pidfd to watch.
        int watch = spec.daemon && pid > 0 ? fds[0] : -1;
        for (int fd : fds) {
            if (fd != watch) close_fd(fd);
        }
        if (pid < 0) {
            close_fd(conn);  // the parent sees EOF and reports the failure
            return;
        }
        int pidfd = pidfd_open(pid);
        std::int32_t p = pid;
        try {
            std::vector<int> reply_fds;
            if (pidfd >= 0) reply_fds.push_back(pidfd);
            send_with_fds(conn, std::as_bytes(std::span(&p, 1)), reply_fds);
        } catch (...) {
        }
        close_fd(pidfd);
        conns[pid] = Child{conn, watch};
    }

    int run() {
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        ::sigprocmask(SIG_BLOCK, &chld, nullptr);
        sig_fd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sig_fd < 0) return 1;
        std::vector<pollfd> p;
        std::vector<pid_t> watched;
        for (;;) {
            p.assign({{parent_fd, POLLIN, 0}, {sig_fd, POLLIN, 0}, {listen_fd, POLLIN, 0}});
            watched.clear();
            for (auto& [pid, c] : conns) {
                if (c.watch < 0) continue;
                p.push_back({c.watch, POLLIN, 0});
                watched.push_back(pid);
            }
            int r = ::poll(p.data(), p.size(), -1);
            if (r < 0) {
                if (errno == EINTR) continue;
                return 1;
            }
            for (std::size_t i = 3; i < p.size(); ++i) {
                if (p[i].revents == 0) continue;
                auto& c = conns[watched[i - 3]];
                ::kill(watched[i - 3], SIGKILL);  // not reaped yet: the pid is still its
                close_fd(c.watch);
                c.watch = -1;
            }
            if (p[0].revents != 0) break;
            if (p[1].revents != 0) {
                signalfd_siginfo si;
                while (::read(sig_fd, &si, sizeof si) > 0) {
                }
                reap();
            }
            if (p[2].revents != 0) serve_one();
        }
        ::unlink(path.c_str());
        auto slash = path.rfind('/');
        if (slash != std::string::npos) ::rmdir(path.substr(0, slash).c_str());
        return 0;
    }
};

}  // namespace

int forkserver_main(int boot_fd) noexcept {
    Server s;
    try {
        std::vector<int> fds;
        Bytes msg = recv_with_fds(boot_fd, fds);
        if (fds.size() != 2 || msg.size() < kTokenBytes) return 1;
        s.listen_fd = fds[0];
        s.parent_fd = fds[1];
        s.token.assign(msg.begin(), msg.begin() + kTokenBytes);
        s.path.assign(reinterpret_cast<const char*>(msg.data()) + kTokenBytes,
                      msg.size() - kTokenBytes);
    } catch (...) {
        return 1;
    }
    // The server writes nothing itself and each child gets its requester's fds 0-2: let go
    // of the standard fds of whoever started the server (a pipe there would never see EOF).
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        for (int i = 0; i < 3; ++i) ::dup2(null, i);
        close_fd(null);
    }
    pid_t pid = ::fork();  // not the parent's child: nothing for it to reap
    if (pid < 0) return 1;
    if (pid > 0) ::_exit(0);
    std::int32_t me = ::getpid();
    try {
        send_with_fds(boot_fd, std::as_bytes(std::span(&me, 1)), {});
    } catch (...) {
        return 1;
    }
    close_fd(boot_fd);
    return s.run();
}

}  // namespace mp::detail
