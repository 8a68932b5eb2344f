// A task as a value: what a process is asked to run, written so that any process
// running the same program can run it — a forked child, a child of the fork server,
// a spawned image, an MPI rank. Used by Process and Pool alike.
//
// A callable travels by *identity*, never as an address: a plain function as the
// position of its code in its module (hash of the module's name + offset from the
// module's load address, found with dl_iterate_phdr), a captureless lambda or other
// trivially copyable function object as its bytes. Per (callable, argument types) the
// header instantiates a *trampoline* that decodes the arguments, calls the function
// and encodes the result; the task names the trampoline by its CodeRef too. Nothing in
// a task is an absolute address, so a process that did not fork from the sender
// resolves it just as well.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "mp/errors.hpp"
#include "mp/serialize.hpp"

namespace mp::detail {

/// Where a piece of code is, independent of where its module was loaded.
struct CodeRef {
    std::uint64_t module = 0;  ///< fnv1a of the module's name ("" for the main program)
    std::uint64_t offset = 0;  ///< address minus the module's load address
};
static_assert(std::is_trivially_copyable_v<CodeRef> && sizeof(CodeRef) == 16);

/// The CodeRef of an address in a loaded module; ValueError if none holds it.
CodeRef code_ref(const void* address);
/// The address a CodeRef names in this process; nullptr if its module is not loaded.
const void* resolve_code(const CodeRef& ref);
/// Lists the loaded modules now, in a process that forks task runners (the fork server,
/// a Pool's zygote): each child then resolves its code without listing them again.
void preload_code_map();

/// What a worker calls: decodes the function object and the arguments, runs the
/// task and appends the result's frame to `out`.
using Trampoline = void (*)(std::span<const std::byte> callable, std::span<const std::byte> args,
                            Bytes& out);

template <class F>
concept PoolFunctionPointer = std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;

/// What a Pool can send: a plain function or a trivially copyable function object.
template <class F>
concept PoolCallable = PoolFunctionPointer<F> ||
    (std::is_class_v<F>&& std::is_trivially_copyable_v<F>);

#define MP_REQUIRE_POOL_CALLABLE(F)                                                                \
    static_assert(::mp::detail::PoolCallable<F>,                                                   \
                  "mp::Pool: a task must be a function, a captureless lambda or a trivially "      \
                  "copyable function object; it is sent to the workers by identity, not by "       \
                  "value. A lambda capturing a std::string/std::vector/…, a std::function or a " \
                  "std::bind result cannot cross a process boundary: pass that data as task "      \
                  "arguments instead.")

template <class F>
void encode_callable(const F& f, Bytes& out) {
    if constexpr (PoolFunctionPointer<F>) {
        CodeRef ref = code_ref(reinterpret_cast<const void*>(f));
        auto p = reinterpret_cast<const std::byte*>(&ref);
        out.insert(out.end(), p, p + sizeof ref);
    } else {
        auto p = reinterpret_cast<const std::byte*>(std::addressof(f));
        out.insert(out.end(), p, p + sizeof(F));
    }
}

template <class F>
F decode_callable(std::span<const std::byte> bytes) {
    if constexpr (PoolFunctionPointer<F>) {
        CodeRef ref;
        if (bytes.size() != sizeof ref)
            throw SerializationError("corrupt Pool task: bad function reference");
        std::memcpy(&ref, bytes.data(), sizeof ref);
        const void* p = resolve_code(ref);
        if (p == nullptr) throw Error("mp::Pool: the task's function is not loaded in this worker");
        return reinterpret_cast<F>(const_cast<void*>(p));
    } else {
        if (bytes.size() != sizeof(F))
            throw SerializationError("corrupt Pool task: bad function object");
        // F is trivially copyable, hence an implicit-lifetime type: memcpy creates it.
        alignas(F) std::byte storage[sizeof(F)];
        std::memcpy(storage, bytes.data(), sizeof(F));
        return *std::launder(reinterpret_cast<F*>(storage));
    }
}

/// void results travel as std::monostate.
template <class R>
using stored_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

// ---- how task arguments and map chunks are encoded -----------------------------------------
//
// A task's arguments are one frame whose type is ArgsTag<A...>: each argument's payload
// (<mp/serialize.hpp>'s encode_payload) behind its u64 length. A map chunk (items or
// results) is one frame whose type is ChunkTag<T>: a u64 count, then the items — their
// bytes back to back for trivially copyable T, one cereal archive otherwise. Both keep
// the fingerprint check of every frame and need no std::tuple/std::vector of the type
// to be serializable (a trivially copyable struct works as an argument or an item).

template <class... A>
struct ArgsTag {};
template <class T>
struct ChunkTag {};

template <class Tag>
FrameHeader tag_header(FrameKind kind, std::size_t payload) {
    (void)type_registered<Tag>;
    return FrameHeader{FrameHeader::kMagic, kind, type_fingerprint<Tag>, payload};
}

/// The payload of a frame of type Tag; SerializationError if it holds anything else.
template <class Tag>
std::span<const std::byte> tag_payload(std::span<const std::byte> frame) {
    FrameHeader h = read_header(frame);
    if (h.fingerprint != type_fingerprint<Tag>) {
        throw SerializationError("type mismatch: the frame holds " +
                                 describe_fingerprint(h.fingerprint) + " but " +
                                 readable_type_name(type_name<Tag>()) + " was expected");
    }
    auto payload = frame.subspan(sizeof(FrameHeader));
    if (payload.size() != h.size)
        throw SerializationError("truncated frame: " + readable_type_name(type_name<Tag>()));
    return payload;
}

template <class... A>
void encode_args(const std::tuple<A...>& args, Bytes& out) {
    std::size_t at = out.size();
    out.resize(at + sizeof(FrameHeader));
    std::apply(
        [&out](const auto&... a) {
            auto one = [&out](const auto& x) {
                std::size_t len_at = out.size();
                out.resize(len_at + sizeof(std::uint64_t));
                encode_payload(x, out);
                std::uint64_t len = out.size() - len_at - sizeof(std::uint64_t);
                std::memcpy(out.data() + len_at, &len, sizeof len);
            };
            (one(a), ...);
            (void)one;  // no arguments
        },
        args);
    FrameHeader h =
        tag_header<ArgsTag<A...>>(FrameKind::cereal, out.size() - at - sizeof(FrameHeader));
    std::memcpy(out.data() + at, &h, sizeof h);
}

template <class T>
T decode_next_arg(std::span<const std::byte>& rest) {
    std::uint64_t len = 0;
    if (rest.size() < sizeof len) throw SerializationError("truncated frame: task arguments");
    std::memcpy(&len, rest.data(), sizeof len);
    rest = rest.subspan(sizeof len);
    if (len > rest.size()) throw SerializationError("truncated frame: task arguments");
    auto payload = rest.subspan(0, static_cast<std::size_t>(len));
    rest = rest.subspan(static_cast<std::size_t>(len));
    return decode_payload<T>(payload);
}

template <class... A>
std::tuple<A...> decode_args(std::span<const std::byte> frame) {
    auto rest = tag_payload<ArgsTag<A...>>(frame);
    std::tuple<A...> t{decode_next_arg<A>(rest)...};  // braced: decoded left to right
    if (!rest.empty())
        throw SerializationError("corrupt frame: bytes left over after the task arguments");
    return t;
}

/// Opens a ChunkTag frame of `n` items at the end of `out`; returns where it starts (for
/// end_chunk, once the items are appended).
inline std::size_t begin_chunk(std::size_t n, Bytes& out) {
    std::size_t at = out.size();
    out.resize(at + sizeof(FrameHeader) + sizeof(std::uint64_t));
    std::uint64_t count = n;
    std::memcpy(out.data() + at + sizeof(FrameHeader), &count, sizeof count);
    return at;
}

/// Closes the ChunkTag<T> frame begun at `at`: its header, now that its size is known.
template <class T>
void end_chunk(std::size_t at, Bytes& out) {
    FrameHeader h =
        tag_header<ChunkTag<T>>(BytesSerializable<T> ? FrameKind::bytes : FrameKind::cereal,
                                out.size() - at - sizeof(FrameHeader));
    std::memcpy(out.data() + at, &h, sizeof h);
}

/// Appends a ChunkTag<T> frame of the `n` items from `first` (which it advances).
template <class T, class It>
void encode_chunk(It& first, std::size_t n, Bytes& out) {
    std::size_t at = begin_chunk(n, out);
    if constexpr (BytesSerializable<T>) {
        if constexpr (std::contiguous_iterator<It> && std::is_same_v<std::iter_value_t<It>, T>) {
            auto p = reinterpret_cast<const std::byte*>(std::to_address(first));
            out.insert(out.end(), p, p + n * sizeof(T));
            first += static_cast<std::iter_difference_t<It>>(n);
        } else {
            std::size_t pos = out.size();
            out.resize(pos + n * sizeof(T));
            for (std::size_t i = 0; i < n; ++i, ++first) {
                T x = *first;
                std::memcpy(out.data() + pos + i * sizeof(T), &x, sizeof(T));
            }
        }
    } else {
        OutputArchive ar(out);
        for (std::size_t i = 0; i < n; ++i, ++first) ar(static_cast<const T&>(*first));
    }
    end_chunk<T>(at, out);
}

/// The items of a ChunkTag<T> frame of bytes-serializable T, checked but not copied: their
/// bytes, unaligned (read item `i` with `bytes_chunk_item`).
template <class T>
requires BytesSerializable<T> std::span<const std::byte> bytes_chunk_items(
    std::span<const std::byte> frame, std::size_t& count) {
    static_assert(std::default_initializable<T>,
                  "mp::Pool: map items and results must be default-constructible");
    auto payload = tag_payload<ChunkTag<T>>(frame);
    std::uint64_t n = 0;
    if (payload.size() < sizeof n) throw SerializationError("truncated frame: a map chunk");
    std::memcpy(&n, payload.data(), sizeof n);
    payload = payload.subspan(sizeof n);
    if (n > payload.size() / sizeof(T) || payload.size() != n * sizeof(T)) {
        throw SerializationError("corrupt frame: a map chunk of " + std::to_string(n) +
                                 " items has " + std::to_string(payload.size()) + " bytes");
    }
    count = static_cast<std::size_t>(n);
    return payload;
}

/// Refuses a bytes-serializable value whose bits are no value of T (a bool byte of 5: see
/// bit_validity.hpp).
template <class T>
void check_chunk_item(const T& x) {
    if (!bits_are_valid(x))
        throw SerializationError("corrupt frame: a map chunk holds an invalid value of " +
                                 readable_type_name(type_name<T>()));
}

/// Copies the `count` items of a checked bytes chunk to `dst`, refusing invalid values.
template <class T>
void copy_chunk_items(std::span<const std::byte> items, std::size_t count, T* dst) {
    if (count != 0) std::memcpy(static_cast<void*>(dst), items.data(), count * sizeof(T));
    for (std::size_t i = 0; i < count; ++i) check_chunk_item(dst[i]);
}

template <class T>
std::vector<T> decode_chunk(std::span<const std::byte> frame) {
    std::vector<T> v;
    if constexpr (BytesSerializable<T>) {
        std::size_t count = 0;
        auto items = bytes_chunk_items<T>(frame, count);
        v.resize(count);
        copy_chunk_items(items, count, v.data());
    } else {
        auto payload = tag_payload<ChunkTag<T>>(frame);
        std::uint64_t count = 0;
        if (payload.size() < sizeof count) throw SerializationError("truncated frame: a map chunk");
        std::memcpy(&count, payload.data(), sizeof count);
        payload = payload.subspan(sizeof count);
        InputArchive ar(payload);
        try {
            v.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(count, payload.size())));
            for (std::uint64_t i = 0; i < count; ++i) {
                T x{};
                ar(x);
                v.push_back(std::move(x));
            }
        } catch (const SerializationError&) {
            throw;
        } catch (const std::exception& e) {
            throw SerializationError(std::string("corrupt frame: a map chunk: ") + e.what());
        }
        if (ar.remaining() != 0)
            throw SerializationError("corrupt frame: bytes left over after a map chunk");
    }
    return v;
}

