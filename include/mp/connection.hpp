// mp/connection.hpp — Pipe, Connection and wait (Python: multiprocessing.connection).
//
//     auto [parent, child] = mp::Pipe();
//     mp::Process p([](mp::Connection c) { c.send(std::string("hi")); }, child);
//     p.start();
//     std::string s = parent.recv<std::string>();   // "hi"
//     p.join();
//
// A Connection is a handle to one end of a channel. Each message is a frame
// (see <mp/serialize.hpp>): send(x) writes one frame, recv<T>() reads one and
// checks that it holds a T. Messages of any size work (they stream through the
// channel in pieces). send_bytes/recv_bytes carry raw bytes with no type check.
//
// Fast path (Pipe() only): a Pipe's two ends share, beside their socketpair, a memfd with
// one byte ring per direction; frames go through the ring and a waiting recv() spins
// briefly (when the peer runs on another CPU) before it sleeps, so a round trip between
// processes on two CPUs costs about a microsecond instead of two kernel wake-ups. The
// socket stays: it carries a one-byte wake-up whenever the reader is not spinning (so
// poll()/select() on fileno() see readiness), the fds of handles sent (SCM_RIGHTS, in
// order with the frames), and its hang-up tells each end that the other is gone (also
// after a SIGKILL). A Pipe end that travels (send(), or a Process argument under any
// start method) carries its memfd with its socket. The socket path — frames themselves on
// the socket — is what Connection::from_fd(), Listener/Client (mp::net) and Python peers
// use. Two differences of the fast path: bytes written to a Pipe end's fileno() by hand
// are refused by the reader (SerializationError: use send()); and poll() on fileno() may,
// rarely, report a message the reader has just taken while spinning (its wake byte came
// late) — Connection::poll() and mp::wait check the ring and are exact.
//
// Sharing: create the Pipe before Process::start() and pass the end to the
// child; copying a Connection gives another handle to the same fd, and the last
// handle in a process closes it. close() closes it for every handle in this
// process. Closing the last copy in every process is what makes the peer see EOF.
//
// Thread and process safety: several processes (or threads) may send on one Pipe() end
// at once — each message goes into the ring whole, under a lock in the ring that a
// writer killed while holding it loses to the next (a killed writer's message is lost;
// one larger than the ring that it left half-published makes every later send raise
// BrokenPipeError). Receiving on one end from several at once, and sending on other
// Connections (from_fd(), Listener/Client) from several at once, need an mp::Lock around
// each call, as in Python.
//
// Handles travel: send(h) of any mp handle (a Connection, Queue, Lock, Value,
// SharedMemory, …) passes its fds with SCM_RIGHTS beside the bytes, and
// recv<mp::Queue<int>>() in another process rebuilds a handle to the same object
// (Python refuses this; see <mp/detail/reduction.hpp>). A frame that carries a handle
// must be received as its type (recv_bytes of it would leave its fds unread).
// A Connection itself travels the same way, or as a Process argument under any start
// method.
//
// mp::wait also waits for processes: mp::wait({&conn, &proc}, 1s) returns the ready
// ones as Waitables (w.connection() / w.process(), nullptr for the other kind); a
// process is ready once it has ended.
//
// Errors: recv() on an end whose peer is gone and no data left → mp::EOFError;
// send() to a closed peer → mp::BrokenPipeError (on a Pipe, found when the send must wake
// the reader or wait for room: a message may enter the ring of a reader that just died);
// a peer killed in the middle of a message → mp::SerializationError ("truncated frame"); a frame of
// another type → mp::SerializationError (the frame stays, so recv with the right type still works);
// using a closed handle → mp::OSError (EBADF).
#pragma once

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "mp/detail/reduction.hpp"
#include "mp/serialize.hpp"

namespace mp {

class Process;
class Connection;

namespace detail {
template <>
struct Reduce<Connection> {
    static void save(const Connection& c, Bytes& out, FdSink& sink);
    static Connection load(std::span<const std::byte>& in, FdSource& src);
};
}  // namespace detail

class Connection {
  public:
    struct State;  ///< implementation detail: the fd and what was read ahead, shared by copies

    /// A closed handle (closed() is true); assign a real one from Pipe().
    Connection() = default;

    /// Adopts an open fd of a connected stream socket (or pipe end). The
    /// Connection owns it from now on.
    static Connection from_fd(int fd, bool readable = true, bool writable = true);

