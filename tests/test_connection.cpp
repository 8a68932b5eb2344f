#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "mp/connection.hpp"
#include "mp/process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

TEST(Pipe, DuplexEndsSendAndReceiveBothWays) {
    auto [a, b] = mp::Pipe();
    a.send(42);
    b.send(std::string("hola"));
    EXPECT_EQ(b.recv<int>(), 42);
    EXPECT_EQ(a.recv<std::string>(), "hola");
    EXPECT_TRUE(a.readable() && a.writable() && b.readable() && b.writable());
}

TEST(Pipe, OneWayEndsRefuseTheOtherDirection) {
    auto [r, w] = mp::Pipe(false);
    EXPECT_TRUE(r.readable());
    EXPECT_FALSE(r.writable());
    EXPECT_TRUE(w.writable());
    EXPECT_FALSE(w.readable());
    EXPECT_THROW(r.send(1), mp::OSError);
    EXPECT_THROW((void)w.recv<int>(), mp::OSError);
    w.send(std::vector<int>{1, 2});
    EXPECT_EQ(r.recv<std::vector<int>>(), (std::vector<int>{1, 2}));
}

TEST(Pipe, ParentAndChildExchangeMessages) {
    auto [parent, child] = mp::Pipe();
    mp::Process p(
        [](mp::Connection c) {
            auto msg = c.recv<std::string>();
            c.send("child got: " + msg);
            c.send(std::map<std::string, int>{{"pid", static_cast<int>(getpid())}});
        },
        child);
    p.start();
    child.close();
    parent.send(std::string("hello"));
    EXPECT_EQ(parent.recv<std::string>(), "child got: hello");
    auto info = parent.recv<std::map<std::string, int>>();
    EXPECT_EQ(info.at("pid"), p.pid());
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_THROW((void)parent.recv<int>(), mp::EOFError) << "the child's end is closed";
}

TEST(Pipe, MessagesOfManyMebibytesCrossProcesses) {
    auto [parent, child] = mp::Pipe();
    constexpr std::size_t kSize = 48u << 20;
    mp::Process p(
        [](mp::Connection c) {
            auto v = c.recv<std::vector<std::uint32_t>>();
            std::uint64_t sum = 0;
            for (auto x : v) sum += x;
            c.send(sum);
            c.send_bytes(std::vector<std::byte>(kSize, std::byte{7}));
        },
        child);
    p.start();
    std::vector<std::uint32_t> v(kSize / 4);
    std::uint64_t expect = 0;
    for (std::size_t i = 0; i < v.size(); ++i)
        expect += (v[i] = static_cast<std::uint32_t>(i * 2654435761u));
    parent.send(v);
    EXPECT_EQ(parent.recv<std::uint64_t>(), expect);
    auto bytes = parent.recv_bytes();
    ASSERT_EQ(bytes.size(), kSize);
    EXPECT_EQ(bytes.front(), std::byte{7});
    EXPECT_EQ(bytes.back(), std::byte{7});
    p.join();
}

TEST(Pipe, SendBytesAndRecvBytes) {
    auto [a, b] = mp::Pipe();
    a.send_bytes(std::string_view("raw"));
    auto got = b.recv_bytes();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(got.data()), got.size()), "raw");
    a.send_bytes(std::span<const std::byte>());
    EXPECT_TRUE(b.recv_bytes().empty());
    a.send(5);  // a typed frame read as bytes gives its encoded payload
    auto five = b.recv_bytes();
    ASSERT_EQ(five.size(), sizeof(int));
    int x = 0;
    std::memcpy(&x, five.data(), sizeof x);
    EXPECT_EQ(x, 5);
    a.send_bytes(std::string_view("x"));
    EXPECT_THROW((void)b.recv<std::string>(), mp::SerializationError) << "raw frame read as a type";
    EXPECT_EQ(b.recv_bytes().size(), 1u) << "the raw frame stayed";
}

TEST(Pipe, WrongTypeThrowsAndTheMessageStays) {
    auto [a, b] = mp::Pipe();
    a.send(std::string("text"));
    try {
        (void)b.recv<int>();
        FAIL();
    } catch (const mp::SerializationError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("std::string"), std::string::npos) << what;
        EXPECT_NE(what.find("int"), std::string::npos) << what;
    }
    EXPECT_TRUE(b.poll());
    EXPECT_EQ(b.recv<std::string>(), "text") << "nothing is lost";
}

TEST(Pipe, MismatchOfFixedSizeTypesLosesNothing) {
    auto [a, b] = mp::Pipe();
    a.send(1);                    // a 4-byte frame...
    a.send(std::string("next"));  // ...followed by another frame
    a.send(2.5);
    EXPECT_THROW((void)b.recv<double>(), mp::SerializationError);  // asks for an 8-byte frame
    EXPECT_THROW((void)b.recv<std::string>(), mp::SerializationError);
    EXPECT_TRUE(b.poll());
    EXPECT_EQ(b.recv<int>(), 1);
    EXPECT_EQ(b.recv<std::string>(), "next");
    EXPECT_EQ(b.recv<double>(), 2.5);
    EXPECT_FALSE(b.poll());
    struct Big {
        char data[1000];
    };
    Big big{};
    big.data[999] = 'z';
    a.send(big);
    EXPECT_EQ(b.recv<Big>().data[999], 'z');
}

