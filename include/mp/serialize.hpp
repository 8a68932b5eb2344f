// mp/serialize.hpp — how values cross a process boundary.
//
// Python pickles; mp encodes each value into a *frame*: a 24-byte header (magic,
// encoding, a fingerprint of the C++ type, payload length) and the payload.
//
//     std::vector<std::byte> f = mp::serialize(std::map<std::string, int>{{"a", 1}});
//     auto m = mp::deserialize<std::map<std::string, int>>(f);
//
// Which types can cross (mp::Serializable):
//   * trivially copyable types whose every byte pattern mp can see is a valid value, or
//     can check (int, double, enums with a fixed underlying type, bool — checked —, and
//     arrays and aggregates of these, e.g. struct Point { int x; double y; bool on; })
//     travel as their bytes (see <mp/detail/bit_validity.hpp> for the exact rule and for
//     mp::every_bit_pattern_valid<T>, with which you vouch for a type yourself);
//   * everything else through cereal's binary format: std::string, the standard
//     containers, pair/tuple/optional/variant, smart pointers, and user types with
//     a `serialize(Archive&)` member or free function (see cereal's docs) — also a
//     trivially copyable class mp cannot see into (private members, a pointer, a union).
// Anything else is a compile error that says so. No pointer, std::string_view or
// std::span travels: their bytes mean nothing in another process.
//
// Safety — a frame may be corrupt or hostile; decoding never has undefined behaviour:
//   * the fingerprint is checked (another type → SerializationError naming both types),
//     and the lengths (a truncated frame, trailing bytes → SerializationError);
//   * every decoded value is a valid value of its type: a bool byte that is not 0 or 1,
//     a variant index out of range → SerializationError;
//   * nesting deeper than kMaxDecodeDepth (1000) values → SerializationError (a recursive
//     type such as struct Tree { int v; std::vector<Tree> kids; } cannot overflow the stack);
//   * allocation is bounded by the bytes received: a sequence announcing more elements
//     than the bytes left can hold at their minimum encoded size is refused before any
//     allocation; vectors, deques and lists grow as elements actually decode; and the
//     element storage of containers, map entries and pointees is charged against a budget
//     of 64 × the payload + 1 MiB (beyond it → SerializationError).
//   Limitation: a std::set/multiset element that encodes to fewer bytes than its size is
//   not charged (a multiset of empty-encoding structs may allocate sizeof(key) per byte).
//
// Thread safety: all functions here are reentrant.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <variant>
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

#include "mp/detail/bit_validity.hpp"
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

/// How deep values may nest in one frame (each value a cereal archive visits counts).
inline constexpr std::size_t kMaxDecodeDepth = 1000;

class InputArchive : public cereal::InputArchive<InputArchive, cereal::AllowEmptyClassElision> {
  public:
    explicit InputArchive(std::span<const std::byte> in)
        : cereal::InputArchive<InputArchive, cereal::AllowEmptyClassElision>(this),
          in_(in),
          budget_(64 * in.size() + (std::size_t{1} << 20)) {}
    void loadBinary(void* data, std::size_t size);
    /// Rejects a sequence length that the remaining bytes cannot hold.
    void check_length(std::uint64_t n) const;
    /// Rejects `n` elements of at least `min_size` encoded bytes each that do not fit.
    void check_elements(std::uint64_t n, std::size_t min_size) const;
    [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }
    /// Counts `bytes` of decoded element storage against the budget.
    void charge(std::size_t bytes);
    /// How many more bytes of element storage the budget allows.
    [[nodiscard]] std::size_t budget_left() const noexcept { return budget_ - spent_; }
    /// One level deeper / back (cereal's prologue and epilogue call these).
    void enter();
    void leave() noexcept { --depth_; }

  private:
    std::span<const std::byte> in_;
    std::size_t pos_ = 0;
    std::size_t depth_ = 0;
    std::size_t budget_;
    std::size_t spent_ = 0;
};

/// The fewest bytes a T can encode to in our cereal archive (0 when not known).
template <class T>
struct min_encoded : std::integral_constant<std::size_t, 0> {};
template <class T>
requires std::is_arithmetic_v<T>
struct min_encoded<T> : std::integral_constant<std::size_t, sizeof(T)> {
};
template <class T>
requires std::is_enum_v<T>
struct min_encoded<T> : std::integral_constant<std::size_t, sizeof(T)> {
};
template <class C, class Tr, class A>
struct min_encoded<std::basic_string<C, Tr, A>> : std::integral_constant<std::size_t, 8> {};
template <class T, class A>
struct min_encoded<std::vector<T, A>> : std::integral_constant<std::size_t, 8> {};
template <class T, class A>
struct min_encoded<std::deque<T, A>> : std::integral_constant<std::size_t, 8> {};
template <class T, class A>
struct min_encoded<std::list<T, A>> : std::integral_constant<std::size_t, 8> {};
template <class K, class V, class C, class A>
struct min_encoded<std::map<K, V, C, A>> : std::integral_constant<std::size_t, 8> {};
template <class K, class C, class A>
struct min_encoded<std::set<K, C, A>> : std::integral_constant<std::size_t, 8> {};
template <class T>
struct min_encoded<std::optional<T>> : std::integral_constant<std::size_t, 1> {};
template <class T, class D>
struct min_encoded<std::unique_ptr<T, D>> : std::integral_constant<std::size_t, 1> {};
template <class T>
struct min_encoded<std::shared_ptr<T>> : std::integral_constant<std::size_t, 4> {};
template <class T, std::size_t N>
struct min_encoded<std::array<T, N>>
    : std::integral_constant<std::size_t, N * min_encoded<T>::value> {};
