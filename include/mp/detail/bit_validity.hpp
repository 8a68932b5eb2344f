// Internal: which trivially copyable types may be decoded from arbitrary bytes.
//
// A frame's bytes are whatever arrived: copying them into a `bool` that is neither 0 nor 1,
// or into an enum without a fixed underlying type, makes something that is not a valid value
// of its type (undefined behaviour once read). So a trivially copyable type travels as its
// bytes only when mp can see that every byte pattern is valid, or can check it:
//   * valid: arithmetic types but bool, enums with a fixed underlying type (`enum class`,
//     `enum E : int`, std::byte), std::complex, std::chrono durations and time points of
//     these, C arrays and std::array of these, empty structs;
//   * checked after the copy: bool (each must hold 0 or 1);
//   * aggregates (public members, no constructors, no base class, no reference member) of
//     at most 24 members, each of these kinds (members are found with a structured binding);
//   * a type you vouch for: `template <> inline constexpr bool
//     mp::every_bit_pattern_valid<MyType> = true;` (copied without a check).
// Anything else (pointers, unions, enums without a fixed type, classes with private members
// such as std::optional) is "unknown": it travels through cereal if cereal can serialize it,
// and is otherwise a compile error that says what to do.
#pragma once

#include <array>
#include <chrono>
#include <complex>
#include <cstddef>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

namespace mp {

/// Specialize as true for a trivially copyable type whose every byte pattern is a valid
/// value: mp then copies its bytes without looking inside.
template <class T>
inline constexpr bool every_bit_pattern_valid = false;

namespace detail {

enum class BitValidity { valid, checked, unknown };

constexpr BitValidity combine(BitValidity a, BitValidity b) {
    if (a == BitValidity::unknown || b == BitValidity::unknown) return BitValidity::unknown;
    if (a == BitValidity::checked || b == BitValidity::checked) return BitValidity::checked;
    return BitValidity::valid;
}

inline constexpr std::size_t kMaxAggregateMembers = 24;

/// The number of members of aggregate T (`T{{}, {}}`: a braced `{}` initializes one whole
/// member, so C arrays and nested aggregates count once); kMaxAggregateMembers + 1 for more.
template <class T>
constexpr std::size_t member_count() {
    if constexpr (requires {
                      T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
                  }) {
        return 25;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                               {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 24;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                               {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 23;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                               {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 22;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                               {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 21;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                               {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 20;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                               {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 19;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {},
                               {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 18;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 17;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 16;
    } else if constexpr (requires {
                             T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
                         }) {
        return 15;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; }) {
        return 14;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; }) {
        return 13;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; }) {
        return 12;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; }) {
        return 11;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; }) {
        return 10;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}}; }) {
        return 9;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}, {}, {}, {}}; }) {
        return 8;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}, {}, {}}; }) {
        return 7;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}, {}}; }) {
        return 6;
    } else if constexpr (requires { T{{}, {}, {}, {}, {}}; }) {
        return 5;
    } else if constexpr (requires { T{{}, {}, {}, {}}; }) {
        return 4;
    } else if constexpr (requires { T{{}, {}, {}}; }) {
        return 3;
    } else if constexpr (requires { T{{}, {}}; }) {
        return 2;
    } else if constexpr (requires { T{{}}; }) {
        return 1;
    } else {
        return 0;
    }
}