/// f(args of t...), its result appended to `out` as a frame (void: std::monostate).
template <class R, class Fn, class Tuple>
void call_and_encode(Fn& f, Tuple& t, Bytes& out) {
    if constexpr (std::is_void_v<R>) {
        std::apply(f, t);
        encode_frame(std::monostate{}, out);
    } else {
        encode_frame(static_cast<R>(std::apply(f, t)), out);
    }
}

template <class Fn, class R, class... A>
void apply_trampoline(std::span<const std::byte> callable, std::span<const std::byte> args,
                      Bytes& out) {
    Fn f = decode_callable<Fn>(callable);
    std::tuple<A...> t = decode_args<A...>(args);
    call_and_encode<R>(f, t, out);
}

template <class Fn, class R, class Arg, bool Star>
void chunk_trampoline(std::span<const std::byte> callable, std::span<const std::byte> args,
                      Bytes& out) {
    Fn f = decode_callable<Fn>(callable);
    std::vector<Arg> items = decode_chunk<Arg>(args);
    std::vector<R> results;
    results.reserve(items.size());
    for (auto&& item : items) {
        if constexpr (Star) {
            results.push_back(static_cast<R>(std::apply(f, item)));
        } else {
            results.push_back(static_cast<R>(std::invoke(f, item)));
        }
    }
    auto it = results.begin();
    encode_chunk<R>(it, results.size(), out);
}

/// The CodeRef of a trampoline, computed once per instantiation.
template <Trampoline T>
const CodeRef& trampoline_ref() {
    static const CodeRef ref = code_ref(reinterpret_cast<const void*>(T));
    return ref;
}

}  // namespace mp::detail
