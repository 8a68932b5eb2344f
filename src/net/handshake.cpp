// Python's challenge/response handshake (multiprocessing.connection, 3.12 rules), HMAC and
// random bytes from OpenSSL's libcrypto.
#include "handshake.hpp"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "../system.hpp"

namespace mp::detail::net {

namespace {

constexpr std::string_view kChallenge = "#CHALLENGE#";
constexpr std::string_view kWelcome = "#WELCOME#";
constexpr std::string_view kFailure = "#FAILURE#";
constexpr std::size_t kMessageLength = 40;    // random bytes in a challenge we send
constexpr std::size_t kLegacyChallenge = 20;  // Python <= 3.11: 20 bytes, no prefix
constexpr std::size_t kMd5Length = 16;        // a bare HMAC-MD5 answer
constexpr std::size_t kMaxDigestName = 8;     // "sha3_256"
constexpr std::size_t kMaxHandshakeMessage = 256;

std::span<const std::byte> as_bytes(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

void append(Bytes& out, std::span<const std::byte> b) {
    out.insert(out.end(), b.begin(), b.end());
}

bool equals(std::span<const std::byte> b, std::string_view s) {
    return b.size() == s.size() && std::memcmp(b.data(), s.data(), s.size()) == 0;
}

const EVP_MD* digest_by_name(std::string_view name) {
    if (name == "md5") return EVP_md5();
    if (name == "sha256") return EVP_sha256();
    if (name == "sha384") return EVP_sha384();
    if (name == "sha3_256") return EVP_sha3_256();
    if (name == "sha3_384") return EVP_sha3_384();
    return nullptr;
}

struct Tagged {
    std::string digest;               // "md5", "sha256", …
    std::span<const std::byte> body;  // what follows the "{name}" prefix (or all of it)
    bool legacy = false;              // Python <= 3.11's form: MD5, no prefix
};

// Python 3.12's _get_digest_name_and_payload: a message of a legacy length is MD5;
// otherwise it must start with "{name}" naming an allowed digest.
Tagged split_digest(std::span<const std::byte> m) {
    if (m.size() == kLegacyChallenge || m.size() == kMd5Length) return {"md5", m, true};
    if (!m.empty() && m[0] == std::byte{'{'}) {
        auto end = std::min(m.size(), kMaxDigestName + 2);
        for (std::size_t i = 1; i < end; ++i) {
            if (m[i] != std::byte{'}'}) continue;
            std::string name(reinterpret_cast<const char*>(m.data()) + 1, i - 1);
            if (digest_by_name(name) != nullptr) return {name, m.subspan(i + 1), false};
            break;
        }
    }
    throw AuthenticationError(
        "handshake: the peer's message (" + std::to_string(m.size()) +
        " bytes) has neither a legacy length nor a {digest} prefix naming md5, sha256, sha384, "
        "sha3_256 or sha3_384; is the peer a multiprocessing.connection Listener/Client with "
        "an authkey?");
}

}  // namespace

Bytes random_bytes(std::size_t n) {
    Bytes out(n);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        throw Error("mp: OpenSSL's RAND_bytes could not give random bytes for a challenge");
    return out;
}

Bytes hmac(std::string_view name, std::string_view key, std::span<const std::byte> message) {
    const EVP_MD* md = digest_by_name(name);
    if (md == nullptr)
        throw AuthenticationError("handshake: unsupported digest " + std::string(name));
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned len = 0;
    if (HMAC(md, key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
             reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr) {
        throw AuthenticationError("handshake: OpenSSL could not compute HMAC-" + std::string(name) +
                                  " (is it disabled, e.g. MD5 in FIPS mode?)");
    }
    out.resize(len);
    return out;
}

void send_message(int fd, std::span<const std::byte> bytes) {
    std::uint32_t len = htonl(static_cast<std::uint32_t>(bytes.size()));
    iovec iov[2] = {{&len, sizeof len}, {const_cast<std::byte*>(bytes.data()), bytes.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    std::size_t want = sizeof len + bytes.size();
    ssize_t w = retry_eintr([&] { return ::sendmsg(fd, &msg, MSG_NOSIGNAL); });
    if (w < 0) throw_errno("handshake: send");
    // a handshake message is at most a few hundred bytes: a socket buffer takes it whole
    if (static_cast<std::size_t>(w) != want) throw AuthenticationError("handshake: short send");
}

namespace {

// Reads exactly out.size() bytes before `deadline`; AuthenticationError on EOF or timeout.
void read_exact(int fd, std::span<std::byte> out, Clock::time_point deadline, const char* what) {
    std::size_t got = 0;
    while (got < out.size()) {
        if (poll_fd(fd, POLLIN, deadline) == 0) {
            throw AuthenticationError(std::string("handshake: the peer sent no ") + what +
                                      " in time; dropped");
        }
        ssize_t r = ::recv(fd, out.data() + got, out.size() - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno != ECONNRESET) throw_errno(std::string("handshake: recv ") + what);
        if (r <= 0) {
            throw AuthenticationError(std::string("handshake: the peer closed the connection "
                                                  "instead of sending ") +
                                      what + " (wrong authkey, or not an authenticating peer?)");
        }
        got += static_cast<std::size_t>(r);
    }
}

}  // namespace

Bytes recv_message(int fd, std::size_t max_len, Clock::time_point deadline, const char* what) {
    std::uint32_t len_be = 0;
    read_exact(fd, std::as_writable_bytes(std::span(&len_be, 1)), deadline, what);
    auto len = static_cast<std::int32_t>(ntohl(len_be));
    if (len < 0 || static_cast<std::size_t>(len) > max_len) {
        throw AuthenticationError(std::string("handshake: the peer announced a ") + what + " of " +
                                  std::to_string(len) + " bytes, more than the " +
                                  std::to_string(max_len) + " allowed; dropped");
    }
    Bytes out(static_cast<std::size_t>(len));
    read_exact(fd, out, deadline, what);
    return out;
}

void deliver_challenge(int fd, std::string_view key, Clock::time_point deadline) {
    Bytes nonce = random_bytes(kMessageLength);
    Bytes wire;
    append(wire, as_bytes(kChallenge));
    append(wire, as_bytes("{sha256}"));
    append(wire, nonce);
    auto message = std::span<const std::byte>(wire).subspan(kChallenge.size());
    send_message(fd, wire);

    Bytes response = recv_message(fd, kMaxHandshakeMessage, deadline, "answer to our challenge");
    bool ok = false;
    std::string why = "the peer's digest was wrong: its authkey differs from ours";
    try {
        Tagged t = split_digest(response);
        Bytes expected = hmac(t.digest, key, message);
        ok = expected.size() == t.body.size() &&
             CRYPTO_memcmp(expected.data(), t.body.data(), expected.size()) == 0;
    } catch (const AuthenticationError& e) {
        why = e.what();
    }
    if (!ok) {
        try {
            send_message(fd, as_bytes(kFailure));
        } catch (const Error&) {  // the peer is gone already: the failure stands
        }
        throw AuthenticationError("handshake: " + why);
    }
    send_message(fd, as_bytes(kWelcome));
}

void answer_challenge(int fd, std::string_view key, Clock::time_point deadline) {
    Bytes wire = recv_message(fd, kMaxHandshakeMessage, deadline, "challenge");
    if (wire.size() < kChallenge.size() ||
        std::memcmp(wire.data(), kChallenge.data(), kChallenge.size()) != 0) {
        throw AuthenticationError(
            "handshake: the peer's first message is not a #CHALLENGE#; is "
            "it a Listener with an authkey?");
    }
    auto message = std::span<const std::byte>(wire).subspan(kChallenge.size());
    if (message.size() < kLegacyChallenge) {
        throw AuthenticationError("handshake: the peer's challenge is too short (" +
                                  std::to_string(message.size()) + " bytes)");
    }
    Tagged t = split_digest(message);
    Bytes digest = hmac(t.digest, key, message);  // Python MACs the whole message, prefix too
    Bytes answer;
    if (!t.legacy) append(answer, as_bytes("{" + t.digest + "}"));  // Python 3.12's form
    append(answer, digest);
    send_message(fd, answer);
    Bytes reply = recv_message(fd, kMaxHandshakeMessage, deadline, "reply to our answer");
    if (!equals(reply, kWelcome)) {
        throw AuthenticationError(equals(reply, kFailure)
                                      ? "handshake: the peer rejected our digest: our authkey "
                                        "differs from the peer's"
                                      : "handshake: the peer's reply is neither #WELCOME# nor "
                                        "#FAILURE#");
    }
}

}  // namespace mp::detail::net
