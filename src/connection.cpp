#include "mp/connection.hpp"

#include <arpa/inet.h>
#include <endian.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>

#include "connection_ring.hpp"
#include "mp/process.hpp"
#include "system.hpp"

namespace mp {

struct Connection::State {
    int fd = -1;
    bool readable = false;
    bool writable = false;
    std::optional<FrameHeader> pending;  // a header read but not consumed (type mismatch)
    Bytes pushback;                      // bytes read past a mismatched header, not yet consumed
    std::size_t pushback_pos = 0;
    Framing framing = Framing::mp;
    std::deque<int> fds_in;  // fds received with SCM_RIGHTS, not yet taken by a handle
    bool socket = true;      // false once recvmsg said ENOTSOCK (a pipe): plain read()
    std::optional<detail::ConnRing> ring;  // a Pipe() end: frames go through shared memory

    [[nodiscard]] bool has_buffered() const noexcept {
        return pending.has_value() || pushback_pos < pushback.size();
    }
    // After poll() found the fd readable: whether recv would not block. On a ring, the
    // byte may be the wake byte of a message taken already, or fds ahead of their frame.
    bool confirm_ready() {
        return !ring || ring->has_data() || ring->wait_readable(fd, fds_in, detail::Clock::now());
    }

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
        detail::close_fd(fd);
        for (int f : fds_in) detail::close_fd(f);
    }
};

// The fd of an open end that may `want_read` (or write); OSError(EBADF) otherwise.
int Connection::require(const std::shared_ptr<State>& s, bool want_read) {
    if (!s || s->fd < 0) throw OSError(EBADF, "Connection: handle is closed");
    if (want_read && !s->readable) throw OSError(EBADF, "Connection: this end is write-only");
    if (!want_read && !s->writable) throw OSError(EBADF, "Connection: this end is read-only");
    return s->fd;
}

namespace {

constexpr std::size_t kMaxFds = detail::kMaxFdsPerMessage;

// One read(2) that also collects the fds sent with SCM_RIGHTS.
ssize_t read_some(Connection::State& s, void* data, std::size_t size) {
    if (s.ring) return static_cast<ssize_t>(s.ring->read_some(s.fd, s.fds_in, data, size));
    if (!s.socket) return ::read(s.fd, data, size);
    ssize_t r = detail::recv_with_fds(s.fd, data, size, 0, s.fds_in);
    if (r < 0 && errno == ENOTSOCK) {
        s.socket = false;
        return ::read(s.fd, data, size);
    }
    return r;
}

// Reads exactly out.size() bytes, first from the push-back buffer. Returns the number
// read before EOF (== size unless EOF).
std::size_t read_full(Connection::State& s, std::span<std::byte> out) {
    std::size_t got = 0;
    if (s.pushback_pos < s.pushback.size()) {
        got = std::min(out.size(), s.pushback.size() - s.pushback_pos);
        std::memcpy(out.data(), s.pushback.data() + s.pushback_pos, got);
        s.pushback_pos += got;
        if (s.pushback_pos == s.pushback.size()) {
            s.pushback.clear();
            s.pushback_pos = 0;
        }
    }
    while (got < out.size()) {
        ssize_t r = read_some(s, out.data() + got, out.size() - got);
        if (r > 0) {
            got += static_cast<std::size_t>(r);
        } else if (r == 0) {
            break;
        } else if (errno != EINTR) {
            if (errno == ECONNRESET) break;  // the peer died with unread data: treat as EOF
            detail::throw_errno("Connection.recv");
        }
    }
    return got;
}

[[noreturn]] void throw_truncated(std::uint64_t want, std::uint64_t got) {
    throw SerializationError("truncated frame: the peer closed after " + std::to_string(got) +
                             " of " + std::to_string(want) + " payload bytes");
}

// Writes every byte of iov[0..n) (sendmsg, no SIGPIPE); BrokenPipeError if the peer is gone.
void write_iov(int fd, iovec* iov, std::size_t n) {
    if (int e = detail::sendmsg_all(fd, std::span(iov, n), {}); e != 0)
        detail::throw_errno("Connection.send: the other end is closed", e);
}

}  // namespace

Connection Connection::from_fd(int fd, bool readable, bool writable) {
    if (fd < 0) throw ValueError("Connection::from_fd: invalid fd " + std::to_string(fd));
    auto s = std::make_shared<State>();
    s->fd = fd;
    s->readable = readable;
    s->writable = writable;
    return Connection(std::move(s));
}

