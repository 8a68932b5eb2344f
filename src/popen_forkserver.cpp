// The forkserver start method, parent side (Python's popen_forkserver.py and the
// client half of forkserver.py). The server (forkserver.cpp) is started on first need
// and again if it has died. Each process talks to it over one connection, authenticated
// once (its first message: the token and a pidfd of this process); each start sends the
// child description and a pipe's write end down it and gets back the child's pid and a
// pidfd; the server writes the child's exit status into that pipe when it has reaped it.
// Starts from several threads take turns on the connection (the server forks one child
// at a time anyway).
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "popen.hpp"

namespace mp::detail {

namespace {

constexpr std::size_t kTokenBytes = 32;

struct ServerInfo {
    std::string path;
    Bytes token;
    pid_t pid = 0;
    int pidfd = -1;
};

struct ClientState {
    std::mutex mutex;   // held for a whole start: the server's start, a request and its reply
    ServerInfo server;  // pidfd < 0: none yet
    int conn = -1;      // this process's authenticated connection to the server; -1: none yet
};

ClientState*& client_ptr() {
    static ClientState* c = [] {
        // A forked child may inherit the mutex locked by another thread: it starts afresh
        // (and shares the server, whose address and token it inherited). The connection is
        // its parent's: the child lets go of its copy and makes its own when it needs one.
        ::pthread_atfork(nullptr, nullptr, [] {
            auto* old = client_ptr();
            auto* fresh = new ClientState;
            fresh->server = old->server;
            if (old->conn >= 0) ::close(old->conn);
            client_ptr() = fresh;  // the old one is abandoned on purpose (its mutex may be held)
        });
        return new ClientState;
    }();
    return c;
}

bool server_alive(const ServerInfo& s) {
    return s.pidfd >= 0 && poll_fd(s.pidfd, POLLIN, Clock::now()) == 0;
}

ServerInfo start_server() {
    ServerInfo s;
    s.token.resize(kTokenBytes);
    if (::getrandom(s.token.data(), kTokenBytes, 0) != static_cast<ssize_t>(kTokenBytes))
        throw_errno("forkserver: getrandom");
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mp-fs-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) throw_errno("forkserver: mkdtemp " + dir);  // 0700
    s.path = dir + "/s";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (s.path.size() >= sizeof addr.sun_path) {
        ::rmdir(dir.c_str());
        throw ValueError("forkserver: the socket path " + s.path + " is too long; set TMPDIR");
    }
    std::memcpy(addr.sun_path, s.path.c_str(), s.path.size() + 1);
    int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int sv[2] = {-1, -1};
    int self = -1;
    pid_t mid = 0;
    try {
        if (lfd < 0) throw_errno("forkserver: socket");
        if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
            throw_errno("forkserver: bind " + s.path);
        if (::listen(lfd, 128) < 0) throw_errno("forkserver: listen");
        check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "forkserver: socketpair");
        self = pidfd_open(::getpid());
        if (self < 0) throw_errno("forkserver: pidfd_open of this process");
        mid = spawn_image("forkserver", sv[1], false);
        close_fd(sv[1]);
        sv[1] = -1;
        Bytes msg = s.token;
        msg.insert(msg.end(), reinterpret_cast<const std::byte*>(s.path.data()),
                   reinterpret_cast<const std::byte*>(s.path.data()) + s.path.size());
        int fds[2] = {lfd, self};
        send_with_fds(sv[0], msg, fds);
        std::vector<int> none;
        Bytes reply = recv_with_fds(sv[0], none);  // the server's pid, once it has forked
        for (int fd : none) close_fd(fd);
        ::waitpid(mid, nullptr, 0);  // the intermediate process
        mid = 0;
        if (reply.size() != sizeof(std::int32_t)) throw ValueError("forkserver: bad boot reply");
        std::int32_t pid;
        std::memcpy(&pid, reply.data(), sizeof pid);
        s.pid = pid;
        s.pidfd = pidfd_open(pid);
        if (s.pidfd < 0) throw_errno("forkserver: the server ended at once");
    } catch (...) {
        if (mid > 0) {
            ::kill(mid, SIGKILL);
            ::waitpid(mid, nullptr, 0);
        }
        close_fd(lfd);
        close_fd(sv[0]);
        close_fd(sv[1]);
        close_fd(self);
        ::unlink(s.path.c_str());
        ::rmdir(dir.c_str());
        throw;
    }
    close_fd(lfd);
    close_fd(sv[0]);
    close_fd(self);
    return s;
}

