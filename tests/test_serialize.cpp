#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "decode_types.hpp"
#include "mp/serialize.hpp"
#include "support.hpp"

// Counts the bytes this binary allocates while g_counting is on (for the allocation bounds).
namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocated{0};
}  // namespace
void* operator new(std::size_t n) {
    if (g_counting.load(std::memory_order_relaxed)) g_allocated += n;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
// GCC sees new-expressions elsewhere paired with this free(): they are ours, malloc'd above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
#pragma GCC diagnostic pop

namespace {

using mp::test::Big;
using mp::test::Tree;

struct Point {
    int x;
    double y;
    bool operator==(const Point&) const = default;
};

struct Person {
    std::string name;
    std::vector<int> scores;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(name, scores);
    }
    bool operator==(const Person&) const = default;
};

struct NotSerializable {
    std::string s;  // not trivially copyable, no serialize()
};

static_assert(mp::BytesSerializable<int> && mp::BytesSerializable<Point> &&
              mp::BytesSerializable<std::array<double, 3>>);
static_assert(mp::CerealSerializable<std::string> && mp::CerealSerializable<Person> &&
              mp::CerealSerializable<std::map<std::string, std::vector<double>>>);
static_assert(!mp::Serializable<int*>, "pointers must not travel");
static_assert(!mp::Serializable<std::string_view>, "views must not travel");
static_assert(!mp::Serializable<std::span<int>>, "views must not travel");
static_assert(!mp::Serializable<NotSerializable>);
static_assert(mp::detail::type_fingerprint<int> != mp::detail::type_fingerprint<long>);
static_assert(mp::detail::type_name<std::vector<int>>().find("vector") != std::string_view::npos);

template <class T>
T round_trip(const T& v) {
    return mp::deserialize<T>(mp::serialize(v));
}

TEST(Serialize, TriviallyCopyableTravelAsTheirBytes) {
    EXPECT_EQ(round_trip(42), 42);
    EXPECT_EQ(round_trip(3.5), 3.5);
    EXPECT_EQ(round_trip(Point{1, 2.5}), (Point{1, 2.5}));
    EXPECT_EQ(round_trip(std::array<int, 3>{1, 2, 3}), (std::array<int, 3>{1, 2, 3}));
    auto frame = mp::serialize(7);
    ASSERT_EQ(frame.size(), sizeof(mp::FrameHeader) + sizeof(int));
    EXPECT_EQ(mp::read_header(frame).kind, mp::FrameKind::bytes);
}

TEST(Serialize, StandardTypesAndUserTypesTravelThroughCereal) {
    EXPECT_EQ(round_trip(std::string("hola")), "hola");
    EXPECT_EQ(round_trip(std::string()), "");
    EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
    std::map<std::string, std::vector<double>> m{{"a", {1.0}}, {"b", {}}};
    EXPECT_EQ(round_trip(m), m);
    auto t = std::make_tuple(1, std::string("x"), std::optional<int>(5));
    EXPECT_EQ(round_trip(t), t);
    EXPECT_EQ(round_trip(std::optional<std::string>()), std::nullopt);
    std::variant<int, std::string> v = std::string("v");
    EXPECT_EQ(round_trip(v), v);
    EXPECT_EQ(round_trip(std::pair<std::string, int>("k", 1)),
              (std::pair<std::string, int>("k", 1)));
    Person p{"Ada", {9, 10}};
    EXPECT_EQ(round_trip(p), p);
    EXPECT_EQ(round_trip(std::vector<Person>{p, p}), (std::vector<Person>{p, p}));
    EXPECT_EQ(mp::read_header(mp::serialize(p)).kind, mp::FrameKind::cereal);
}

TEST(Serialize, WrongTypeNamesBothTypes) {
    auto frame = mp::serialize(std::string("hola"));
    try {
        (void)mp::deserialize<std::vector<int>>(frame);
        FAIL() << "expected SerializationError";
    } catch (const mp::SerializationError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("std::string"), std::string::npos) << what;
        EXPECT_NE(what.find("std::vector<int>"), std::string::npos) << what;
    }
    EXPECT_THROW((void)mp::deserialize<long>(mp::serialize(1)), mp::SerializationError);
    EXPECT_THROW((void)mp::deserialize<unsigned>(mp::serialize(1)), mp::SerializationError);
}

TEST(Serialize, TruncatedFramesThrow) {
    auto frame = mp::serialize(std::string(100, 'x'));
    for (std::size_t cut :
         {std::size_t{0}, std::size_t{10}, sizeof(mp::FrameHeader), frame.size() - 1}) {
        std::span<const std::byte> part(frame.data(), cut);
        EXPECT_THROW((void)mp::deserialize<std::string>(part), mp::SerializationError) << cut;
    }
    auto small = mp::serialize(12345);
    EXPECT_THROW((void)mp::deserialize<int>(std::span(small).first(small.size() - 1)),
                 mp::SerializationError);
}

