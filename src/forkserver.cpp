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
//  * a client: a connection on the listening socket (in a 0700 directory), from the
//    same uid (SO_PEERCRED), whose first message is the token with a pidfd of the
//    client. A peer of another uid or with a wrong token is dropped without a word.
//    A client keeps its connection for all its starts.
//  * a request on a client's connection: the child description and its fds (SCM_RIGHTS):
//    the client's fds 0, 1 and 2 (which become the child's), the write end of a pipe
//    for the status, then the handles' fds. The server forks the child and answers its
//    pid with a pidfd of it; when the child ends, its exit status (an i32: the code, or
//    -signal) goes into the status pipe, which is then closed.
//  * the parent's end (its pidfd polls readable): the server removes the socket and its
//    directory and exits. Daemon children die with it (PR_SET_PDEATHSIG); the others run
//    on, as Python's do.
//  * the end of a client that asked for a daemon child (a copy of its pidfd): the server
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
    struct Client {
        int conn = -1;
        int pidfd = -1;  // the client process's: the parent pidfd of the children it asks for
    };
    std::vector<Client> clients;
    struct Child {
        int status = -1;  // where its exit status goes
        int watch = -1;   // a daemon's: a pidfd of the client that asked for it
    };
    std::map<pid_t, Child> children;  // running children

    /// In a forked child: closes every fd of the server but `keep`.
    void close_all_in_child(int keep) {
        close_fd(listen_fd);
        close_fd(parent_fd);
        close_fd(sig_fd);
        for (auto& c : clients) {
            close_fd(c.conn);
            if (c.pidfd != keep) close_fd(c.pidfd);
        }
        for (auto& [pid, c] : children) {
            close_fd(c.status);
            close_fd(c.watch);
        }
        clients.clear();
        children.clear();
    }

    void reap() {
        for (;;) {
            int status = 0;
            pid_t pid = ::waitpid(-1, &status, WNOHANG);
            if (pid <= 0) return;
            std::int32_t code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            auto it = children.find(pid);
            if (it == children.end()) continue;
            (void)!::write(it->second.status, &code, sizeof code);  // a pipe: all or nothing
            close_fd(it->second.status);
            close_fd(it->second.watch);
            children.erase(it);
        }
    }

    /// A new connection: kept as a client if it is of our uid and sends the token first.
    void accept_client() {
        int conn = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) return;
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
            cred.uid != ::getuid()) {
            close_fd(conn);
            return;
        }
        timeval tv{5, 0};  // a peer that sends half a message cannot stall the server
        ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::vector<int> fds;
        Bytes msg;
        try {
            msg = recv_with_fds(conn, fds);
        } catch (...) {
        }
        if (fds.size() != 1 || msg.size() != kTokenBytes || !same_token(msg, token)) {
            for (int fd : fds) close_fd(fd);
            close_fd(conn);
            return;
        }
        clients.push_back({conn, fds[0]});
    }

    /// A request on `client`'s connection; false if the client is gone (or spoke nonsense).
    bool serve(const Client& client) {
        std::vector<int> fds;
        Bytes msg;
        try {
            msg = recv_with_fds(client.conn, fds);
        } catch (...) {
            for (int fd : fds) close_fd(fd);
            return false;
        }
        // Decoded once, here: the child (a fork) runs what is decoded.
        ChildSpec spec;
        try {
            if (fds.size() < 4) throw ValueError("too few fds");
            spec = decode_spec(msg);
        } catch (...) {
            for (int fd : fds) close_fd(fd);
            return false;
        }
        const int status = fds[3];
        const int client_pidfd = client.pidfd;  // close_all_in_child drops `client`
        pid_t server = ::getpid();
        pid_t pid = ::fork();
        if (pid == 0) {
            close_all_in_child(client_pidfd);
            close_fd(status);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGCHLD, SIG_DFL);
            for (int i = 0; i < 3; ++i) {  // the client's stdin, stdout, stderr
                ::dup2(fds[static_cast<std::size_t>(i)], i);
                close_fd(fds[static_cast<std::size_t>(i)]);
            }
            fds.erase(fds.begin(), fds.begin() + 4);
            fds.insert(fds.begin(), client_pidfd);  // run_child's fds: the parent's pidfd first
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
        for (int fd : fds) {
            if (fd != status) close_fd(fd);
        }
        if (pid < 0) {
            close_fd(status);
            return false;  // the client sees EOF and reports the failure
        }
        // A daemon ends when the client that asked for it ends: keep a pidfd of it to watch.
        int watch = spec.daemon ? ::fcntl(client.pidfd, F_DUPFD_CLOEXEC, 0) : -1;
        children[pid] = Child{status, watch};
        int pidfd = pidfd_open(pid);
        std::int32_t p = pid;
        bool sent = true;
        try {
            std::vector<int> reply_fds;
            if (pidfd >= 0) reply_fds.push_back(pidfd);
            send_with_fds(client.conn, std::as_bytes(std::span(&p, 1)), reply_fds);
        } catch (...) {
            sent = false;
        }
        close_fd(pidfd);
        return sent;
    }

    void drop_client(std::size_t i) {
        close_fd(clients[i].conn);
        close_fd(clients[i].pidfd);
        clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
    }

    int run() {
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        // Blocked, not ignored (a child starts with an empty mask and the default action):
        // a status written for a client that has ended fails with EPIPE instead.
        sigset_t blocked = chld;
        sigaddset(&blocked, SIGPIPE);
        ::sigprocmask(SIG_BLOCK, &blocked, nullptr);
        sig_fd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sig_fd < 0) return 1;
        std::vector<pollfd> p;
        std::vector<pid_t> watched;
        for (;;) {
            p.assign({{parent_fd, POLLIN, 0}, {sig_fd, POLLIN, 0}, {listen_fd, POLLIN, 0}});
            const std::size_t first_client = p.size();
            for (auto& c : clients) p.push_back({c.conn, POLLIN, 0});
            const std::size_t first_watch = p.size();
            watched.clear();
            for (auto& [pid, c] : children) {
                if (c.watch < 0) continue;
                p.push_back({c.watch, POLLIN, 0});
                watched.push_back(pid);
            }
            int r = ::poll(p.data(), p.size(), -1);
            if (r < 0) {
                if (errno == EINTR) continue;
                return 1;
            }
            for (std::size_t i = first_watch; i < p.size(); ++i) {
                if (p[i].revents == 0) continue;
                auto& c = children[watched[i - first_watch]];
                ::kill(watched[i - first_watch], SIGKILL);  // not reaped yet: the pid is still its
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
            // Requests, from the last client back, so that a dropped client moves none of
            // those still to serve.
            for (std::size_t i = first_watch; i-- > first_client;) {
                if (p[i].revents == 0) continue;
                if (!serve(clients[i - first_client])) drop_client(i - first_client);
            }
            if (p[2].revents != 0) accept_client();
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
    preload_code_map();
    return s.run();
}

}  // namespace mp::detail
