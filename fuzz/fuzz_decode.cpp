// libFuzzer target for the frame decoder (mp/serialize.hpp), over every kind of type.
//
// The first input byte picks a type, the rest is a payload: decode_payload<T> must either
// throw SerializationError or return a value whose re-encoding decodes again to the same
// bytes. ASan/UBSan (the build adds them) catch undefined behaviour — an invalid bool,
// a stack overflow, a bad read — and run.sh's -malloc_limit_mb catches an allocation far
// beyond what the input could justify.
//
// Built with -DMP_FUZZ_SEEDS instead, it is a small program that writes the seed corpus
// (one valid payload per type) into the directory given as argv[1].
#include <mp/serialize.hpp>

#include <array>
#include <chrono>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "../tests/decode_types.hpp"

namespace {

using mp::test::Big;
using mp::test::Tree;

enum class Color : std::uint8_t { red, green, blue };
struct Flags {
    int n;
    bool a;
    bool b;
    Color c;
};
struct Record {
    std::string name;
    std::vector<double> values;
    std::optional<Color> color;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(name, values, color);
    }
};
struct Node {
    int v = 0;
    std::unique_ptr<Node> next;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(v, next);
    }
};

/// Decodes `payload` as T; on success, checks that the value re-encodes to a payload that
/// decodes to the same value again (the same bytes, for all but unordered containers).
template <class T>
void check(std::span<const std::byte> payload) {
    try {
        T value = mp::decode_payload<T>(payload);
        mp::Bytes again;
        mp::encode_payload(value, again);
        T twice = mp::decode_payload<T>(again);
        if constexpr (requires { typename T::hasher; }) {
            // Unordered containers encode in bucket order, which may differ: compare values.
            if (!(value == twice)) std::abort();
        } else {
            mp::Bytes thrice;
            mp::encode_payload(twice, thrice);
            if (again != thrice) std::abort();  // decoding is not stable
        }
    } catch (const mp::SerializationError&) {
    }
}

template <class... T>
struct TypeList {};

using Types =
    TypeList<bool, int, double, Color, Flags, std::array<bool, 5>, std::string, std::vector<int>,
             std::vector<bool>, std::vector<std::string>, std::vector<Big>, std::deque<Big>,
             std::list<Big>, std::map<std::string, int>, std::multimap<int, Big>,
             std::set<std::string>, std::unordered_map<int, std::string>, std::unordered_set<long>,
             std::optional<int>, std::variant<int, std::string, bool>,
             std::tuple<int, std::string, bool>, std::pair<double, std::vector<char>>,
             std::unique_ptr<Big>, std::shared_ptr<std::string>, std::vector<Node>, Record, Tree,
             std::complex<double>, std::chrono::milliseconds,
             std::vector<std::vector<std::optional<bool>>>>;

template <class... T>
void dispatch(TypeList<T...>, unsigned which, std::span<const std::byte> payload) {
    unsigned i = 0;
    ((i++ == which ? check<T>(payload) : void()), ...);
}

template <class... T>
constexpr unsigned count(TypeList<T...>) {
    return sizeof...(T);
}

}  // namespace

#ifndef MP_FUZZ_SEEDS

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    auto bytes = std::as_bytes(std::span(data, size));
    dispatch(Types{}, data[0] % count(Types{}), bytes.subspan(1));
    return 0;
}

#else

namespace {
int seed_index = 0;
template <class T>
void seed(const char* dir, unsigned which, const T& value) {
    mp::Bytes payload;
    mp::encode_payload(value, payload);
    std::string path = std::string(dir) + "/seed-" + std::to_string(seed_index++);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) std::exit(1);
    unsigned char b = static_cast<unsigned char>(which);
    std::fwrite(&b, 1, 1, f);
    std::fwrite(payload.data(), 1, payload.size(), f);
    std::fclose(f);
}
template <class... T>
void seed_all(const char* dir, TypeList<T...>) {
    unsigned i = 0;
    (seed(dir, i++, T{}), ...);
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    seed_all(argv[1], Types{});  // default values of every type
    // And a few richer ones.
    auto idx = [&](auto tag) {
        using T = typename decltype(tag)::type;
        unsigned at = 0, n = 0;
        [&]<class... U>(TypeList<U...>) {
            ((std::is_same_v<T, U> ? (at = n++) : n++), ...);
        }(Types{});
        return at;
    };
    seed(argv[1], idx(std::type_identity<Record>{}), Record{"ada", {1.0, 2.0}, Color::blue});
    Tree t{1, {Tree{2, {}}, Tree{3, {Tree{4, {}}}}}};
    seed(argv[1], idx(std::type_identity<Tree>{}), t);
    seed(argv[1], idx(std::type_identity<std::map<std::string, int>>{}),
         std::map<std::string, int>{{"a", 1}, {"bb", 2}});
    seed(argv[1], idx(std::type_identity<std::vector<Big>>{}), std::vector<Big>(2));
    seed(argv[1], idx(std::type_identity<std::variant<int, std::string, bool>>{}),
         std::variant<int, std::string, bool>{std::string("v")});
    std::vector<Node> nodes(1);
    nodes[0].next = std::make_unique<Node>();
    seed(argv[1], idx(std::type_identity<std::vector<Node>>{}), nodes);
    return 0;
}

#endif
