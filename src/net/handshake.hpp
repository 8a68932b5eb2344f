// Internal to mp::net: Python's framing on a raw fd with a deadline, HMAC through OpenSSL,
// and the challenge/response handshake. Not installed.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "mp/listener.hpp"
#include "mp/serialize.hpp"

namespace mp::detail::net {

using Clock = std::chrono::steady_clock;

/// `n` bytes from OpenSSL's RAND_bytes (mp::Error if it cannot give them).
Bytes random_bytes(std::size_t n);

/// HMAC of `message` under `key` with digest `name` ("md5", "sha256", "sha384", "sha3_256",
/// "sha3_384": Python 3.12's allowed set); AuthenticationError for another name.
Bytes hmac(std::string_view name, std::string_view key, std::span<const std::byte> message);

/// Sends one message in Python's framing (blocking; BrokenPipeError if the peer is gone).
void send_message(int fd, std::span<const std::byte> bytes);
/// Receives one message of at most `max_len` bytes before `deadline`; AuthenticationError
/// naming `what` if the peer closes, sends a longer message or sends nothing in time.
Bytes recv_message(int fd, std::size_t max_len, Clock::time_point deadline, const char* what);

/// Python's deliver_challenge: sends a `{sha256}` challenge, checks the answer (accepting
/// the legacy bare HMAC-MD5 one), replies #WELCOME# or #FAILURE#.
void deliver_challenge(int fd, std::string_view key, Clock::time_point deadline);
/// Python's answer_challenge: answers the peer's challenge in the digest it names (MD5 for
/// a legacy 20-byte challenge) and expects #WELCOME#.
void answer_challenge(int fd, std::string_view key, Clock::time_point deadline);

/// A connected stream socket to `address` (CLOEXEC); OSError naming the address on failure.
int connect_socket(const Address& address);

}  // namespace mp::detail::net
