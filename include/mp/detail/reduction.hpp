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
// before decoding. The Pool's shared-memory rings cannot carry fds: a task whose
// arguments hold handles keeps its own copies of their fds (TaskFds) until it is done,
// its record is marked (mark_record_fds), and the transport sends the fds beside the
// ring (see <mp/pool.hpp>, "Handles as task arguments"); the worker makes them its
// current_fd_source() while it decodes and runs the task. A forked child needs none of
// this: it inherits every fd.
//
// Which types travel (Travels<T>): every Serializable type (<mp/serialize.hpp>), every
// type with a Reduce<T> specialization (Reducible<T>), and std::tuple/std::pair/
// std::vector of them that hold a handle (holds_handles_v<T>: each element behind its
// length). encode_value/decode_value pick the right one; encode_travel_args/
// decode_travel_args do it for a task's argument tuple, encode_travel_chunk/
// decode_travel_chunk for a map chunk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
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
    /// Whether an fd named twice travels once (the Pool's tasks: one Queue in every item
    /// of a map chunk); the receiver's FdSource must then be `shared` too.
    bool share = false;
    /// Records `fd` to be sent; returns its index in the message. ValueError if fd < 0 or
    /// the message would carry more than 253.
    std::uint32_t add(int fd, const char* what);
};

/// The fds that came with a message, owned until taken (the rest are closed with it).
class FdSource {
  public:
    FdSource() = default;
    /// `shared`: the sender's FdSink shared fds, so an index may be taken more than once.
    explicit FdSource(std::vector<int> fds, bool shared = false)
        : fds_(std::move(fds)), shared_(shared) {}
    FdSource(const FdSource&) = delete;
    FdSource& operator=(const FdSource&) = delete;
    ~FdSource();
    /// The fd at `index`, now owned by the caller (a `shared` source gives a close-on-exec
    /// copy and keeps the original until it is destroyed). ValueError if the message
    /// carries no such fd (a corrupt message, or one sent without its fds).
    int take(std::uint32_t index, const char* what);
    [[nodiscard]] std::size_t size() const noexcept { return fds_.size(); }
    /// Adds `fds` (owned from now on) after those held.
    void adopt(std::vector<int> fds) { fds_.insert(fds_.end(), fds.begin(), fds.end()); }

  private:
    std::vector<int> fds_;
    bool shared_ = false;
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

/// What a type holds, as far as travelling goes: `holds` — an mp handle somewhere in it
/// (the type itself, or an element of a std::tuple/std::pair/std::vector of them);
/// `travels` — it can be written for another process at all; `first()` — the type name
/// of the first handle in it (for messages), empty if none.
template <class T>
struct HandleTraits {
    static constexpr bool holds = Reducible<T>;
    static constexpr bool travels = Reducible<T> || Serializable<T>;
    static constexpr std::string_view first() {
        if constexpr (Reducible<T>) {
            return type_name<T>();
        } else {
            return {};
        }
    }
};

template <class... A>
struct CompositeTraits {
    static constexpr bool holds = (HandleTraits<A>::holds || ...);
    static constexpr std::string_view first() {
        std::string_view found;
        ((found = found.empty() ? HandleTraits<A>::first() : found), ...);
        return found;
    }
};
template <class... A>
struct HandleTraits<std::tuple<A...>> : CompositeTraits<A...> {
    static constexpr bool travels = CompositeTraits<A...>::holds ? (HandleTraits<A>::travels && ...)
                                                                 : Serializable<std::tuple<A...>>;
};
template <class A, class B>
struct HandleTraits<std::pair<A, B>> : CompositeTraits<A, B> {
    static constexpr bool travels = CompositeTraits<A, B>::holds
                                        ? HandleTraits<A>::travels && HandleTraits<B>::travels
                                        : Serializable<std::pair<A, B>>;
};
template <class T, class Alloc>
struct HandleTraits<std::vector<T, Alloc>> : CompositeTraits<T> {
    static constexpr bool travels =
        HandleTraits<T>::holds ? HandleTraits<T>::travels : Serializable<std::vector<T, Alloc>>;
};

/// Whether a T holds an mp handle (which then travels with its fds, not as plain bytes).
template <class T>
inline constexpr bool holds_handles_v = HandleTraits<T>::holds;

template <class T>
concept Travels = HandleTraits<T>::travels;

#define MP_REQUIRE_TRAVELS(T)                                                                \
    static_assert(::mp::detail::Travels<T>,                                                  \
                  "mp: this type cannot cross a process boundary. Use an mp handle (Queue, " \
                  "Lock, Value, …), give it a cereal `template <class Archive> void "      \
                  "serialize(Archive&)` member, use standard containers, or make it an "     \
                  "aggregate of numbers, bools and fixed-type enums (no pointers)")

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
struct is_tuple_like : std::false_type {};
template <class... A>
struct is_tuple_like<std::tuple<A...>> : std::true_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};