    // ---- Python's framing (Listener/Client, <mp/listener.hpp>) ---------------------------
    /// How messages are delimited on the wire. `mp`: mp's 24-byte frame header (Pipe).
    /// `python`: multiprocessing.connection's framing, a big-endian `!i` length (or -1 and
    /// a `!Q` length for messages over 2 GiB) before each message, so send_bytes/recv_bytes
    /// interoperate with a Python peer; a typed send(x) sends mp's whole frame (header and
    /// payload) as one such message, and recv<T>() checks it as on a Pipe. A message from
    /// the peer that is itself an mp frame of the length announced is taken as one, so
    /// recv_bytes of it gives its payload (as on a Pipe).
    enum class Framing { mp, python };
    /// Adopts an open fd of a connected stream socket that uses `framing`.
    static Connection from_fd(int fd, Framing framing);

    /// Sends one object; blocks while the channel is full. An mp handle travels
    /// with its fds.
    template <class T>
    void send(const T& obj);
    /// A string literal or C string arrives as a std::string (recv<std::string>()).
    void send(const char* text) { send(std::string(text)); }
    void send(std::string_view text) { send(std::string(text)); }

    /// Receives one object of type T; blocks until one arrives.
    /// EOFError if the other end is closed; SerializationError if the frame holds another type.
    template <class T>
    T recv();

    /// Sends raw bytes as one message (Python's send_bytes).
    void send_bytes(std::span<const std::byte> buf);
    void send_bytes(std::string_view text) { send_bytes(std::as_bytes(std::span(text))); }

    /// Receives one message's bytes (a typed frame gives its encoded payload).
    Bytes recv_bytes();

    /// True if recv() would not block: data is waiting or the peer closed. Never blocks.
    [[nodiscard]] bool poll() const { return poll_until(detail_clock::now()); }
    /// Waits up to `timeout` for poll() to become true.
    template <class Rep, class Period>
    [[nodiscard]] bool poll(std::chrono::duration<Rep, Period> timeout) const {
        return poll_until(detail_clock::now() + std::chrono::ceil<detail_clock::duration>(timeout));
    }

    /// Closes this end for every handle to it in this process.
    void close() noexcept;
    [[nodiscard]] bool closed() const noexcept;
    /// The underlying fd (OSError if closed).
    [[nodiscard]] int fileno() const;
    [[nodiscard]] bool readable() const noexcept;
    [[nodiscard]] bool writable() const noexcept;

  private:
    using detail_clock = std::chrono::steady_clock;
    explicit Connection(std::shared_ptr<State> s) : s_(std::move(s)) {}
    static int require(const std::shared_ptr<State>& s, bool want_read);

    void send_python_message(const FrameHeader& h, std::span<const std::byte> payload);
    FrameHeader next_python_header();  // reads a Python length prefix (and an mp header in it)
    void send_frame(const FrameHeader& h, std::span<const std::byte> payload,
                    std::span<const int> fds = {});
    void send_handle(std::uint64_t fingerprint, const Bytes& payload, const detail::FdSink& sink);
    // Reads the next frame, which must hold a handle of `fingerprint`: its bytes, and
    // its fds into `src`.
    Bytes recv_handle(std::uint64_t fingerprint, std::string_view type, detail::FdSource& src);
    FrameHeader next_header();  // reads (or returns the pending) header; EOFError at clean EOF
    void read_payload(const FrameHeader& h, std::span<std::byte> out);  // consumes the frame
    Bytes read_payload(const FrameHeader& h);
    // Reads one frame of exactly `expected` in one read(); false (frame kept) if it is another.
    bool recv_fixed(const FrameHeader& expected, std::span<std::byte> out);
    bool poll_until(detail_clock::time_point deadline) const;
    static Bytes& scratch();

    std::shared_ptr<State> s_;

    friend std::pair<Connection, Connection> Pipe(bool duplex);
    friend struct detail::Reduce<Connection>;
    friend std::vector<Connection*> wait(std::span<Connection* const>,
                                         std::optional<std::chrono::steady_clock::duration>);
    friend std::vector<class Waitable> wait(std::span<const Waitable>,
                                            std::optional<std::chrono::steady_clock::duration>);
};

/// What mp::wait waits for: a Connection (ready to recv) or a Process (ended).
class Waitable {
  public:
    Waitable(Connection* c) : conn_(c) {}  // NOLINT: implicit, for wait({&conn, &proc})
    Waitable(Process* p) : proc_(p) {}     // NOLINT
    [[nodiscard]] Connection* connection() const noexcept { return conn_; }
    [[nodiscard]] Process* process() const noexcept { return proc_; }

