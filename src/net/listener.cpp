#include "mp/listener.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "../system.hpp"
#include "handshake.hpp"

namespace mp {

namespace net = detail::net;

Address::Address(std::string host, int port) : host_(std::move(host)), port_(port) {
    if (port < 0 || port > 65535)
        throw ValueError("mp::Address: port " + std::to_string(port) + " is not in 0..65535");
    if (host_.empty())
        throw ValueError("mp::Address: empty host; use \"127.0.0.1\" for this machine");
}

std::string Address::str() const {
    if (is_unix()) return host_;
    bool v6 = host_.find(':') != std::string::npos;
    return (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

namespace {

class Fd {  // owns an fd until released
  public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { detail::close_fd(fd_); }
    [[nodiscard]] int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

sockaddr_un unix_sockaddr(const Address& a, const char* who) {
    const std::string& p = a.path();
    if (p.empty()) throw ValueError(std::string(who) + ": empty Unix socket path");
    if (p[0] == '\0') {
        throw ValueError(std::string(who) +
                         ": abstract-namespace Unix sockets are refused (any local user could "
                         "take the name, CVE-2022-42919); use a file path");
    }
    sockaddr_un sa{};
    if (p.size() >= sizeof sa.sun_path) {
        throw ValueError(std::string(who) + ": Unix socket path \"" + p + "\" is " +
                         std::to_string(p.size()) + " bytes; the limit is " +
                         std::to_string(sizeof sa.sun_path - 1));
    }
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, p.data(), p.size());
    return sa;
}

struct AddrInfo {
    addrinfo* list = nullptr;
    AddrInfo(const Address& a, bool passive) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = passive ? AI_PASSIVE : 0;
        std::string port = std::to_string(a.port());
        int rc = ::getaddrinfo(a.host().c_str(), port.c_str(), &hints, &list);
        if (rc != 0) {
            throw OSError(rc == EAI_SYSTEM ? errno : ENOENT,
                          "mp: cannot resolve host \"" + a.host() + "\": " + gai_strerror(rc));
        }
    }
    AddrInfo(const AddrInfo&) = delete;
    AddrInfo& operator=(const AddrInfo&) = delete;
    ~AddrInfo() { ::freeaddrinfo(list); }
};

Address address_of(const sockaddr_storage& ss, socklen_t len) {
    if (ss.ss_family == AF_UNIX) {
        auto& su = reinterpret_cast<const sockaddr_un&>(ss);
        std::size_t n =
            len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
        std::string path(su.sun_path, strnlen(su.sun_path, n));
        return Address(path);
    }
    char host[INET6_ADDRSTRLEN] = {};
    int port = 0;
    if (ss.ss_family == AF_INET) {
        auto& s4 = reinterpret_cast<const sockaddr_in&>(ss);
        ::inet_ntop(AF_INET, &s4.sin_addr, host, sizeof host);
        port = ntohs(s4.sin_port);
    } else {
        auto& s6 = reinterpret_cast<const sockaddr_in6&>(ss);
        ::inet_ntop(AF_INET6, &s6.sin6_addr, host, sizeof host);
        port = ntohs(s6.sin6_port);
    }
    return Address(host, port);
}

void set_nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort, as Python
}

}  // namespace

int net::connect_socket(const Address& address) {
    if (address.is_unix()) {
        sockaddr_un sa = unix_sockaddr(address, "mp::Client");
        Fd fd(
            detail::check(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "mp::Client: socket"));
        if (detail::retry_eintr([&] {
                return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
            }) < 0) {
            detail::throw_errno("mp::Client: connect to " + address.str() +
                                " (is a Listener running there?)");
        }
        return fd.release();
    }
    AddrInfo ai(address, false);
    int err = ECONNREFUSED;
    for (addrinfo* p = ai.list; p != nullptr; p = p->ai_next) {
        Fd fd(::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol));
        if (fd.get() < 0) {
            err = errno;
            continue;
        }
        if (detail::retry_eintr([&] { return ::connect(fd.get(), p->ai_addr, p->ai_addrlen); }) ==
            0) {
            set_nodelay(fd.get());
            return fd.release();
        }
        err = errno;
    }
    detail::throw_errno(
        "mp::Client: connect to " + address.str() + " (is a Listener running there?)", err);
}

