// Internal to <mp/managers.hpp>: the table of user types a manager may make
// (mp::register_type), and how a registered method is called from its wire form.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "mp/serialize.hpp"

namespace mp::detail {

/// One registered type: how to make one, and its methods by name.
struct UserType {
    using Method =
        std::function<void(void* object, std::span<const std::byte> args, Bytes& result)>;
    std::function<std::shared_ptr<void>()> make;
    std::map<std::string, Method, std::less<>> methods;
};

/// Adds (or returns) the entry for `name` in this process's table.
UserType& user_type_entry(const std::string& name, std::uint64_t fingerprint);
/// The entry for `name`, or nullptr.
const UserType* find_user_type(std::string_view name);

/// The name a member function was registered under in this process ("" if none).
/// (A function-local static: a template's static data member would be initialized in no
/// fixed order with a registration made during static initialization.)
template <auto M>
std::string& method_name() {
    static std::string name;
    return name;
}

template <class M>
struct MemberTraits;
template <class C, class R, class... A>
struct MemberTraits<R (C::*)(A...)> {
    using Class = C;
    using Result = R;
    using Args = std::tuple<std::decay_t<A>...>;
};
template <class C, class R, class... A>
struct MemberTraits<R (C::*)(A...) const> : MemberTraits<R (C::*)(A...)> {};
template <class C, class R, class... A>
struct MemberTraits<R (C::*)(A...) noexcept> : MemberTraits<R (C::*)(A...)> {};
template <class C, class R, class... A>
struct MemberTraits<R (C::*)(A...) const noexcept> : MemberTraits<R (C::*)(A...)> {};

/// Decodes the arguments (a frame of std::tuple<decayed params>), calls, encodes the result.
template <auto M>
void invoke_method(void* object, std::span<const std::byte> args, Bytes& result) {
    using Tr = MemberTraits<decltype(M)>;
    auto tuple = deserialize<typename Tr::Args>(args);
    auto& obj = *static_cast<typename Tr::Class*>(object);
    if constexpr (std::is_void_v<typename Tr::Result>) {
        std::apply([&](auto&... a) { (obj.*M)(a...); }, tuple);
    } else {
        encode_frame(std::apply([&](auto&... a) { return (obj.*M)(a...); }, tuple), result);
    }
}

}  // namespace mp::detail
