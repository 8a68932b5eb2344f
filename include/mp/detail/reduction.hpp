// mp/detail/reduction.hpp — how a handle travels to another process (Python's
// multiprocessing.reduction: __reduce__, DupFd, rebuild_*).
//
// A handle (Connection, Queue, Lock, Value, SharedMemory, …) names shared state that
// lives in the kernel: a socket, a memfd holding a shared region. It travels as two
// parts: *bytes* (sizes, flags, the index of each fd) and *fds*. The sender writes the
// bytes and collects the fds in an FdSink — the fds are borrowed, they must stay open
// until the message is sent; the receiver rebuilds the handle from the bytes and an
// FdSource holding the fds that came with them (owned: each one taken is adopted by
// the handle being rebuilt; those never taken are closed with the source).
//
//     Bytes b; FdSink sink;
//     Reduce<Lock>::save(lock, b, sink);            // sender
//     ... carry b, and sink.fds via SCM_RIGHTS ...
//     FdSource src(received_fds);
//     std::span<const std::byte> in = b;
//     Lock again = Reduce<Lock>::load(in, src);     // receiver: the same lock
//
// How a transport must carry them: the bytes go in its message as usual; the fds go
// with SCM_RIGHTS on the same Unix socket (send_with_fds/recv_with_fds below, or
// Connection's sendmsg path), in sink order; the receiver builds an FdSource from them
// before decoding. A transport over shared memory (the Pool's rings) cannot carry fds:
// it must send them beside the ring on a Unix socket to the worker (one SCM_RIGHTS
// message per task that has any, sink.fds non-empty) and give the worker's decoder an
// FdSource with them — until it does, a Pool task argument that is a handle is refused.
// A forked child needs none of this: it inherits every fd.
//
// Which types travel (Travels<T>): every Serializable type (<mp/serialize.hpp>) and every
// type with a Reduce<T> specialization (Reducible<T>). encode_value/decode_value pick the
// right one; encode_travel_args/decode_travel_args do it for a task's argument tuple.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/detail/task.hpp"
#include "mp/errors.hpp"
#include "mp/serialize.hpp"

namespace mp::detail {

/// The fds a message must carry beside its bytes. Borrowed: not closed here.
struct FdSink {
    std::vector<int> fds;
    /// Records `fd` to be sent; returns its index in the message. ValueError if fd < 0.
    std::uint32_t add(int fd, const char* what);
};

/// The fds that came with a message, owned until taken.
class FdSource {
  public:
    FdSource() = default;
    explicit FdSource(std::vector<int> fds) : fds_(std::move(fds)) {}
    FdSource(const FdSource&) = delete;
    FdSource& operator=(const FdSource&) = delete;
    ~FdSource();
    /// The fd at `index`, now owned by the caller. ValueError if the message carries no
    /// such fd (a corrupt message, or one sent without its fds).
    int take(std::uint32_t index, const char* what);
    [[nodiscard]] std::size_t size() const noexcept { return fds_.size(); }
    /// Adds `fds` (owned from now on) after those held.
    void adopt(std::vector<int> fds) { fds_.insert(fds_.end(), fds.begin(), fds.end()); }

  private:
    std::vector<int> fds_;
};

/// Specialized for each handle type: static void save(const T&, Bytes&, FdSink&) and
/// static T load(std::span<const std::byte>& in, FdSource&) (consumes what save wrote).
template <class T>
struct Reduce;

template <class T>
concept Reducible = requires(const T& t, Bytes& b, FdSink& sink, std::span<const std::byte>& in,
                             FdSource& src) {
    Reduce<T>::save(t, b, sink);
    { Reduce<T>::load(in, src) } -> std::same_as<T>;
};

template <class T>
concept Travels = Reducible<T> || Serializable<T>;

// ---- plain fields inside a handle's bytes --------------------------------------------------

template <class T>
requires std::is_trivially_copyable_v<T>
void put_pod(Bytes& out, const T& v) {
    auto p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof v);
}