Listener::Listener(const Address& address, std::optional<std::string> authkey,
                   ListenerOptions options)
    : address_(address), authkey_(std::move(authkey)), options_(options) {
    if (options_.backlog < 1) throw ValueError("mp::Listener: backlog must be at least 1");
    if (address.is_unix()) {
        sockaddr_un sa = unix_sockaddr(address, "mp::Listener");
        Fd fd(detail::check(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
                            "mp::Listener: socket"));
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
            detail::throw_errno(
                "mp::Listener: bind " + address.str() +
                (errno == EADDRINUSE ? " (in use, or a stale socket file: remove it)" : ""));
        }
        struct stat st {};
        if (::stat(address.path().c_str(), &st) == 0) {
            socket_dev_ = st.st_dev;
            socket_ino_ = st.st_ino;
        }
        if (::listen(fd.get(), options_.backlog) < 0) {
            int e = errno;
            ::unlink(address.path().c_str());
            detail::throw_errno("mp::Listener: listen", e);
        }
        fd_ = fd.release();
        return;
    }
    AddrInfo ai(address, true);
    int err = EADDRNOTAVAIL;
    for (addrinfo* p = ai.list; p != nullptr; p = p->ai_next) {
        Fd fd(::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol));
        if (fd.get() < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd.get(), p->ai_addr, p->ai_addrlen) < 0 ||
            ::listen(fd.get(), options_.backlog) < 0) {
            err = errno;
            continue;
        }
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        detail::check(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len),
                      "mp::Listener: getsockname");
        address_ = address_of(ss, len);
        fd_ = fd.release();
        return;
    }
    detail::throw_errno("mp::Listener: bind " + address.str(), err);
}

Listener::Listener(Listener&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      address_(std::move(o.address_)),
      authkey_(std::move(o.authkey_)),
      options_(o.options_),
      last_accepted_(std::move(o.last_accepted_)),
      socket_dev_(o.socket_dev_),
      socket_ino_(o.socket_ino_) {}

Listener& Listener::operator=(Listener&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = std::exchange(o.fd_, -1);
        address_ = std::move(o.address_);
        authkey_ = std::move(o.authkey_);
        options_ = o.options_;
        last_accepted_ = std::move(o.last_accepted_);
        socket_dev_ = o.socket_dev_;
        socket_ino_ = o.socket_ino_;
    }
    return *this;
}

Listener::~Listener() {
    close();
}

void Listener::close() noexcept {
    if (fd_ < 0) return;
    detail::close_fd(fd_);
    fd_ = -1;
    if (address_.is_unix()) {
        struct stat st {};  // remove the file only if it is still the socket we bound
        if (::stat(address_.path().c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
            st.st_ino == socket_ino_) {
            ::unlink(address_.path().c_str());
        }
    }
}

int Listener::fileno() const {
    if (fd_ < 0) throw OSError(EBADF, "mp::Listener: closed");
    return fd_;
}

Connection Listener::accept() {
    if (fd_ < 0) throw OSError(EBADF, "mp::Listener.accept: the listener is closed");
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int cfd = detail::retry_eintr(
        [&] { return ::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC); });
    if (cfd < 0) detail::throw_errno("mp::Listener.accept");
    Fd fd(cfd);
    last_accepted_ = address_of(ss, len);
    if (!address_.is_unix()) set_nodelay(cfd);
    if (authkey_) {
        auto deadline = net::Clock::now() + options_.handshake_timeout;
        net::deliver_challenge(cfd, *authkey_, deadline);
        net::answer_challenge(cfd, *authkey_, deadline);
    }
    return Connection::from_fd(fd.release(), Connection::Framing::python);
}

Connection Client(const Address& address, std::optional<std::string> authkey,
                  std::chrono::milliseconds handshake_timeout) {
    Fd fd(net::connect_socket(address));
    if (authkey) {
        auto deadline = net::Clock::now() + handshake_timeout;
        net::answer_challenge(fd.get(), *authkey, deadline);
        net::deliver_challenge(fd.get(), *authkey, deadline);
    }
    return Connection::from_fd(fd.release(), Connection::Framing::python);
}

}  // namespace mp