/// Calls f(members...) of aggregate T (member_count<T>() <= kMaxAggregateMembers).
template <class T, class F>
constexpr decltype(auto) apply_members(const T& t, F&& f) {
    constexpr std::size_t N = member_count<T>();
    if constexpr (N == 0) {
        (void)t;
        return f();
    } else if constexpr (N == 1) {
        const auto& [m0] = t;
        return f(m0);
    } else if constexpr (N == 2) {
        const auto& [m0, m1] = t;
        return f(m0, m1);
    } else if constexpr (N == 3) {
        const auto& [m0, m1, m2] = t;
        return f(m0, m1, m2);
    } else if constexpr (N == 4) {
        const auto& [m0, m1, m2, m3] = t;
        return f(m0, m1, m2, m3);
    } else if constexpr (N == 5) {
        const auto& [m0, m1, m2, m3, m4] = t;
        return f(m0, m1, m2, m3, m4);
    } else if constexpr (N == 6) {
        const auto& [m0, m1, m2, m3, m4, m5] = t;
        return f(m0, m1, m2, m3, m4, m5);
    } else if constexpr (N == 7) {
        const auto& [m0, m1, m2, m3, m4, m5, m6] = t;
        return f(m0, m1, m2, m3, m4, m5, m6);
    } else if constexpr (N == 8) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7);
    } else if constexpr (N == 9) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8);
    } else if constexpr (N == 10) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9);
    } else if constexpr (N == 11) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10);
    } else if constexpr (N == 12) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11);
    } else if constexpr (N == 13) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12);
    } else if constexpr (N == 14) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13);
    } else if constexpr (N == 15) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14);
    } else if constexpr (N == 16) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15);
    } else if constexpr (N == 17) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16);
    } else if constexpr (N == 18) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16,
                     m17] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17);
    } else if constexpr (N == 19) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                     m18] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                 m18);
    } else if constexpr (N == 20) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                     m18, m19] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                 m18, m19);
    } else if constexpr (N == 21) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                     m18, m19, m20] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                 m18, m19, m20);
    } else if constexpr (N == 22) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                     m18, m19, m20, m21] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                 m18, m19, m20, m21);
    } else if constexpr (N == 23) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                     m18, m19, m20, m21, m22] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                 m18, m19, m20, m21, m22);
    } else if constexpr (N == 24) {
        const auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                     m18, m19, m20, m21, m22, m23] = t;
        return f(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
                 m18, m19, m20, m21, m22, m23);
    }
}

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};
template <class T>
struct is_complex : std::false_type {};
template <class T>
struct is_complex<std::complex<T>> : std::true_type {};
template <class T>
struct is_chrono : std::false_type {};
template <class R, class P>
struct is_chrono<std::chrono::duration<R, P>> : std::true_type {};
template <class C, class D>
struct is_chrono<std::chrono::time_point<C, D>> : std::true_type {};

template <class T>
constexpr BitValidity bit_validity();

template <class... M>
constexpr BitValidity all_valid(std::type_identity<std::tuple<M...>>) {
    BitValidity v = BitValidity::valid;
    ((v = combine(v, bit_validity<M>())), ...);
    return v;
}

/// Whether every byte pattern of T is a valid T (valid), can be checked (checked), or
/// cannot be known (unknown).
template <class T>
constexpr BitValidity bit_validity() {
    using U = std::remove_cv_t<T>;
    if constexpr (every_bit_pattern_valid<U>) {
        return BitValidity::valid;
    } else if constexpr (std::is_same_v<U, bool>) {
        return BitValidity::checked;
    } else if constexpr (std::is_arithmetic_v<U>) {
        return BitValidity::valid;
    } else if constexpr (std::is_enum_v<U>) {
        // Only an enum with a fixed underlying type has every value of that type as a value.
        if constexpr (requires { U{std::underlying_type_t<U>{}}; })
            return BitValidity::valid;
        else
            return BitValidity::unknown;
    } else if constexpr (std::is_array_v<U>) {
        return bit_validity<std::remove_extent_t<U>>();
    } else if constexpr (is_std_array<U>::value) {
        return bit_validity<typename U::value_type>();
    } else if constexpr (is_complex<U>::value) {
        return BitValidity::valid;
    } else if constexpr (is_chrono<U>::value) {
        return bit_validity<typename U::rep>() == BitValidity::valid ? BitValidity::valid
                                                                     : BitValidity::unknown;
    } else if constexpr (std::is_class_v<U> && !std::is_union_v<U> && std::is_aggregate_v<U>) {
        if constexpr (member_count<U>() > kMaxAggregateMembers) {
            return BitValidity::unknown;
        } else {
            using Members = decltype(apply_members(std::declval<const U&>(), [](const auto&... m) {
                return std::type_identity<std::tuple<std::remove_cvref_t<decltype(m)>...>>{};
            }));
            return all_valid(Members{});
        }
    } else {
        return BitValidity::unknown;
    }
}

/// False if `t` (whose bytes were copied from a frame) holds a bool that is neither 0 nor 1.
/// Reads only bytes: no bool is loaded as a bool before it is known to be valid.
template <class T>
bool bits_are_valid(const T& t) noexcept {
    using U = std::remove_cv_t<T>;
    constexpr BitValidity v = bit_validity<U>();
    if constexpr (v == BitValidity::valid) {
        (void)t;
        return true;
    } else if constexpr (std::is_same_v<U, bool>) {
        unsigned char c;
        std::memcpy(&c, &t, 1);
        return c <= 1;
    } else if constexpr (std::is_array_v<U> || is_std_array<U>::value) {
        for (const auto& e : t)
            if (!bits_are_valid(e)) return false;
        return true;
    } else {
        return apply_members(t, [](const auto&... m) { return (bits_are_valid(m) && ...); });
    }
}

}  // namespace detail
}  // namespace mp