template <class T>
void encode_value(const T& v, Bytes& out, FdSink& sink);
template <class T>
T decode_value(std::span<const std::byte> payload, FdSource& src);

/// One value behind its u64 length (the layout of task arguments and of the elements of
/// a composite that holds handles).
template <class T>
void encode_sized_value(const T& x, Bytes& out, FdSink& sink) {
    std::size_t len_at = out.size();
    out.resize(len_at + sizeof(std::uint64_t));
    encode_value(x, out, sink);
    std::uint64_t len = out.size() - len_at - sizeof(std::uint64_t);
    std::memcpy(out.data() + len_at, &len, sizeof len);
}

template <class T>
T decode_sized_value(std::span<const std::byte>& rest, FdSource& src) {
    std::uint64_t len = get_pod<std::uint64_t>(rest);
    if (len > rest.size()) throw SerializationError("truncated frame: a value with handles");
    auto payload = rest.subspan(0, static_cast<std::size_t>(len));
    rest = rest.subspan(static_cast<std::size_t>(len));
    return decode_value<T>(payload, src);
}

template <class T, std::size_t... I>
T decode_elements(std::span<const std::byte>& in, FdSource& src, std::index_sequence<I...>) {
    return T{decode_sized_value<std::tuple_element_t<I, T>>(in, src)...};  // braced: in order
}

template <class T>
void encode_value(const T& v, Bytes& out, FdSink& sink) {
    if constexpr (Reducible<T>) {
        Reduce<T>::save(v, out, sink);
    } else if constexpr (holds_handles_v<T> && is_tuple_like<T>::value) {
        // A tuple or pair holding a handle (starmap's items): each element sized.
        std::apply([&](const auto&... e) { (encode_sized_value(e, out, sink), ...); }, v);
    } else if constexpr (holds_handles_v<T>) {
        // A std::vector holding handles: the count, then each element sized.
        put_pod<std::uint64_t>(out, v.size());
        for (const auto& e : v) encode_sized_value(e, out, sink);
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
    } else if constexpr (holds_handles_v<T> && is_tuple_like<T>::value) {
        T v = decode_elements<T>(payload, src, std::make_index_sequence<std::tuple_size_v<T>>{});
        if (!payload.empty())
            throw SerializationError("corrupt frame: bytes left over after a tuple of handles");
        return v;
    } else if constexpr (holds_handles_v<T>) {
        auto n = get_pod<std::uint64_t>(payload);
        if (n > payload.size() / sizeof(std::uint64_t))
            throw SerializationError("corrupt frame: a vector of handles");
        T v;
        v.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i)
            v.push_back(decode_sized_value<typename T::value_type>(payload, src));
        if (!payload.empty())
            throw SerializationError("corrupt frame: bytes left over after a vector of handles");
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
    std::apply([&](const auto&... a) { (encode_sized_value(a, out, sink), ...); }, args);
    FrameHeader h =
        tag_header<ArgsTag<A...>>(FrameKind::cereal, out.size() - at - sizeof(FrameHeader));
    std::memcpy(out.data() + at, &h, sizeof h);
}

template <class... A>
std::tuple<A...> decode_travel_args(std::span<const std::byte> frame, FdSource& src) {
    auto rest = tag_payload<ArgsTag<A...>>(frame);
    std::tuple<A...> t{decode_sized_value<A>(rest, src)...};  // braced: left to right
    if (!rest.empty())
        throw SerializationError("corrupt frame: bytes left over after the task arguments");
    return t;
}

/// A map chunk (ChunkTag<T>, task.hpp's frame) of items that hold handles: the u64
/// count, then each item behind its u64 length. Appends `n` items from `first`.
template <class T, class It>
void encode_travel_chunk(It& first, std::size_t n, Bytes& out, FdSink& sink) {
    std::size_t at = out.size();
    out.resize(at + sizeof(FrameHeader));
    put_pod<std::uint64_t>(out, n);
    for (std::size_t i = 0; i < n; ++i, ++first) encode_sized_value<T>(*first, out, sink);
    FrameHeader h =
        tag_header<ChunkTag<T>>(FrameKind::cereal, out.size() - at - sizeof(FrameHeader));
    std::memcpy(out.data() + at, &h, sizeof h);
}