TEST(Serialize, CorruptLengthsNeverAllocateHugely) {
    auto frame = mp::serialize(std::vector<double>{1.0, 2.0});
    // The cereal size tag is the first 8 payload bytes: claim 2^60 elements.
    std::uint64_t huge = std::uint64_t{1} << 60;
    std::memcpy(frame.data() + sizeof(mp::FrameHeader), &huge, sizeof huge);
    EXPECT_THROW((void)mp::deserialize<std::vector<double>>(frame), mp::SerializationError);

    auto s = mp::serialize(std::string("abc"));
    std::uint64_t more = 1000;
    std::memcpy(s.data() + sizeof(mp::FrameHeader), &more, sizeof more);
    EXPECT_THROW((void)mp::deserialize<std::string>(s), mp::SerializationError);

    auto h = mp::serialize(1);
    mp::FrameHeader hdr = mp::read_header(h);
    hdr.size = std::uint64_t{1} << 50;
    std::memcpy(h.data(), &hdr, sizeof hdr);
    EXPECT_THROW((void)mp::deserialize<int>(h), mp::SerializationError);
}

TEST(Serialize, CorruptContentsThrow) {
    auto frame = mp::serialize(7);
    frame[0] = std::byte{0};  // magic
    EXPECT_THROW((void)mp::deserialize<int>(frame), mp::SerializationError);

    auto b = mp::serialize(std::vector<bool>{true});
    b.back() = std::byte{7};  // a bool that is neither 0 nor 1
    EXPECT_THROW((void)mp::deserialize<std::vector<bool>>(b), mp::SerializationError);

    auto extra = mp::serialize(std::string("a"));
    extra.push_back(std::byte{1});
    mp::FrameHeader hdr = mp::read_header(extra);
    hdr.size += 1;
    std::memcpy(extra.data(), &hdr, sizeof hdr);
    EXPECT_THROW((void)mp::deserialize<std::string>(extra), mp::SerializationError);

    auto kind = mp::serialize(std::string("a"));
    hdr = mp::read_header(kind);
    std::uint32_t bad = 99;
    std::memcpy(kind.data() + 4, &bad, sizeof bad);
    EXPECT_THROW((void)mp::deserialize<std::string>(kind), mp::SerializationError);

    std::variant<int, std::string> v = 1;
    auto var = mp::serialize(v);
    var[sizeof(mp::FrameHeader)] = std::byte{9};  // variant index out of range
    EXPECT_THROW((void)(mp::deserialize<std::variant<int, std::string>>(var)),
                 mp::SerializationError);
}

TEST(Serialize, ReadableTypeNames) {
    EXPECT_EQ(mp::detail::readable_type_name(mp::detail::type_name<std::string>()), "std::string");
    EXPECT_EQ(mp::detail::describe_fingerprint(mp::detail::type_fingerprint<Person>),
              mp::detail::readable_type_name(mp::detail::type_name<Person>()))
        << "types that were serialized are registered by fingerprint";
    EXPECT_NE(mp::detail::describe_fingerprint(0x1234).find("unknown"), std::string::npos);
}

// ---- every decoded value is valid; depth and allocation are bounded ----------------------

struct Flagged {
    int x;
    bool on;
    double y;
    bool operator==(const Flagged&) const = default;
};
enum class Color : std::uint8_t { red, green };
enum Plain { plain_a, plain_b };  // no fixed underlying type: not every byte is a value
struct WithPlain {
    int x;
    Plain p;
};
struct WithPointer {
    int* p;
};
struct WithArray {
    char name[16];
    int n;
    bool ok;
};

static_assert(mp::BytesSerializable<bool> && mp::BytesSerializable<Flagged> &&
              mp::BytesSerializable<Color> && mp::BytesSerializable<WithArray>);
static_assert(!mp::BytesSerializable<Plain> && !mp::Serializable<WithPlain>,
              "an enum without a fixed type is not decoded from raw bytes");
static_assert(!mp::Serializable<WithPointer>, "a pointer member never travels");
static_assert(!mp::BytesSerializable<std::optional<int>> &&
                  mp::CerealSerializable<std::optional<int>>,
              "std::optional's engaged flag is private: it goes through cereal, which checks it");

template <class T>
mp::Bytes corrupt_byte(const T& value, std::size_t payload_offset, std::byte b) {
    auto frame = mp::serialize(value);
    frame.at(sizeof(mp::FrameHeader) + payload_offset) = b;
    return frame;
}

TEST(Serialize, ABoolThatIsNeitherZeroNorOneIsRefused) {
    EXPECT_EQ(round_trip(true), true);
    EXPECT_EQ(round_trip(false), false);
    EXPECT_THROW((void)mp::deserialize<bool>(corrupt_byte(true, 0, std::byte{5})),
                 mp::SerializationError);
    Flagged f{1, true, 2.5};
    EXPECT_EQ(round_trip(f), f);
    EXPECT_THROW(
        (void)mp::deserialize<Flagged>(corrupt_byte(f, offsetof(Flagged, on), std::byte{0x80})),
        mp::SerializationError);
    WithArray w{"abc", 3, true};
    auto back = round_trip(w);
    EXPECT_STREQ(back.name, "abc");
    EXPECT_THROW(
        (void)mp::deserialize<WithArray>(corrupt_byte(w, offsetof(WithArray, ok), std::byte{2})),
        mp::SerializationError);
    std::array<bool, 3> a{true, false, true};
    EXPECT_EQ(round_trip(a), a);
    using Bools = std::array<bool, 3>;
    EXPECT_THROW((void)mp::deserialize<Bools>(corrupt_byte(a, 1, std::byte{9})),
                 mp::SerializationError);
    auto opt = mp::serialize(std::optional<int>(4));  // cereal: a bool "engaged" byte first
    opt.at(sizeof(mp::FrameHeader)) = std::byte{3};
    EXPECT_THROW((void)mp::deserialize<std::optional<int>>(opt), mp::SerializationError);
    // Every byte of an enum with a fixed underlying type is a value of it.
    EXPECT_EQ(static_cast<int>(mp::deserialize<Color>(corrupt_byte(Color::red, 0, std::byte{7}))),
              7);
}