class PopenForkServer final : public Popen {
  public:
    PopenForkServer(int status, pid_t pid, int pidfd) : status_(status), pid_(pid), pidfd_(pidfd) {}
    ~PopenForkServer() override {
        close_fd(status_);
        close_fd(pidfd_);
    }
    pid_t pid() const noexcept override { return pid_; }
    int sentinel() const noexcept override { return pidfd_; }
    std::optional<int> poll() override { return wait(Clock::now()); }
    std::optional<int> wait(std::optional<Clock::time_point> deadline) override {
        if (code_) return code_;
        if (status_ >= 0) {
            // The server writes the status as soon as it has reaped the child: waiting on
            // that pipe wakes this process once per child (not on the pidfd, then again for
            // the status).
            if (poll_fd(status_, POLLIN, deadline) == 0) return std::nullopt;
            std::int32_t code = 0;
            std::size_t got = 0;
            while (got < sizeof code) {
                ssize_t r =
                    ::read(status_, reinterpret_cast<char*>(&code) + got, sizeof code - got);
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) break;
                got += static_cast<std::size_t>(r);
            }
            close_fd(status_);
            status_ = -1;
            if (got == sizeof code) return code_ = code;
        }
        // The server died first: the status is lost; the child's end is still seen.
        if (poll_fd(pidfd_, POLLIN, deadline) == 0) return std::nullopt;
        return code_ = 255;
    }
    void send_signal(int sig) override {
        if (code_) return;
        if (pidfd_send_signal(pidfd_, sig) < 0 && errno != ESRCH) throw_errno("Process: signal");
    }

  private:
    int status_;  // the read end of the pipe the server writes the exit status into
    pid_t pid_;
    int pidfd_;
    std::optional<int> code_;
};

/// Connects to the server at `s` and authenticates (the token, with a pidfd of this
/// process); -1 if the server is gone (connect refused).
int connect_to(const ServerInfo& s) {
    int conn = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (conn < 0) throw_errno("forkserver: socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, s.path.c_str(), s.path.size() + 1);
    if (retry_eintr(
            [&] { return ::connect(conn, reinterpret_cast<sockaddr*>(&addr), sizeof addr); }) < 0) {
        close_fd(conn);
        return -1;
    }
    int self = pidfd_open(::getpid());
    try {
        if (self < 0) throw_pidfd_open_error("Process.start", errno);
        int fds[1] = {self};
        send_with_fds(conn, s.token, fds);
    } catch (const BrokenPipeError&) {
        close_fd(self);
        close_fd(conn);
        return -1;
    } catch (...) {
        close_fd(self);
        close_fd(conn);
        throw;
    }
    close_fd(self);
    return conn;
}

// One request on the connection `conn`; nullptr if the server is gone (EOF or a broken
// pipe before the reply).
std::unique_ptr<Popen> request(int conn, const ChildSpec& spec) {
    int status[2] = {-1, -1};
    std::vector<int> reply_fds;
    try {
        check(::pipe2(status, O_CLOEXEC), "Process.start: pipe2");
        Bytes body = encode_spec(spec);
        // Its standard fds (the child writes where this process does now, not where the
        // server was started), the status pipe's write end, then the handles' fds.
        std::vector<int> fds{0, 1, 2, status[1]};
        fds.insert(fds.end(), spec.fds.begin(), spec.fds.end());
        send_with_fds(conn, body, fds);
        close_fd(status[1]);
        status[1] = -1;
        Bytes reply = recv_with_fds(conn, reply_fds);
        if (reply.size() != sizeof(std::int32_t) || reply_fds.size() != 1)
            throw OSError(EPROTO, "forkserver: bad reply");
        std::int32_t pid;
        std::memcpy(&pid, reply.data(), sizeof pid);
        return std::make_unique<PopenForkServer>(status[0], pid, reply_fds[0]);
    } catch (const EOFError&) {
    } catch (const BrokenPipeError&) {
    } catch (...) {
        close_fd(status[0]);
        close_fd(status[1]);
        for (int fd : reply_fds) close_fd(fd);
        throw;
    }
    close_fd(status[0]);
    close_fd(status[1]);
    for (int fd : reply_fds) close_fd(fd);
    return nullptr;
}

}  // namespace

std::unique_ptr<Popen> launch_forkserver(ChildSpec& spec) {
    auto& c = *client_ptr();
    std::lock_guard lock(c.mutex);
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!server_alive(c.server)) {
            close_fd(c.conn);
            c.conn = -1;
            close_fd(c.server.pidfd);
            c.server = ServerInfo{};
            c.server = start_server();
        }
        if (c.conn < 0) c.conn = connect_to(c.server);
        if (c.conn >= 0) {
            if (auto p = request(c.conn, spec)) return p;
            close_fd(c.conn);
            c.conn = -1;
        }
        // The server died (or was killed) under us: the next attempt starts another once
        // its pidfd shows the end.
        if (server_alive(c.server))
            poll_fd(c.server.pidfd, POLLIN, Clock::now() + std::chrono::milliseconds(100));
    }
    throw OSError(ECHILD, "Process.start: the fork server could not start a child");
}

}  // namespace mp::detail