std::pair<Connection, Connection> Pipe(bool duplex) {
    // The rings first: if they cannot be made, no fd is left open.
    auto rings = detail::ConnRing::make();
    int fds[2];
    detail::check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), "Pipe: socketpair");
    // A one-way Pipe keeps both directions of its socket open: the socket carries the
    // ring's wake bytes and the fds of handles toward the reader, and its HUP tells
    // either end that the other is gone; the ends refuse the other direction themselves.
    Connection a = Connection::from_fd(fds[0], true, duplex);
    Connection b = Connection::from_fd(fds[1], duplex, true);
    a.s_->ring = std::move(rings.first);
    b.s_->ring = std::move(rings.second);
    return {std::move(a), std::move(b)};
}

Bytes& Connection::scratch() {
    thread_local Bytes buf;
    if (buf.capacity() > (std::size_t{1} << 20)) Bytes().swap(buf);  // don't pin big buffers
    return buf;
}

void Connection::send_frame(const FrameHeader& h, std::span<const std::byte> payload,
                            std::span<const int> fds) {
    int fd = require(s_, false);
    if (s_->framing == Framing::python) {
        if (!fds.empty())
            throw ValueError(
                "Connection.send: a handle that holds fds (Queue, Lock, Value, "
                "Pipe end, ...) cannot travel over a Listener/Client connection; "
                "send it through a Pipe(), or share a Manager proxy instead");
        return send_python_message(h, payload);
    }
    if (fds.size() > kMaxFds)
        throw ValueError("Connection.send: one message can carry at most 253 fds");
    if (s_->ring) {
        std::span<const std::byte> parts[2] = {std::as_bytes(std::span(&h, 1)), payload};
        s_->ring->write(fd, parts, fds);
        return;
    }
    iovec iov[2] = {{const_cast<FrameHeader*>(&h), sizeof h},
                    {const_cast<std::byte*>(payload.data()), payload.size()}};
    const int e = detail::sendmsg_all(fd, std::span(iov, payload.empty() ? 1 : 2), fds);
    if (e == 0) return;
    if (!fds.empty() && (e == ENOTSOCK || e == EINVAL))
        throw ValueError(
            "Connection.send: a handle can only travel over a socket "
            "(a Pipe()), not over this fd");
    detail::throw_errno("Connection.send: the other end is closed", e);
}

void Connection::send_handle(std::uint64_t fingerprint, const Bytes& payload,
                             const detail::FdSink& sink) {
    Bytes framed;
    detail::put_pod<std::uint32_t>(framed, static_cast<std::uint32_t>(sink.fds.size()));
    framed.insert(framed.end(), payload.begin(), payload.end());
    send_frame(FrameHeader{FrameHeader::kMagic, FrameKind::cereal, fingerprint, framed.size()},
               framed, sink.fds);
}

Bytes Connection::recv_handle(std::uint64_t fingerprint, std::string_view type,
                              detail::FdSource& src) {
    FrameHeader h = next_header();
    if (h.kind == FrameKind::raw || h.fingerprint != fingerprint) {
        throw SerializationError("type mismatch: the frame holds " +
                                 (h.kind == FrameKind::raw
                                      ? std::string("raw bytes")
                                      : detail::describe_fingerprint(h.fingerprint)) +
                                 " but " + detail::readable_type_name(type) + " was expected");
    }
    Bytes payload = read_payload(h);
    std::span<const std::byte> in = payload;
    auto n = detail::get_pod<std::uint32_t>(in);
    if (n > s_->fds_in.size() && s_->ring) (void)s_->ring->take_fds(s_->fd, s_->fds_in, n);
    if (n > s_->fds_in.size()) {
        throw SerializationError("Connection.recv: a handle arrived without its fds (" +
                                 std::to_string(n) + " expected, " +
                                 std::to_string(s_->fds_in.size()) + " received)");
    }
    std::vector<int> fds(s_->fds_in.begin(), s_->fds_in.begin() + n);
    s_->fds_in.erase(s_->fds_in.begin(), s_->fds_in.begin() + n);
    src.adopt(std::move(fds));
    return Bytes(in.begin(), in.end());
}

void Connection::send_bytes(std::span<const std::byte> buf) {
    send_frame(FrameHeader{FrameHeader::kMagic, FrameKind::raw, 0, buf.size()}, buf);
}