/// The frame of a Tree `depth` levels deep (one kid per level), written byte by byte.
mp::Bytes deep_tree_frame(std::size_t depth) {
    mp::Bytes payload;
    auto put = [&](const auto& x) {
        auto p = reinterpret_cast<const std::byte*>(&x);
        payload.insert(payload.end(), p, p + sizeof x);
    };
    for (std::size_t i = 0; i < depth; ++i) {
        put(std::int32_t{1});
        put(std::uint64_t{i + 1 < depth ? 1u : 0u});
    }
    mp::FrameHeader h = mp::header_for<Tree>(payload.size());
    payload.insert(payload.begin(), sizeof h, std::byte{0});
    std::memcpy(payload.data(), &h, sizeof h);
    return payload;
}

TEST(Serialize, NestingIsBoundedSoARecursiveTypeCannotOverflowTheStack) {
    Tree t = mp::deserialize<Tree>(deep_tree_frame(100));  // deep, but fine
    std::size_t depth = 1;
    for (const Tree* n = &t; !n->kids.empty(); n = &n->kids[0]) ++depth;
    EXPECT_EQ(depth, 100u);
    auto frame = deep_tree_frame(200'000);  // 2.4 MB: overflowed the stack before
    try {
        (void)mp::deserialize<Tree>(frame);
        FAIL() << "expected SerializationError";
    } catch (const mp::SerializationError& e) {
        EXPECT_NE(std::string(e.what()).find("nest"), std::string::npos) << e.what();
    }
}

/// Bytes allocated while decoding `frame` as a T (which must throw SerializationError).
template <class T>
std::size_t allocated_by_failed_decode(const mp::Bytes& frame) {
    g_allocated = 0;
    g_counting = true;
    bool threw = false;
    try {
        (void)mp::deserialize<T>(frame);
    } catch (const mp::SerializationError&) {
        threw = true;
    } catch (const std::bad_alloc&) {
    }
    g_counting = false;
    EXPECT_TRUE(threw);
    return g_allocated.load();
}

/// A frame of T's type whose payload is `count` (a cereal size tag) then `body` zero bytes.
template <class T>
mp::Bytes sequence_frame(std::uint64_t count, std::size_t body) {
    mp::Bytes frame(sizeof(mp::FrameHeader) + sizeof count + body);
    mp::FrameHeader h = mp::header_for<T>(sizeof count + body);
    std::memcpy(frame.data(), &h, sizeof h);
    std::memcpy(frame.data() + sizeof h, &count, sizeof count);
    return frame;
}

TEST(Serialize, AllocationIsBoundedByTheBytesReceived) {
    const std::size_t body = 128 * 1024;
    const std::size_t bound = 64 * body + (std::size_t{1} << 20);
    // 65536 Bigs of 4 KiB announced in 128 KiB: cereal alone allocated 256 MiB up front.
    EXPECT_LE(
        allocated_by_failed_decode<std::vector<Big>>(sequence_frame<std::vector<Big>>(65536, body)),
        bound);
    EXPECT_LE(
        allocated_by_failed_decode<std::deque<Big>>(sequence_frame<std::deque<Big>>(65536, body)),
        bound);
    EXPECT_LE(
        allocated_by_failed_decode<std::list<Big>>(sequence_frame<std::list<Big>>(65536, body)),
        bound);
    // Elements of known minimum size are refused before any allocation.
    EXPECT_LE(allocated_by_failed_decode<std::vector<double>>(
                  sequence_frame<std::vector<double>>(body, body)),
              4096u);
    EXPECT_LE(allocated_by_failed_decode<std::vector<std::string>>(
                  sequence_frame<std::vector<std::string>>(body, body)),
              4096u);
    // Legitimate large values still decode.
    std::vector<Big> many(300);
    many[299].bytes[7] = 'x';
    EXPECT_EQ(round_trip(many)[299].bytes[7], 'x');
    std::vector<std::unique_ptr<Big>> ptrs;
    for (int i = 0; i < 10; ++i) ptrs.push_back(std::make_unique<Big>());
    EXPECT_EQ(round_trip(ptrs).size(), 10u);
    std::map<int, std::string> m;
    for (int i = 0; i < 1000; ++i) m[i] = std::to_string(i);
    EXPECT_EQ(round_trip(m), m);
}

}  // namespace