  private:
    Connection* conn_ = nullptr;
    Process* proc_ = nullptr;
};

/// Blocks until at least one connection is ready to recv or one process has ended, or
/// the timeout runs out; the ready ones (empty on timeout). ValueError for a null
/// pointer or a Process not started.
std::vector<Waitable> wait(std::span<const Waitable> objects,
                           std::optional<std::chrono::steady_clock::duration> timeout);

inline std::vector<Waitable> wait(std::initializer_list<Waitable> objects) {
    return wait(std::span<const Waitable>(objects.begin(), objects.size()), std::nullopt);
}
template <class Rep, class Period>
std::vector<Waitable> wait(std::initializer_list<Waitable> objects,
                           std::chrono::duration<Rep, Period> timeout) {
    return wait(std::span<const Waitable>(objects.begin(), objects.size()),
                std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
}

/// Python's Pipe(duplex=True): two connected ends. With duplex=false the first
/// end only receives and the second only sends.
std::pair<Connection, Connection> Pipe(bool duplex = true);

/// Blocks until at least one connection is ready to recv (data or EOF), or the
/// timeout runs out; returns the ready ones (empty on timeout). Python's
/// multiprocessing.connection.wait.
std::vector<Connection*> wait(std::span<Connection* const> conns,
                              std::optional<std::chrono::steady_clock::duration> timeout = {});

inline std::vector<Connection*> wait(std::initializer_list<Connection*> conns) {
    return wait(std::span<Connection* const>(conns.begin(), conns.size()));
}
template <class Rep, class Period>
std::vector<Connection*> wait(std::initializer_list<Connection*> conns,
                              std::chrono::duration<Rep, Period> timeout) {
    return wait(std::span<Connection* const>(conns.begin(), conns.size()),
                std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
}

// ---- definitions -------------------------------------------------------------------------

template <class T>
void Connection::send(const T& obj) {
    if constexpr (detail::Reducible<T>) {
        Bytes payload;
        detail::FdSink sink;
        detail::Reduce<T>::save(obj, payload, sink);
        (void)detail::type_registered<T>;
        send_handle(detail::type_fingerprint<T>, payload, sink);
        return;
    } else {
        MP_REQUIRE_SERIALIZABLE(T);
    }
    if constexpr (detail::Reducible<T>) {
    } else if constexpr (BytesSerializable<T>) {
        send_frame(header_for<T>(sizeof(T)), std::as_bytes(std::span(std::addressof(obj), 1)));
    } else {
        Bytes& buf = scratch();
        buf.clear();
        encode_payload(obj, buf);
        send_frame(header_for<T>(buf.size()), buf);
    }
}

template <class T>
T Connection::recv() {
    if constexpr (detail::Reducible<T>) {
        detail::FdSource src;
        Bytes payload = recv_handle(detail::type_fingerprint<T>, detail::type_name<T>(), src);
        return detail::decode_value<T>(payload, src);
    } else if constexpr (!Serializable<T>) {
        MP_REQUIRE_SERIALIZABLE(T);
    } else if constexpr (BytesSerializable<T> && sizeof(T) <= 256) {
        alignas(T) std::byte storage[sizeof(T)];
        if (!recv_fixed(header_for<T>(sizeof(T)), storage)) {
            FrameHeader h = next_header();
            expect_type<T>(h);  // on mismatch the frame stays: nothing is lost
            read_payload(h, storage);
        }
        return decode_payload<T>(storage);
    } else if constexpr (BytesSerializable<T>) {
        FrameHeader h = next_header();
        expect_type<T>(h);
        auto storage = std::make_unique<std::byte[]>(sizeof(T));
        read_payload(h, std::span(storage.get(), sizeof(T)));
        return decode_payload<T>(std::span(storage.get(), sizeof(T)));
    } else {
        FrameHeader h = next_header();
        expect_type<T>(h);  // on mismatch the header stays pending: nothing is lost
        Bytes payload = read_payload(h);
        return decode_payload<T>(payload);
    }
}

}  // namespace mp