FrameHeader Connection::next_header() {
    int fd = require(s_, true);
    if (s_->pending) return *s_->pending;
    if (s_->framing == Framing::python) return next_python_header();
    (void)fd;
    FrameHeader h;
    std::size_t got = read_full(*s_, std::as_writable_bytes(std::span(&h, 1)));
    if (got == 0) throw EOFError("Connection.recv: the other end is closed and no data is left");
    if (got < sizeof h) throw_truncated(sizeof h, got);
    validate_header(h);
    s_->pending = h;
    return h;
}

void Connection::read_payload(const FrameHeader& h, std::span<std::byte> out) {
    s_->pending.reset();
    std::size_t got = read_full(*s_, out.first(h.size));
    if (got < h.size) throw_truncated(h.size, got);
}

Bytes Connection::read_payload(const FrameHeader& h) {
    s_->pending.reset();
    // Grow with the data actually received, so a corrupt length cannot make us
    // allocate much more than the peer really sent.
    constexpr std::size_t kFirst = std::size_t{1} << 16;
    Bytes out(std::min<std::uint64_t>(h.size, kFirst));
    std::size_t have = 0;
    while (have < h.size) {
        if (have == out.size()) out.resize(std::min<std::uint64_t>(h.size, out.size() * 2));
        std::size_t got = read_full(*s_, std::span(out).subspan(have));
        have += got;
        if (have < out.size()) throw_truncated(h.size, have);
    }
    return out;
}

Bytes Connection::recv_bytes() {
    FrameHeader h = next_header();
    return read_payload(h);
}

bool Connection::recv_fixed(const FrameHeader& expected, std::span<std::byte> out) {
    int fd = require(s_, true);
    if (s_->has_buffered()) return false;  // the general path drains what is buffered
    if (s_->framing == Framing::python) return false;
    // One read for header and payload: it asks for exactly one frame of the expected
    // size, so it overshoots only if the frame is of another type (kept in pushback).
    constexpr std::size_t kMax = sizeof(FrameHeader) + 256;
    std::byte buf[kMax];
    std::size_t want = sizeof(FrameHeader) + out.size();
    (void)fd;
    ssize_t r = detail::retry_eintr([&] { return read_some(*s_, buf, want); });
    if (r < 0) {
        if (errno != ECONNRESET) detail::throw_errno("Connection.recv");
        r = 0;
    }
    if (r == 0) throw EOFError("Connection.recv: the other end is closed and no data is left");
    auto got = static_cast<std::size_t>(r);
    if (got < sizeof(FrameHeader)) {
        std::size_t more = read_full(*s_, std::span(buf + got, sizeof(FrameHeader) - got));
        if (more < sizeof(FrameHeader) - got) throw_truncated(sizeof(FrameHeader), got + more);
        got = sizeof(FrameHeader);
    }
    FrameHeader h;
    std::memcpy(&h, buf, sizeof h);
    validate_header(h);
    bool match =
        h.kind == expected.kind && h.fingerprint == expected.fingerprint && h.size == out.size();
    if (!match) {
        s_->pending = h;
        s_->pushback.assign(buf + sizeof(FrameHeader), buf + got);
        s_->pushback_pos = 0;
        return false;
    }
    std::size_t have = got - sizeof(FrameHeader);
    std::memcpy(out.data(), buf + sizeof(FrameHeader), have);
    if (have < out.size()) {
        std::size_t more = read_full(*s_, out.subspan(have));
        if (have + more < out.size()) throw_truncated(out.size(), have + more);
    }
    return true;
}

bool Connection::poll_until(detail_clock::time_point deadline) const {
    int fd = require(s_, true);
    if (s_->has_buffered()) return true;
    if (s_->ring) return s_->ring->wait_readable(fd, s_->fds_in, deadline);
    return detail::poll_fd(fd, POLLIN, deadline) != 0;
}

void Connection::close() noexcept {
    if (s_ && s_->fd >= 0) {
        detail::close_fd(s_->fd);
        s_->fd = -1;
        s_->ring.reset();
    }
}

bool Connection::closed() const noexcept {
    return !s_ || s_->fd < 0;
}

int Connection::fileno() const {
    if (closed()) throw OSError(EBADF, "Connection.fileno: handle is closed");
    return s_->fd;
}

