// mp/serialize.hpp — how values cross a process boundary.
//
// Python pickles; mp encodes each value into a *frame*: a 24-byte header (magic,
// encoding, a fingerprint of the C++ type, payload length) and the payload.
//
//     std::vector<std::byte> f = mp::serialize(std::map<std::string, int>{{"a", 1}});
//     auto m = mp::deserialize<std::map<std::string, int>>(f);
//
// Which types can cross (mp::Serializable):
//   * trivially copyable types (int, double, structs of them, std::array<int, 4>)
//     travel as their bytes — no pointers, std::string_view or std::span, whose
//     bytes mean nothing in another process;
//   * everything else through cereal's binary format: std::string, the standard
//     containers, pair/tuple/optional/variant, smart pointers, and user types with
//     a `serialize(Archive&)` member or free function (see cereal's docs).
// Anything else is a compile error that says so.
//
// Safety: decoding checks the fingerprint (another type → SerializationError
// naming both types), the lengths (a truncated frame, trailing bytes, a sequence
// longer than the bytes left → SerializationError) and never allocates more than a
// small multiple of the bytes actually received. Limitation: a sequence of
// elements that encode to zero bytes (e.g. std::vector<std::monostate>) cannot be
// longer than the bytes that follow it.
//
// Thread safety: all functions here are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <cereal/cereal.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/bitset.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/memory.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include "mp/errors.hpp"

namespace mp {

/// A contiguous run of bytes: what frames are made of.
using Bytes = std::vector<std::byte>;

namespace detail {

// ---- type names and fingerprints -------------------------------------------------------

template <class T>
constexpr auto pretty_function() {
    return std::string_view(__PRETTY_FUNCTION__);
}

/// The compiler's spelling of T, e.g. "std::vector<int>" (computed at compile time).
template <class T>
constexpr std::string_view type_name() {
    std::string_view p = pretty_function<T>();  // "... [with T = X]" (gcc) or "... [T = X]" (clang)
    auto start = p.find("T = ") + 4;
    auto end = p.rfind(']');
    return p.substr(start, end - start);
}

constexpr std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 14695981039346656037ull;
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return h;
}

/// A fingerprint of T: the same in every process running a binary built by the same compiler.
template <class T>
inline constexpr std::uint64_t type_fingerprint = fnv1a(type_name<T>());

/// Remembers fingerprint → name so an error can name the type that was sent.
bool register_type_name(std::uint64_t fingerprint, std::string_view name) noexcept;
/// A readable name for a fingerprint, e.g. "std::string" or "an unknown type (0x…)".
std::string describe_fingerprint(std::uint64_t fingerprint);

template <class T>
inline const bool type_registered = register_type_name(type_fingerprint<T>, type_name<T>());

template <class T>
struct is_view : std::false_type {};
template <class C, class Tr>
struct is_view<std::basic_string_view<C, Tr>> : std::true_type {};
template <class E, std::size_t N>
struct is_view<std::span<E, N>> : std::true_type {};

// ---- cereal archives over a byte vector / a checked byte span ---------------------------

class OutputArchive : public cereal::OutputArchive<OutputArchive, cereal::AllowEmptyClassElision> {
  public:
    explicit OutputArchive(Bytes& out)
        : cereal::OutputArchive<OutputArchive, cereal::AllowEmptyClassElision>(this), out_(&out) {}
    void saveBinary(const void* data, std::size_t size) {
        auto p = static_cast<const std::byte*>(data);
        out_->insert(out_->end(), p, p + size);
    }

  private:
    Bytes* out_;
};

class InputArchive : public cereal::InputArchive<InputArchive, cereal::AllowEmptyClassElision> {
  public:
    explicit InputArchive(std::span<const std::byte> in)
        : cereal::InputArchive<InputArchive, cereal::AllowEmptyClassElision>(this), in_(in) {}
    void loadBinary(void* data, std::size_t size);
    /// Rejects a sequence length that the remaining bytes cannot hold.
    void check_length(std::uint64_t n) const;
    [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }

