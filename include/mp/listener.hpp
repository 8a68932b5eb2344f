// mp/listener.hpp — Listener, Client and Address (Python: multiprocessing.connection's
// Listener and Client).
//
//     // server                                       // client (another program, any machine)
//     mp::Listener l(mp::Address{"127.0.0.1", 6000}, key);
//     mp::Connection c = l.accept();                  mp::Connection c = mp::Client({"127.0.0.1",
//     6000}, key); auto msg = c.recv<std::string>();               c.send(std::string("hello"));
//
// Processes that were not forked from each other meet at an Address: a Unix socket path
// (`Address{"/tmp/app.sock"}`; never the abstract namespace, CVE-2022-42919) or a TCP
// host and port (`Address{"127.0.0.1", 6000}`; port 0 takes any free one, address() tells
// which). The Connections use Python's framing, so send_bytes/recv_bytes talk to a Python
// `multiprocessing.connection` peer, and typed send/recv carry mp frames inside.
//
// The handshake, with an authkey, is Python's challenge/response, done both ways (the
// listener challenges first, then the client): one side sends `#CHALLENGE#` and random
// bytes from OpenSSL, the other answers with an HMAC of them under the key. mp sends
// `{sha256}` challenges and answers in the digest the challenge names, as Python 3.12;
// it accepts, as Python 3.12 does, the legacy HMAC-MD5 forms of Python <= 3.11 peers
// (a 20-byte challenge without a prefix, and a bare 16-byte MD5 answer), so both
// generations of Python interoperate. A peer that does not know the key gets
// `#FAILURE#` and mp::AuthenticationError on both sides.
//
// What the authkey protects, and what it does not: it proves that the peer knows the
// key before anything else is read from it — and, as in Python, it is used for that
// alone. Messages after the handshake are neither encrypted nor MAC'd (which is what
// lets a Python peer talk to us, and keeps a round trip near a raw socket's), so anyone
// who can read or alter the traffic sees or changes it. Across untrusted networks, tunnel
// it (SSH, TLS, a VPN); on one machine prefer a Unix socket in a directory only you can
// open. Python sends the key in no message, and neither does mp.
//
// Untrusted peers: a peer that sends garbage, a message longer than a handshake allows,
// or nothing at all within `handshake_timeout` (10 s unless set) is dropped: accept()
// throws AuthenticationError saying which, the Listener stays open, and the next accept()
// works. Without an authkey no handshake is made (Python's authkey=None).
//
// Thread and process safety: a Listener may be used by one thread at a time; accepted
// Connections behave as any Connection (see <mp/connection.hpp>). A Listener is not
// copyable; move it.
//
// Link: target mp::net (built when OpenSSL's libcrypto is found).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include <cereal/types/string.hpp>

#include "mp/connection.hpp"
#include "mp/errors.hpp"

namespace mp {

/// Where a Listener listens and a Client connects: a Unix socket path or a TCP host and port.
class Address {
  public:
    /// A Unix socket at `path` (a file path; "" and abstract names starting with '\0' →
    /// ValueError at use).
    Address(std::string path) : host_(std::move(path)), port_(-1) {}  // NOLINT: "/path" reads well
    Address(const char* path) : Address(std::string(path)) {}         // NOLINT
    /// TCP `host` (a name or a numeric address) and `port` (0..65535; 0: any free one).
    Address(std::string host, int port);
    /// A Unix socket address with no path (what a default-constructed handle holds).
    Address() : port_(-1) {}

    [[nodiscard]] bool is_unix() const noexcept { return port_ < 0; }
    /// The socket path (Unix) or the host (TCP).
    [[nodiscard]] const std::string& path() const noexcept { return host_; }
    [[nodiscard]] const std::string& host() const noexcept { return host_; }
    /// The TCP port; -1 for a Unix socket.
    [[nodiscard]] int port() const noexcept { return port_; }
    /// "/path" or "host:port", for messages.
    [[nodiscard]] std::string str() const;

    friend bool operator==(const Address&, const Address&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(host_, port_);
    }

  private:
    std::string host_;
    int port_;
};

/// Options of a Listener beyond its address and key.
struct ListenerOptions {
    int backlog = 16;  ///< connections the kernel queues before accept()
    /// How long accept() waits for a peer to complete the handshake before dropping it.
    std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
};

/// Python's multiprocessing.connection.Listener: a bound, listening socket.
class Listener {
  public:
    /// Binds and listens at `address`. With an authkey, every accepted peer must prove it
    /// knows the key. OSError if the address cannot be bound (EADDRINUSE: in use, or a
    /// stale socket file — remove it); ValueError for a bad path or port.
    explicit Listener(const Address& address, std::optional<std::string> authkey = std::nullopt,
                      ListenerOptions options = {});
    Listener(Listener&&) noexcept;
    Listener& operator=(Listener&&) noexcept;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    ~Listener();  ///< close()

    /// Waits for a peer and runs the handshake; AuthenticationError (the Listener stays
    /// usable) if the peer fails it. OSError(EBADF) after close().
    Connection accept();
    /// Closes the socket and removes its socket file (if it is still ours). Idempotent.
    void close() noexcept;

    /// Where it listens (for TCP port 0, the port chosen).
    [[nodiscard]] const Address& address() const noexcept { return address_; }
    /// The address of the peer accepted last (nullopt before the first accept; a Unix
    /// peer's address has an empty path, as Python's '').
    [[nodiscard]] const std::optional<Address>& last_accepted() const noexcept {
        return last_accepted_;
    }
    [[nodiscard]] bool closed() const noexcept { return fd_ < 0; }
    /// The listening fd (OSError if closed), e.g. for poll.
    [[nodiscard]] int fileno() const;

  private:
    int fd_ = -1;
    Address address_;
    std::optional<std::string> authkey_;
    ListenerOptions options_;
    std::optional<Address> last_accepted_;
    dev_t socket_dev_ = 0;  // identity of the socket file we bound, so close() unlinks only it
    ino_t socket_ino_ = 0;
};

/// Python's multiprocessing.connection.Client: connects to a Listener (or a Python
/// Listener) and, with an authkey, runs the handshake. OSError if nobody listens there
/// (ECONNREFUSED, ENOENT); AuthenticationError if the keys differ or the peer's
/// handshake is malformed or does not come within `handshake_timeout`.
Connection Client(const Address& address, std::optional<std::string> authkey = std::nullopt,
                  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10));

}  // namespace mp