template <class A, class B>
struct min_encoded<std::pair<A, B>>
    : std::integral_constant<std::size_t, min_encoded<A>::value + min_encoded<B>::value> {};
template <class... E>
struct min_encoded<std::tuple<E...>>
    : std::integral_constant<std::size_t, (std::size_t{0} + ... + min_encoded<E>::value)> {};
template <class... E>
struct min_encoded<std::variant<E...>>
    : std::integral_constant<std::size_t, 4 + std::min({min_encoded<E>::value...})> {};

template <class T>
struct is_ptr_wrapper : std::false_type {};
template <class P>
struct is_ptr_wrapper<cereal::memory_detail::PtrWrapper<P>> : std::true_type {};
template <class T>
struct is_map_item : std::false_type {};
template <class K, class V>
struct is_map_item<cereal::MapItem<K, V>> : std::true_type {};

// cereal calls these around every value it loads: the depth limit, and the budget for
// what was just allocated (a map entry, a pointee).
template <class T>
void prologue(InputArchive& ar, const T&) {
    ar.enter();
}
template <class T>
void epilogue(InputArchive& ar, const T& t) {
    ar.leave();
    if constexpr (is_ptr_wrapper<T>::value) {
        using Ptr = std::remove_cvref_t<decltype(t.ptr)>;
        if (t.ptr) ar.charge(sizeof(typename Ptr::element_type));
    } else if constexpr (is_map_item<T>::value) {
        ar.charge(sizeof(t.key) + sizeof(t.value) + 4 * sizeof(void*));  // a node
    }
}
template <class T>
void prologue(OutputArchive&, const T&) {}
template <class T>
void epilogue(OutputArchive&, const T&) {}

/// Loads a vector, deque or list element by element: the element count is checked
/// against the bytes left first, storage grows only as elements decode, and each element's
/// storage is charged against the budget (cereal itself would resize() to the announced count).
template <class Seq>
void load_sequence(InputArchive& ar, Seq& seq, std::size_t node_overhead) {
    using E = typename Seq::value_type;
    cereal::size_type n = 0;
    ar(cereal::make_size_tag(n));
    ar.check_elements(n, min_encoded<E>::value);
    seq.clear();
    if constexpr (requires { seq.reserve(std::size_t{}); }) {
        // At most as many as the bytes left could hold at sizeof(E) each: beyond that the
        // vector grows only as elements actually decode.
        std::size_t fit = ar.remaining() / std::max<std::size_t>(1, min_encoded<E>::value);
        seq.reserve(std::min<std::size_t>(
            {static_cast<std::size_t>(n), fit, ar.remaining() / sizeof(E) + 1}));
    }
    for (cereal::size_type i = 0; i < n; ++i) {
        ar.charge(sizeof(E) + node_overhead);
        ar(seq.emplace_back());
    }
}

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
template <class T, class A>
requires(!std::is_same_v<T, bool>) void CEREAL_LOAD_FUNCTION_NAME(InputArchive& ar,
                                                                  std::vector<T, A>& v) {
    if constexpr (std::is_arithmetic_v<T>) {  // one binary read, as cereal writes it
        cereal::size_type n = 0;
        ar(cereal::make_size_tag(n));
        ar.check_elements(n, sizeof(T));
        v.resize(static_cast<std::size_t>(n));
        ar.loadBinary(v.data(), v.size() * sizeof(T));
    } else {
        load_sequence(ar, v, 0);
    }
}
template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(InputArchive& ar, std::deque<T, A>& d) {
    load_sequence(ar, d, 0);
}
template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(InputArchive& ar, std::list<T, A>& l) {
    load_sequence(ar, l, 2 * sizeof(void*));
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
    !std::is_member_pointer_v<T> && !detail::is_view<std::remove_cv_t<T>>::value &&
    (detail::bit_validity<T>() != detail::BitValidity::unknown);

/// Travels through cereal: a standard type or a user type with serialize/save/load.
template <class T>
concept CerealSerializable =
    std::is_object_v<T> && !BytesSerializable<T> && !std::is_pointer_v<T> &&
    !std::is_member_pointer_v<T> && !detail::is_view<std::remove_cv_t<T>>::value &&
    std::default_initializable<T> &&
    cereal::traits::is_output_serializable<T, detail::OutputArchive>::value &&
    cereal::traits::is_input_serializable<T, detail::InputArchive>::value;

/// A type that can be sent through a Connection, a Queue or a Pool.
template <class T>
concept Serializable = BytesSerializable<T> || CerealSerializable<T>;

#define MP_REQUIRE_SERIALIZABLE(T)                                                            \
    static_assert(::mp::Serializable<T>,                                                      \
                  "mp: this type cannot cross a process boundary. Give it a cereal "          \
                  "`template <class Archive> void serialize(Archive&)` member, use standard " \
                  "containers, or make it an aggregate of numbers, bools and fixed-type "     \
                  "enums (no pointers; see mp/detail/bit_validity.hpp)")

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
        const T& value = *std::launder(reinterpret_cast<const T*>(storage));
        if (!detail::bits_are_valid(value)) {
            throw SerializationError("corrupt frame: a bool in " +
                                     detail::readable_type_name(detail::type_name<T>()) +
                                     " holds a byte that is neither 0 nor 1");
        }
        return value;
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