template <class T>
requires std::is_trivially_copyable_v<T> T get_pod(std::span<const std::byte>& in) {
    if (in.size() < sizeof(T)) throw SerializationError("truncated frame: a handle");
    T v;
    std::memcpy(&v, in.data(), sizeof v);
    in = in.subspan(sizeof v);
    return v;
}

// ---- values and argument tuples -------------------------------------------------------------

template <class T>
void encode_value(const T& v, Bytes& out, FdSink& sink) {
    if constexpr (Reducible<T>) {
        Reduce<T>::save(v, out, sink);
    } else {
        MP_REQUIRE_SERIALIZABLE(T);
        encode_payload(v, out);
    }
}

template <class T>
T decode_value(std::span<const std::byte> payload, FdSource& src) {
    if constexpr (Reducible<T>) {
        T v = Reduce<T>::load(payload, src);
        if (!payload.empty())
            throw SerializationError("corrupt frame: bytes left over after a handle");
        return v;
    } else {
        return decode_payload<T>(payload);
    }
}

/// Each argument behind its u64 length, in one ArgsTag<A...> frame (task.hpp's layout).
template <class... A>
void encode_travel_args(const std::tuple<A...>& args, Bytes& out, FdSink& sink) {
    std::size_t at = out.size();
    out.resize(at + sizeof(FrameHeader));
    std::apply(
        [&](const auto&... a) {
            auto one = [&](const auto& x) {
                std::size_t len_at = out.size();
                out.resize(len_at + sizeof(std::uint64_t));
                encode_value(x, out, sink);
                std::uint64_t len = out.size() - len_at - sizeof(std::uint64_t);
                std::memcpy(out.data() + len_at, &len, sizeof len);
            };
            (one(a), ...);
            (void)one;
        },
        args);
    FrameHeader h =
        tag_header<ArgsTag<A...>>(FrameKind::cereal, out.size() - at - sizeof(FrameHeader));
    std::memcpy(out.data() + at, &h, sizeof h);
}

template <class T>
T decode_next_travel_arg(std::span<const std::byte>& rest, FdSource& src) {
    std::uint64_t len = get_pod<std::uint64_t>(rest);
    if (len > rest.size()) throw SerializationError("truncated frame: task arguments");
    auto payload = rest.subspan(0, static_cast<std::size_t>(len));
    rest = rest.subspan(static_cast<std::size_t>(len));
    return decode_value<T>(payload, src);
}

template <class... A>
std::tuple<A...> decode_travel_args(std::span<const std::byte> frame, FdSource& src) {
    auto rest = tag_payload<ArgsTag<A...>>(frame);
    std::tuple<A...> t{decode_next_travel_arg<A>(rest, src)...};  // braced: left to right
    if (!rest.empty())
        throw SerializationError("corrupt frame: bytes left over after the task arguments");
    return t;
}

/// The FdSource of the task being decoded on this thread (set by whoever runs a task
/// that came with fds; nullptr otherwise). Trampolines read it.
FdSource*& current_fd_source() noexcept;

/// The Process trampoline: target(args...) with no result (exceptions propagate).
template <class Fn, class... A>
void process_trampoline(std::span<const std::byte> callable, std::span<const std::byte> args,
                        Bytes& out) {
    (void)out;
    Fn f = decode_callable<Fn>(callable);
    FdSource none;
    FdSource* src = current_fd_source();
    std::tuple<A...> t = decode_travel_args<A...>(args, src != nullptr ? *src : none);
    std::apply(f, t);
}

// ---- fds over a Unix socket -----------------------------------------------------------------

/// Sends one message (a u64 length, then the bytes) with `fds` attached (SCM_RIGHTS).
void send_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds);
/// Receives one message sent by send_with_fds; its fds are appended to `fds` (owned by
/// the caller, close-on-exec). EOFError if the peer closed before a message.
Bytes recv_with_fds(int sock, std::vector<int>& fds);

}  // namespace mp::detail
