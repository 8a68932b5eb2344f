#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "mp/serialize.hpp"
#include "support.hpp"

namespace {

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

}  // namespace