  private:
    std::span<const std::byte> in_;
    std::size_t pos_ = 0;
};

template <class T>
requires std::is_arithmetic_v<T>
void CEREAL_SAVE_FUNCTION_NAME(OutputArchive& ar, const T& t) {
    ar.saveBinary(std::addressof(t), sizeof(t));
}
template <class T>
requires std::is_arithmetic_v<T>
void CEREAL_LOAD_FUNCTION_NAME(InputArchive& ar, T& t) {
    if constexpr (std::is_same_v<T, bool>) {
        unsigned char c = 0;
        ar.loadBinary(&c, 1);
        if (c > 1)
            throw SerializationError("corrupt frame: a bool holds the byte " + std::to_string(c));
        t = c != 0;
    } else {
        ar.loadBinary(std::addressof(t), sizeof(t));
    }
}
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(OutputArchive& ar, cereal::NameValuePair<T>& t) {
    ar(t.value);
}
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(InputArchive& ar, cereal::NameValuePair<T>& t) {
    ar(t.value);
}
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(OutputArchive& ar, cereal::SizeTag<T>& t) {
    ar(t.size);
}
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(InputArchive& ar, cereal::SizeTag<T>& t) {
    ar(t.size);
    ar.check_length(static_cast<std::uint64_t>(t.size));
}
template <class T>
void CEREAL_SAVE_FUNCTION_NAME(OutputArchive& ar, const cereal::BinaryData<T>& bd) {
    ar.saveBinary(bd.data, static_cast<std::size_t>(bd.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(InputArchive& ar, cereal::BinaryData<T>& bd) {
    ar.loadBinary(bd.data, static_cast<std::size_t>(bd.size));
}

}  // namespace detail
}  // namespace mp

CEREAL_REGISTER_ARCHIVE(mp::detail::OutputArchive)
CEREAL_REGISTER_ARCHIVE(mp::detail::InputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(mp::detail::InputArchive, mp::detail::OutputArchive)

namespace mp {

/// Travels as its bytes: trivially copyable and not a pointer or a view.
template <class T>
concept BytesSerializable =
    std::is_object_v<T> && std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
    !std::is_member_pointer_v<T> && !detail::is_view<std::remove_cv_t<T>>::value;

/// Travels through cereal: a standard type or a user type with serialize/save/load.
template <class T>
concept CerealSerializable =
    std::is_object_v<T> && !std::is_trivially_copyable_v<T> && std::default_initializable<T> &&
    cereal::traits::is_output_serializable<T, detail::OutputArchive>::value &&
    cereal::traits::is_input_serializable<T, detail::InputArchive>::value;

/// A type that can be sent through a Connection, a Queue or a Pool.
template <class T>
concept Serializable = BytesSerializable<T> || CerealSerializable<T>;

#define MP_REQUIRE_SERIALIZABLE(T)                                                             \
    static_assert(::mp::Serializable<T>,                                                       \
                  "mp: this type cannot cross a process boundary. Make it trivially copyable " \
                  "(no pointers), use standard containers, or give it a cereal "               \
                  "`template <class Archive> void serialize(Archive&)` member.")

/// How a frame's payload is encoded.
enum class FrameKind : std::uint32_t {
    raw = 1,     ///< send_bytes: the payload is the caller's bytes
    bytes = 2,   ///< a trivially copyable value's object representation
    cereal = 3,  ///< cereal binary archive
};

/// The header in front of every frame. `size` is the payload's length.
struct FrameHeader {
    static constexpr std::uint32_t kMagic = 0x3146504d;  // "MPF1"
    std::uint32_t magic = kMagic;
    FrameKind kind = FrameKind::raw;
    std::uint64_t fingerprint = 0;
    std::uint64_t size = 0;
};
static_assert(sizeof(FrameHeader) == 24 && std::is_trivially_copyable_v<FrameHeader>,
              "FrameHeader is read and written as 24 raw bytes");

/// The largest payload a frame may announce (1 TiB): a larger length is corruption.
inline constexpr std::uint64_t kMaxFrameSize = std::uint64_t{1} << 40;

/// Throws SerializationError if `h` is not a well-formed header.
void validate_header(const FrameHeader& h);

/// The header a frame of T with `payload_size` bytes of payload carries.
template <Serializable T>
FrameHeader header_for(std::uint64_t payload_size) {
    (void)detail::type_registered<T>;
    return FrameHeader{FrameHeader::kMagic,
                       BytesSerializable<T> ? FrameKind::bytes : FrameKind::cereal,
                       detail::type_fingerprint<T>, payload_size};
}

/// Throws SerializationError if a frame with header `h` does not hold a T.
template <Serializable T>
void expect_type(const FrameHeader& h) {
    validate_header(h);
    if (h.kind == FrameKind::raw) {
        throw SerializationError("frame holds raw bytes (sent with send_bytes) but " +
                                 detail::readable_type_name(detail::type_name<T>()) +
                                 " was expected; receive it with recv_bytes()");
    }
    if (h.fingerprint != detail::type_fingerprint<T>) {
        throw SerializationError(
            "type mismatch: the frame holds " + detail::describe_fingerprint(h.fingerprint) +
            " but " + detail::readable_type_name(detail::type_name<T>()) + " was expected");
    }
    if (BytesSerializable<T> && h.size != sizeof(T)) {
        throw SerializationError("corrupt frame: " + std::to_string(h.size) + " bytes for " +
                                 detail::readable_type_name(detail::type_name<T>()) + " of " +
                                 std::to_string(sizeof(T)) + " bytes");
    }
}

/// Appends the payload encoding `value` to `out` (no header).
template <Serializable T>
void encode_payload(const T& value, Bytes& out) {
    if constexpr (BytesSerializable<T>) {
        auto p = reinterpret_cast<const std::byte*>(std::addressof(value));
        out.insert(out.end(), p, p + sizeof(T));
    } else {
        detail::OutputArchive ar(out);
        ar(value);
    }
}

/// Decodes a payload whose header `expect_type<T>` accepted.
template <Serializable T>
T decode_payload(std::span<const std::byte> payload) {
    if constexpr (BytesSerializable<T>) {
        if (payload.size() != sizeof(T)) {
            throw SerializationError("truncated frame: " + std::to_string(payload.size()) + " of " +
                                     std::to_string(sizeof(T)) + " bytes");
        }
        alignas(T) std::byte storage[sizeof(T)];
        std::memcpy(storage, payload.data(), sizeof(T));
        return *std::launder(reinterpret_cast<T*>(storage));
    } else {
        T value{};
        detail::InputArchive ar(payload);
        try {
            ar(value);
        } catch (const SerializationError&) {
            throw;
        } catch (const std::exception& e) {  // cereal::Exception, length_error, bad_alloc
            throw SerializationError("corrupt frame for " +
                                     detail::readable_type_name(detail::type_name<T>()) + ": " +
                                     e.what());
        }
        if (ar.remaining() != 0) {
            throw SerializationError("corrupt frame: " + std::to_string(ar.remaining()) +
                                     " bytes left over after decoding " +
                                     detail::readable_type_name(detail::type_name<T>()));
        }
        return value;
    }
}

/// Appends a whole frame (header and payload) for `value` to `out`.
template <class T>
void encode_frame(const T& value, Bytes& out) {
    MP_REQUIRE_SERIALIZABLE(T);
    std::size_t at = out.size();
    out.resize(at + sizeof(FrameHeader));
    encode_payload(value, out);
    FrameHeader h = header_for<T>(out.size() - at - sizeof(FrameHeader));
    std::memcpy(out.data() + at, &h, sizeof h);
}

/// A whole frame for `value`: what a Connection or a Queue carries.
template <class T>
Bytes serialize(const T& value) {
    Bytes out;
    encode_frame(value, out);
    return out;
}

/// Reads the header at the front of `frame`; SerializationError if it is short or malformed.
FrameHeader read_header(std::span<const std::byte> frame);

/// Decodes a whole frame made by serialize<T>; SerializationError on any mismatch.
template <class T>
T deserialize(std::span<const std::byte> frame) {
    MP_REQUIRE_SERIALIZABLE(T);
    FrameHeader h = read_header(frame);
    expect_type<T>(h);
    auto payload = frame.subspan(sizeof(FrameHeader));
    if (payload.size() != h.size) {
        throw SerializationError("truncated frame: the header announces " + std::to_string(h.size) +
                                 " bytes, " + std::to_string(payload.size()) + " are present");
    }
    return decode_payload<T>(payload);
}

}  // namespace mp