template <class T>
std::vector<T> decode_travel_chunk(std::span<const std::byte> frame, FdSource& src) {
    auto rest = tag_payload<ChunkTag<T>>(frame);
    auto n = get_pod<std::uint64_t>(rest);
    if (n > rest.size() / sizeof(std::uint64_t))
        throw SerializationError("corrupt frame: a map chunk of handles");
    std::vector<T> v;
    v.reserve(static_cast<std::size_t>(n));
    for (std::uint64_t i = 0; i < n; ++i) v.push_back(decode_sized_value<T>(rest, src));
    if (!rest.empty()) throw SerializationError("corrupt frame: bytes left over after a map chunk");
    return v;
}

/// The FdSource of the task being decoded on this thread (set by whoever runs a task
/// that came with fds; nullptr otherwise). Trampolines read it.
FdSource*& current_fd_source() noexcept;
/// current_fd_source(), or an empty source if none is set (a handle then → ValueError).
FdSource& task_fd_source() noexcept;

/// A map chunk's items, decoded from `frame` (with the current task's fds if they hold handles).
template <class T>
std::vector<T> decode_items(std::span<const std::byte> frame) {
    if constexpr (holds_handles_v<T>) {
        return decode_travel_chunk<T>(frame, task_fd_source());
    } else {
        return decode_chunk<T>(frame);
    }
}

/// The Process trampoline: target(args...) with no result (exceptions propagate).
template <class Fn, class... A>
void process_trampoline(std::span<const std::byte> callable, std::span<const std::byte> args,
                        Bytes& out) {
    (void)out;
    Fn f = decode_callable<Fn>(callable);
    std::tuple<A...> t = decode_travel_args<A...>(args, task_fd_source());
    std::apply(f, t);
}

/// The Pool's trampoline for f(args...) when an argument holds handles (apply_async,
/// submit): as apply_trampoline, the handles rebuilt from the task's fds.
template <class Fn, class R, class... A>
void travel_apply_trampoline(std::span<const std::byte> callable, std::span<const std::byte> args,
                             Bytes& out) {
    Fn f = decode_callable<Fn>(callable);
    std::tuple<A...> t = decode_travel_args<A...>(args, task_fd_source());
    call_and_encode<R>(f, t, out);
}

// ---- the handles of a Pool task ---------------------------------------------------------------

/// What a Pool task whose arguments hold handles carries beside its record: its own
/// copies of the handles' fds (dups, close-on-exec, so the task does not depend on the
/// caller keeping the handles; closed when the task is dropped — done, failed, lost,
/// cancelled or ended with its pool) and the type of its first handle, for messages.
/// A default-made TaskFds is a task without handles.
class TaskFds {
  public:
    TaskFds() = default;
    /// Dups `fds` (ValueError if one cannot be duplicated: EMFILE).
    TaskFds(std::span<const int> fds, std::string_view first_handle);
    TaskFds(TaskFds&& o) noexcept
        : fds_(std::move(o.fds_)), handle_type_(std::exchange(o.handle_type_, {})) {}
    TaskFds& operator=(TaskFds&& o) noexcept;
    TaskFds(const TaskFds&) = delete;
    TaskFds& operator=(const TaskFds&) = delete;
    ~TaskFds() { close_all(); }

    [[nodiscard]] std::span<const int> fds() const noexcept { return fds_; }
    /// The type of the first handle ("mp::Queue<int>"); empty for a task without handles.
    [[nodiscard]] std::string_view handle_type() const noexcept { return handle_type_; }
    [[nodiscard]] bool empty() const noexcept { return handle_type_.empty(); }
    /// The fds, now owned by the caller (this holds none after).
    std::vector<int> release() noexcept { return std::exchange(fds_, {}); }

  private:
    void close_all() noexcept;
    std::vector<int> fds_;
    std::string_view handle_type_;
};

/// Marks a task record (pool_core.hpp's layout) as one whose fds travel beside it: the
/// worker receives them before it decodes the task.
void mark_record_fds(Bytes& record) noexcept;

// ---- fds over a Unix socket -----------------------------------------------------------------

/// Sends one message (a u64 length, then the bytes) with `fds` attached (SCM_RIGHTS).
void send_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds);
/// Reads exactly `size` bytes from a stream socket, appending the fds that come with them
/// to `fds` (owned by the caller, close-on-exec); returns how many it read before EOF.
/// OSError if the socket fails or fds were lost (the caller still owns those that came).
std::size_t recv_exact_with_fds(int sock, void* data, std::size_t size, std::vector<int>& fds);
/// Receives one message sent by send_with_fds; its fds are appended to `fds` (owned by
/// the caller, close-on-exec). EOFError if the peer closed before a message.
Bytes recv_with_fds(int sock, std::vector<int>& fds);

}  // namespace mp::detail