bool Connection::readable() const noexcept {
    return s_ && s_->readable;
}
bool Connection::writable() const noexcept {
    return s_ && s_->writable;
}

// ---- Python's framing (Listener/Client) -------------------------------------------------

Connection Connection::from_fd(int fd, Framing framing) {
    Connection c = from_fd(fd);
    c.s_->framing = framing;
    return c;
}

// One message: a `!i` length (or -1 then a `!Q` length past 2^31-1), then the bytes; a typed
// frame goes whole (header and payload) inside the message.
void Connection::send_python_message(const FrameHeader& h, std::span<const std::byte> payload) {
    bool typed = h.kind != FrameKind::raw;
    std::uint64_t n = payload.size() + (typed ? sizeof h : 0);
    unsigned char prefix[12];
    std::size_t prefix_len = 4;
    if (n > 0x7fffffff) {
        std::uint32_t minus_one = htonl(0xffffffffu);
        std::uint64_t big = htobe64(n);
        std::memcpy(prefix, &minus_one, 4);
        std::memcpy(prefix + 4, &big, 8);
        prefix_len = 12;
    } else {
        std::uint32_t len = htonl(static_cast<std::uint32_t>(n));
        std::memcpy(prefix, &len, 4);
    }
    iovec iov[3];
    std::size_t k = 0;
    iov[k++] = {prefix, prefix_len};
    if (typed) iov[k++] = {const_cast<FrameHeader*>(&h), sizeof h};
    if (!payload.empty()) iov[k++] = {const_cast<std::byte*>(payload.data()), payload.size()};
    write_iov(s_->fd, iov, k);
}

FrameHeader Connection::next_python_header() {
    State& s = *s_;
    if (s.pushback_pos == s.pushback.size()) {
        // One read for the prefix and, for a small message, all of it (a raw socket's one
        // read per message); bytes past this message stay in pushback for the next.
        std::byte buf[64];
        ssize_t r = detail::retry_eintr([&] { return ::read(s.fd, buf, sizeof buf); });
        if (r < 0 && errno != ECONNRESET) detail::throw_errno("Connection.recv");
        s.pushback.assign(buf, buf + std::max<ssize_t>(r, 0));
        s.pushback_pos = 0;
    }
    std::uint32_t len_be = 0;
    std::size_t got = read_full(s, std::as_writable_bytes(std::span(&len_be, 1)));
    if (got == 0) throw EOFError("Connection.recv: the other end is closed and no data is left");
    if (got < 4) throw_truncated(4, got);
    auto len = static_cast<std::int32_t>(ntohl(len_be));
    std::uint64_t n = static_cast<std::uint64_t>(len);
    if (len == -1) {
        std::uint64_t big_be = 0;
        got = read_full(s, std::as_writable_bytes(std::span(&big_be, 1)));
        if (got < 8) throw_truncated(8, got);
        n = be64toh(big_be);
    } else if (len < 0) {
        throw SerializationError("corrupt message: the peer announced a length of " +
                                 std::to_string(len) + " bytes");
    }
    if (n > kMaxFrameSize) {
        throw SerializationError("corrupt message: the peer announced " + std::to_string(n) +
                                 " bytes, more than the 1 TiB limit");
    }
    FrameHeader raw{FrameHeader::kMagic, FrameKind::raw, 0, n};
    if (n >= sizeof(FrameHeader)) {  // an mp frame inside the message?
        FrameHeader h;
        auto hb = std::as_writable_bytes(std::span(&h, 1));
        got = read_full(s, hb);
        if (got < sizeof h) throw_truncated(n, got);
        bool framed = h.magic == FrameHeader::kMagic &&
                      (h.kind == FrameKind::bytes || h.kind == FrameKind::cereal) &&
                      h.size == n - sizeof h;
        if (framed) {
            s.pending = h;
            return h;
        }
        s.pushback.insert(s.pushback.begin() + static_cast<std::ptrdiff_t>(s.pushback_pos),
                          hb.begin(), hb.end());
    }
    s.pending = raw;
    return raw;
}