TEST(Pipe, EOFAndBrokenPipe) {
    auto [a, b] = mp::Pipe();
    a.send(1);
    a.close();
    EXPECT_EQ(b.recv<int>(), 1) << "data sent before close is still delivered";
    EXPECT_TRUE(b.poll()) << "poll is true at EOF: recv would not block";
    EXPECT_THROW((void)b.recv<int>(), mp::EOFError);
    EXPECT_THROW((void)b.recv_bytes(), mp::EOFError);
    EXPECT_THROW(b.send(1), mp::BrokenPipeError);
    EXPECT_THROW(b.send(std::string(1 << 20, 'x')), mp::BrokenPipeError);
}

TEST(Pipe, PeerKilledIsEOF) {
    auto [parent, child] = mp::Pipe();
    mp::Process p([](mp::Connection) { pause(); }, child);
    p.start();
    child.close();
    p.kill();
    p.join();
    EXPECT_EQ(p.exitcode(), -9);
    EXPECT_THROW((void)parent.recv<int>(), mp::EOFError);
}

// Writes raw bytes to the peer's socket, bypassing Connection, then closes it.
void write_raw_and_close(mp::Connection& c, const void* data, std::size_t n) {
    ASSERT_EQ(::write(c.fileno(), data, n), static_cast<ssize_t>(n));
    c.close();
}

// Two Connections over a plain socketpair (Connection::from_fd: the socket path, where the
// frames themselves cross the socket; a Pipe()'s socket carries only wake bytes).
std::pair<mp::Connection, mp::Connection> socket_pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    return {mp::Connection::from_fd(sv[0]), mp::Connection::from_fd(sv[1])};
}

TEST(SocketConnection, TruncatedFrameThrows) {
    auto [a, b] = socket_pair();
    auto frame = mp::serialize(std::string(100, 'x'));
    write_raw_and_close(a, frame.data(), 60);
    EXPECT_THROW((void)b.recv<std::string>(), mp::SerializationError);
    auto [c, d] = socket_pair();
    write_raw_and_close(c, frame.data(), 10);  // a piece of the header only
    EXPECT_THROW((void)d.recv<std::string>(), mp::SerializationError);
}

TEST(SocketConnection, CorruptLengthNeitherHangsNorAllocatesHugely) {
    auto [a, b] = socket_pair();
    mp::FrameHeader h{mp::FrameHeader::kMagic, mp::FrameKind::raw, 0, std::uint64_t{1} << 39};
    std::string bytes(reinterpret_cast<const char*>(&h), sizeof h);
    bytes += "only a few bytes";
    write_raw_and_close(a, bytes.data(), bytes.size());
    EXPECT_THROW((void)b.recv_bytes(), mp::SerializationError);

    auto [c, d] = socket_pair();
    h.size = std::uint64_t{1} << 62;  // beyond any sane frame
    write_raw_and_close(c, &h, sizeof h);
    EXPECT_THROW((void)d.recv_bytes(), mp::SerializationError);

    auto [e, f] = socket_pair();
    write_raw_and_close(e, "garbage garbage garbage!", 24);
    EXPECT_THROW((void)f.recv<int>(), mp::SerializationError);
}

TEST(Pipe, PollWithAndWithoutTimeout) {
    auto [a, b] = mp::Pipe();
    EXPECT_FALSE(b.poll());
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(b.poll(50ms));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
    std::thread sender([&a] {
        std::this_thread::sleep_for(30ms);
        a.send(1);
    });
    EXPECT_TRUE(b.poll(5s));
    sender.join();
    EXPECT_EQ(b.recv<int>(), 1);
    EXPECT_FALSE(b.poll());
}

TEST(Pipe, CloseClosesEveryHandleInThisProcess) {
    mp::test::FdLeakCheck leaks;
    {
        auto [a, b] = mp::Pipe();
        mp::Connection copy = a;
        EXPECT_EQ(copy.fileno(), a.fileno()) << "copies share the fd";
        copy.close();
        EXPECT_TRUE(a.closed());
        EXPECT_THROW((void)a.fileno(), mp::OSError);
        EXPECT_THROW(a.send(1), mp::OSError);
        EXPECT_THROW((void)a.poll(), mp::OSError);
        EXPECT_NO_THROW(a.close()) << "closing twice is harmless";
        EXPECT_THROW((void)b.recv<int>(), mp::EOFError);
    }
    mp::Connection none;
    EXPECT_TRUE(none.closed());
    EXPECT_THROW((void)none.recv<int>(), mp::OSError);
    EXPECT_TRUE(leaks.leaked().empty());
}

TEST(Pipe, LastHandleClosesTheFd) {
    mp::test::FdLeakCheck leaks;
    for (int i = 0; i < 200; ++i) {
        auto [a, b] = mp::Pipe(i % 2 == 0);
        mp::Connection c = a;
        a = mp::Connection();
    }
    EXPECT_TRUE(leaks.leaked().empty());
}

TEST(Wait, ReturnsTheReadyConnectionsOrNoneOnTimeout) {
    auto [a1, b1] = mp::Pipe();
    auto [a2, b2] = mp::Pipe();
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(mp::wait({&b1, &b2}, 40ms).empty());
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 35ms);
    a2.send(2);
    auto ready = mp::wait({&b1, &b2}, 1s);
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0], &b2);
    mp::Process p([](mp::Connection c) { c.send(1); }, a1);
    p.start();
    p.join();
    a1.close();
    ready = mp::wait({&b1, &b2});
    EXPECT_EQ(ready.size(), 2u);
    EXPECT_THROW((void)mp::wait({&b1, nullptr}), mp::ValueError);
}

}  // namespace

namespace {

TEST(Examples, PipeExchangesMessagesBothWays) {
    auto r = mp::test::run_program(mp::test::binary("examples/03_pipe"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("Child received: Hello from the parent"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Parent received: Message from the child"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("vector of 3 numbers, sum 6"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("EOFError"), std::string::npos) << r.out;
}

}  // namespace
