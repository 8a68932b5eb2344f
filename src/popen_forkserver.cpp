// The forkserver start method, parent side (Python's popen_forkserver.py and the
// client half of forkserver.py). The server (forkserver.cpp) is started on first need
// and again if it has died; each start sends it the child description over a fresh
// connection and gets back the child's pid and a pidfd, then later its exit status.
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
    std::mutex mutex;
    ServerInfo server;  // pidfd < 0: none yet
};

ClientState*& client_ptr() {
    static ClientState* c = [] {
        // A forked child may inherit the mutex locked by another thread: it starts afresh
        // (and shares the server, whose address and token it inherited).
        ::pthread_atfork(nullptr, nullptr, [] {
            auto* old = client_ptr();
            auto* fresh = new ClientState;
            fresh->server = old->server;
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
    PopenForkServer(int conn, pid_t pid, int pidfd) : conn_(conn), pid_(pid), pidfd_(pidfd) {}
    ~PopenForkServer() override {
        close_fd(conn_);
        close_fd(pidfd_);
    }
    pid_t pid() const noexcept override { return pid_; }
    int sentinel() const noexcept override { return pidfd_; }
    std::optional<int> poll() override { return wait(Clock::now()); }
    std::optional<int> wait(std::optional<Clock::time_point> deadline) override {
        if (code_) return code_;
        if (poll_fd(pidfd_, POLLIN, deadline) == 0) return std::nullopt;
        // Ended: the server reaps it at once and sends the status.
        std::int32_t code = 0;
        std::size_t got = 0;
        while (got < sizeof code) {
            ssize_t r = ::recv(conn_, reinterpret_cast<char*>(&code) + got, sizeof code - got, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += static_cast<std::size_t>(r);
        }
        code_ = got == sizeof code ? code : 255;  // the server died first: the status is lost
        close_fd(conn_);
        conn_ = -1;
        return code_;
    }
    void send_signal(int sig) override {
        if (code_) return;
        if (pidfd_send_signal(pidfd_, sig) < 0 && errno != ESRCH) throw_errno("Process: signal");
    }

  private:
    int conn_;
    pid_t pid_;
    int pidfd_;
    std::optional<int> code_;
};

// One request to the server at `s`; nullptr if the server is gone (connect refused,
// EOF before the reply).
std::unique_ptr<Popen> request(const ServerInfo& s, const ChildSpec& spec) {
    int conn = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (conn < 0) throw_errno("forkserver: socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, s.path.c_str(), s.path.size() + 1);
    if (retry_eintr(
            [&] { return ::connect(conn, reinterpret_cast<sockaddr*>(&addr), sizeof addr); }) < 0) {
        close_fd(conn);
        return nullptr;
    }
    int self = pidfd_open(::getpid());
    std::vector<int> reply_fds;
    try {
        if (self < 0) throw_errno("Process.start: pidfd_open of this process");
        Bytes msg = s.token;
        Bytes body = encode_spec(spec);
        msg.insert(msg.end(), body.begin(), body.end());
        // The parent's pidfd, its standard fds (the child writes where the parent does
        // now, not where the server was started), then the handles' fds.
        std::vector<int> fds{self, 0, 1, 2};
        fds.insert(fds.end(), spec.fds.begin(), spec.fds.end());
        send_with_fds(conn, msg, fds);
        close_fd(self);
        self = -1;
        Bytes reply = recv_with_fds(conn, reply_fds);
        if (reply.size() != sizeof(std::int32_t) || reply_fds.size() != 1)
            throw OSError(EPROTO, "forkserver: bad reply");
        std::int32_t pid;
        std::memcpy(&pid, reply.data(), sizeof pid);
        return std::make_unique<PopenForkServer>(conn, pid, reply_fds[0]);
    } catch (const EOFError&) {
        close_fd(self);
        close_fd(conn);
        for (int fd : reply_fds) close_fd(fd);
        return nullptr;
    } catch (const BrokenPipeError&) {
        close_fd(self);
        close_fd(conn);
        for (int fd : reply_fds) close_fd(fd);
        return nullptr;
    } catch (...) {
        close_fd(self);
        close_fd(conn);
        for (int fd : reply_fds) close_fd(fd);
        throw;
    }
}

}  // namespace

std::unique_ptr<Popen> launch_forkserver(ChildSpec& spec) {
    auto& c = *client_ptr();
    for (int attempt = 0; attempt < 2; ++attempt) {
        ServerInfo s;
        {
            std::lock_guard lock(c.mutex);
            if (!server_alive(c.server)) {
                close_fd(c.server.pidfd);
                c.server = ServerInfo{};
                c.server = start_server();
            }
            s = c.server;
        }
        if (auto p = request(s, spec)) return p;
        // The server died (or was killed) under us: the next attempt starts another.
        std::lock_guard lock(c.mutex);
        if (c.server.pidfd == s.pidfd && server_alive(c.server)) {
            poll_fd(c.server.pidfd, POLLIN, Clock::now() + std::chrono::milliseconds(100));
        }
    }
    throw OSError(ECHILD, "Process.start: the fork server could not start a child");
}

}  // namespace mp::detail