namespace {

// Polls `fds` until one is ready (true) or `timeout` passes (false); EINTR restarts.
bool poll_until_ready(std::vector<pollfd>& fds,
                      std::optional<std::chrono::steady_clock::duration> timeout) {
    std::optional<detail::Clock::time_point> deadline;
    if (timeout) deadline = detail::Clock::now() + *timeout;
    for (;;) {
        int r = ::poll(fds.data(), fds.size(), detail::poll_timeout_ms(deadline));
        if (r < 0 && errno != EINTR) detail::throw_errno("mp::wait: poll");
        if (r > 0) return true;
        if (r == 0 && deadline && detail::Clock::now() >= *deadline) return false;
    }
}

// The time left until `deadline` (zero once passed); nullopt: no deadline.
std::optional<std::chrono::steady_clock::duration> remaining(
    std::optional<detail::Clock::time_point> deadline) {
    if (!deadline) return std::nullopt;
    return std::max(*deadline - detail::Clock::now(), detail::Clock::duration::zero());
}

}  // namespace

std::vector<Connection*> wait(std::span<Connection* const> conns,
                              std::optional<std::chrono::steady_clock::duration> timeout) {
    std::vector<Connection*> ready;
    std::vector<pollfd> fds;
    for (Connection* c : conns) {
        if (c == nullptr) throw ValueError("mp::wait: a null Connection pointer was given");
        int fd = Connection::require(c->s_, true);
        if (c->s_->has_buffered() || (c->s_->ring && c->s_->ring->has_data())) ready.push_back(c);
        fds.push_back({fd, POLLIN, 0});
    }
    if (!ready.empty()) return ready;
    std::optional<detail::Clock::time_point> deadline;
    if (timeout) deadline = detail::Clock::now() + *timeout;
    while (poll_until_ready(fds, remaining(deadline))) {
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].revents != 0 && conns[i]->s_->confirm_ready()) ready.push_back(conns[i]);
        }
        if (!ready.empty()) break;
    }
    return ready;
}

std::vector<Waitable> wait(std::span<const Waitable> objects,
                           std::optional<std::chrono::steady_clock::duration> timeout) {
    std::vector<Waitable> ready;
    std::vector<pollfd> fds;
    for (const Waitable& w : objects) {
        if (Connection* c = w.connection()) {
            int fd = Connection::require(c->s_, true);
            if (c->s_->has_buffered() || (c->s_->ring && c->s_->ring->has_data()))
                ready.push_back(w);
            fds.push_back({fd, POLLIN, 0});
        } else if (Process* p = w.process()) {
            int fd = p->sentinel();
            if (fd < 0) throw ValueError("mp::wait: process " + p->name() + " was never started");
            fds.push_back({fd, POLLIN, 0});
        } else {
            throw ValueError("mp::wait: a null pointer was given");
        }
    }
    if (!ready.empty()) return ready;
    std::optional<detail::Clock::time_point> deadline;
    if (timeout) deadline = detail::Clock::now() + *timeout;
    while (poll_until_ready(fds, remaining(deadline))) {
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].revents == 0) continue;
            Connection* c = objects[i].connection();
            if (c == nullptr || c->s_->confirm_ready()) ready.push_back(objects[i]);
        }
        if (!ready.empty()) break;
    }
    return ready;
}

namespace detail {

// A Connection travels as its socket's fd, its flags and, for a Pipe() end, the memfd of
// its rings and which side it is (flag 4).
void Reduce<Connection>::save(const Connection& c, Bytes& out, FdSink& sink) {
    std::uint32_t idx = sink.add(c.closed() ? -1 : c.fileno(), "Connection");
    const auto& ring = c.s_->ring;
    put_pod(out, idx);
    put_pod<std::uint8_t>(out, static_cast<std::uint8_t>((c.readable() ? 1 : 0) |
                                                         (c.writable() ? 2 : 0) | (ring ? 4 : 0)));
    if (!ring) return;
    put_pod(out, sink.add(ring->memfd(), "Connection"));
    put_pod<std::uint8_t>(out, static_cast<std::uint8_t>(ring->side()));
}

Connection Reduce<Connection>::load(std::span<const std::byte>& in, FdSource& src) {
    auto idx = get_pod<std::uint32_t>(in);
    auto flags = get_pod<std::uint8_t>(in);
    int fd = src.take(idx, "Connection");
    Connection c = Connection::from_fd(fd, (flags & 1) != 0, (flags & 2) != 0);
    if ((flags & 4) != 0) {
        auto ring_idx = get_pod<std::uint32_t>(in);
        auto side = get_pod<std::uint8_t>(in);
        c.s_->ring = ConnRing::adopt(src.take(ring_idx, "Connection"), side);
    }
    return c;
}

}  // namespace detail

}  // namespace mp
