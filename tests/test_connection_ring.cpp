// The shared-memory path of Pipe() (src/connection_ring.hpp): readiness seen by poll() on
// fileno(), EOF and BrokenPipeError when the peer dies (also at every step of the ring
// protocol), messages bigger than the ring, handles among messages, duplex traffic both
// ways at once, ends that travel under every start method, and no fd left behind.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "../src/protocol_steps.hpp"
#include "child_process.hpp"
#include "mp/connection.hpp"
#include "mp/context.hpp"
#include "mp/process.hpp"
#include "mp/queue.hpp"
#include "mp/synchronize.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using mp::test::finish;

// poll(2) on the raw fd, as a user's select loop would.
bool fd_readable(const mp::Connection& c, int timeout_ms) {
    pollfd p{c.fileno(), POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) > 0 && (p.revents & POLLIN) != 0;
}

std::vector<std::uint32_t> pattern(std::size_t n, std::uint32_t seed) {
    std::vector<std::uint32_t> v(n);
    std::iota(v.begin(), v.end(), seed);
    return v;
}

TEST(ConnectionRing, PollOnFilenoSeesEveryMessageWaitingAndNoneThatIsGone) {
    auto [mine, theirs] = mp::Pipe();
    mp::Process p(
        [](mp::Connection c, mp::Connection other) {
            other.close();
            for (int i = 0; i < 200; ++i) {
                c.send(i);  // two messages back to back: the reader may be spinning
                c.send(i);
                if (c.recv<int>() != i) _exit(3);  // the ack
            }
        },
        theirs, mine);
    p.start();
    theirs.close();
    for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(fd_readable(mine, 20000)) << "round " << i << ": a message is coming";
        ASSERT_EQ(mine.recv<int>(), i);
        ASSERT_TRUE(fd_readable(mine, 20000)) << "round " << i << ": the second one is coming";
        ASSERT_EQ(mine.recv<int>(), i);
        EXPECT_FALSE(mine.poll()) << "round " << i;
        EXPECT_FALSE(fd_readable(mine, 0)) << "round " << i << ": readable with nothing left";
        mine.send(i);
    }
    EXPECT_EQ(finish(p), 0);
}

TEST(ConnectionRing, PollOnFilenoSeesMessagesQueuedBehindAHandle) {
    auto [a, b] = mp::Pipe();
    mp::Queue<int> q;
    a.send(1);  // its wake byte is in the socket before the handle's fds
    a.send(q);
    a.send(2);
    EXPECT_EQ(b.recv<int>(), 1);
    auto q2 = b.recv<mp::Queue<int>>();
    EXPECT_TRUE(fd_readable(b, 0)) << "a message is still waiting behind the handle";
    EXPECT_EQ(b.recv<int>(), 2);
    EXPECT_FALSE(b.poll());
    EXPECT_FALSE(fd_readable(b, 0));
    q2.put(7);
    EXPECT_EQ(q.get(5s), 7);
}

TEST(ConnectionRing, WaitAndPollSeeDataEOFAndTimeouts) {
    auto [a, b] = mp::Pipe();
    EXPECT_TRUE(mp::wait({&b}, 20ms).empty());
    a.send(5);
    EXPECT_EQ(mp::wait({&b}, 1s).size(), 1u);
    EXPECT_TRUE(fd_readable(b, 0));
    EXPECT_EQ(b.recv<int>(), 5);
    EXPECT_TRUE(mp::wait({&b}, 20ms).empty()) << "the message was taken";
    a.close();
    EXPECT_EQ(mp::wait({&b}, 5s).size(), 1u) << "EOF is ready";
    EXPECT_TRUE(b.poll());
    EXPECT_THROW((void)b.recv<int>(), mp::EOFError);
}

TEST(ConnectionRing, EOFWhenThePeerIsKilledWhileTheReaderWaits) {
    auto [mine, theirs] = mp::Pipe();
    mp::Process p(
        [](mp::Connection c) {
            for (;;) (void)c.recv<int>();
        },
        theirs);
    p.start();
    theirs.close();
    mine.send(1);  // the child is awake and waiting again
    std::thread killer([&p] {
        std::this_thread::sleep_for(200ms);
        p.kill();
    });
    EXPECT_THROW((void)mine.recv<int>(), mp::EOFError);
    killer.join();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGKILL);
}

TEST(ConnectionRing, BrokenPipeWhenTheReaderIsKilledWhileTheWriterWaitsForRoom) {
    auto [mine, theirs] = mp::Pipe();
    mp::Process p([](mp::Connection) { pause(); }, theirs);
    p.start();
    theirs.close();
    std::thread killer([&p] {
        std::this_thread::sleep_for(200ms);
        p.kill();
    });
    EXPECT_THROW(mine.send(std::string(8 << 20, 'x')), mp::BrokenPipeError)
        << "the ring fills; the writer sees the reader's death";
    killer.join();
    p.join();
}

TEST(ConnectionRing, MessagesMuchBiggerThanTheRingBothWays) {
    auto [mine, theirs] = mp::Pipe();
    mp::Process p(
        [](mp::Connection c) {
            auto v = c.recv<std::vector<std::uint32_t>>();
            for (auto& x : v) x += 1;
            c.send(v);
            c.send_bytes(std::string(3 << 20, 'z'));
        },
        theirs);
    p.start();
    theirs.close();
    auto v = pattern(std::size_t{5} << 20 >> 2, 10);  // 5 MiB
    mine.send(v);
    EXPECT_EQ(mine.recv<std::vector<std::uint32_t>>(), pattern(v.size(), 11));
    EXPECT_EQ(mine.recv_bytes().size(), std::size_t{3} << 20);
    EXPECT_EQ(finish(p), 0);
}

// Both ends send a burst, then receive the other's: traffic in both directions at once.
void duplex_rounds(mp::Connection c, int seed) {
    for (int round = 0; round < 40; ++round) {
        for (int i = 0; i < 30; ++i) {
            std::size_t n = 1 + static_cast<std::size_t>((round * 31 + i * 17 + seed) % 700);
            c.send(pattern(n, static_cast<std::uint32_t>(seed * 100000 + round * 100 + i)));
        }
        for (int i = 0; i < 30; ++i) {
            int other = 1 - seed;
            std::size_t n = 1 + static_cast<std::size_t>((round * 31 + i * 17 + other) % 700);
            auto got = c.recv<std::vector<std::uint32_t>>();
            if (got != pattern(n, static_cast<std::uint32_t>(other * 100000 + round * 100 + i)))
                throw std::runtime_error("a message arrived torn or out of order");
        }
    }
}

TEST(ConnectionRing, DuplexTrafficBothWaysAtOnce) {
    auto [mine, theirs] = mp::Pipe();
    mp::Process p([](mp::Connection c) { duplex_rounds(c, 1); }, theirs);
    p.start();
    theirs.close();
    EXPECT_NO_THROW(duplex_rounds(mine, 0));
    EXPECT_EQ(finish(p), 0);
}

void read_in_order(mp::Connection c, mp::Event go) {
    if (!go.wait(30s)) _exit(4);
    for (int round = 0; round < 5; ++round) {
        if (c.recv<int>() != round) _exit(5);
        auto q = c.recv<mp::Queue<int>>();
        if (c.recv<std::string>() != "after the queue " + std::to_string(round)) _exit(6);
        auto w = c.recv<mp::Connection>();
        if (c.recv_bytes().size() != 200000) _exit(7);  // bigger than what fits beside
        q.put(round);
        w.send(round * 10);
    }
}

TEST(ConnectionRing, HandlesAndMessagesKeepTheirOrder) {
    mp::test::FdLeakCheck leaks;
    {
        auto [mine, theirs] = mp::Pipe();
        mp::Event go;
        mp::Process p(read_in_order, theirs, go);
        p.start();
        theirs.close();
        std::vector<mp::Queue<int>> qs(5);
        std::vector<mp::Connection> rs;
        for (int round = 0; round < 5; ++round) {  // all sent before the reader reads one
            auto [r, w] = mp::Pipe(false);
            mine.send(round);
            mine.send(qs[static_cast<std::size_t>(round)]);
            mine.send(std::string("after the queue ") + std::to_string(round));
            mine.send(w);
            if (round == 0) go.set();  // the last big message needs the reader
            mine.send_bytes(std::string(200000, 'b'));
            rs.push_back(r);
        }
        for (int round = 0; round < 5; ++round) {
            EXPECT_EQ(qs[static_cast<std::size_t>(round)].get(30s), round);
            EXPECT_EQ(rs[static_cast<std::size_t>(round)].recv<int>(), round * 10);
        }
        EXPECT_EQ(finish(p), 0);
    }
    EXPECT_TRUE(leaks.leaked().empty());
}

class RingStartMethods : public ::testing::TestWithParam<const char*> {};

void echo(mp::Connection c) {
    try {
        for (;;) {
            auto v = c.recv<std::vector<std::uint32_t>>();
            c.send(v);
        }
    } catch (const mp::EOFError&) {
    }
}

void echo_over_sent(mp::Connection c, mp::Connection parent_end) {
    parent_end.close();  // under fork the child has a copy: the parent's close gives EOF
    auto other = c.recv<mp::Connection>();
    other.send(c.recv<std::string>());
    echo(c);
}

TEST_P(RingStartMethods, AnEndThatTravelsKeepsItsRing) {
    auto ctx = mp::get_context(GetParam());
    mp::Process warm = ctx.Process(+[] {});  // the fork server, if any, is up before
    warm.start();                            // fds are counted
    warm.join();
    mp::test::FdLeakCheck leaks;
    {
        auto [mine, theirs] = mp::Pipe();
        mp::Process p = ctx.Process(echo_over_sent, theirs, mine);
        p.start();
        theirs.close();
        auto [r, w] = mp::Pipe(false);
        mine.send(w);  // a ring end through a ring end
        w.close();
        mine.send(std::string("through the end that was sent"));
        EXPECT_EQ(r.recv<std::string>(), "through the end that was sent");
        for (int i = 0; i < 300; ++i) {
            auto v = pattern(static_cast<std::size_t>(1 + i % 50), static_cast<std::uint32_t>(i));
            mine.send(v);
            ASSERT_EQ(mine.recv<std::vector<std::uint32_t>>(), v);
        }
        auto big = pattern(std::size_t{1} << 19, 3);  // 2 MiB
        mine.send(big);
        EXPECT_EQ(mine.recv<std::vector<std::uint32_t>>(), big);
        mine.close();
        EXPECT_EQ(finish(p), 0);
        EXPECT_THROW((void)r.recv<int>(), mp::EOFError);
    }
    EXPECT_TRUE(leaks.leaked().empty());
}

INSTANTIATE_TEST_SUITE_P(StartMethods, RingStartMethods,
                         ::testing::Values("fork", "forkserver", "spawn"),
                         [](const auto& param_info) { return std::string(param_info.param); });

TEST(ConnectionRing, APipeHoldsThreeFdsAndLeavesNone) {
    mp::test::FdLeakCheck leaks;
    {
        auto before = mp::test::open_fds().size();
        auto [a, b] = mp::Pipe();
        EXPECT_EQ(mp::test::open_fds().size(), before + 3) << "two sockets and one memfd";
        for (int i = 0; i < 50; ++i) {
            auto [c, d] = mp::Pipe(i % 2 == 0);
            a.send(i % 2 == 0 ? c : d);
            auto e = b.recv<mp::Connection>();
            (i % 2 == 0 ? d : c).close();
        }
    }
    EXPECT_TRUE(leaks.leaked().empty());
}

TEST(ConnectionRing, AStrayByteOnTheSocketIsAClearError) {
    auto [a, b] = mp::Pipe();
    ASSERT_EQ(::write(a.fileno(), "x", 1), 1);
    try {
        (void)b.recv<int>();
        FAIL() << "no error";
    } catch (const mp::SerializationError& e) {
        EXPECT_TRUE(mp::test::contains(e.what(), "send()")) << e.what();
    }
}

// ---- a party killed at every step of the ring protocol (src/protocol_steps.hpp) ----------

using mp::detail::Protocol;
int g_step = 0;
int g_step_left = 0;  // the occurrence of g_step that kills

void kill_at_step(Protocol p, int step) noexcept {
    if (p == Protocol::connection_ring && step == g_step && --g_step_left == 0) ::raise(SIGKILL);
}

void writer_dies_at(mp::Connection c, int step, int nth, std::uint64_t size) {
    g_step = step;
    g_step_left = nth;
    mp::detail::protocol_step_hook = kill_at_step;
    for (std::uint32_t i = 0; i < 4; ++i) c.send(pattern(size / 4, i));
    _exit(9);  // not reached when the step was reached
}

TEST(ConnectionRing, AWriterKilledAtEachStepLeavesWholeMessagesThenEOFOrAClearError) {
    using mp::detail::kConnWriterCopied, mp::detail::kConnWriterCounted,
        mp::detail::kConnWriterPublished;
    struct Case {
        int step, nth;
        std::uint64_t size;
    };
    const Case cases[] = {{kConnWriterCopied, 1, 64},       {kConnWriterPublished, 1, 64},
                          {kConnWriterCounted, 1, 64},      {kConnWriterPublished, 2, 64},
                          {kConnWriterCopied, 2, 1u << 20}, {kConnWriterPublished, 1, 1u << 20}};
    for (const Case& k : cases) {
        SCOPED_TRACE("step " + std::to_string(k.step) + " (#" + std::to_string(k.nth) +
                     "), messages of " + std::to_string(k.size) + " bytes");
        auto [mine, theirs] = mp::Pipe();
        mp::Process p(writer_dies_at, theirs, k.step, k.nth, k.size);
        p.start();
        theirs.close();
        p.join();
        EXPECT_EQ(p.exitcode(), -SIGKILL) << "the step was reached";
        int whole = 0;
        bool ended = false;
        while (!ended) {
            ASSERT_TRUE(mine.poll(30s)) << "never a hang";
            try {
                auto v = mine.recv<std::vector<std::uint32_t>>();
                EXPECT_EQ(v, pattern(k.size / 4, static_cast<std::uint32_t>(whole)))
                    << "a message arrived torn";
                ++whole;
            } catch (const mp::EOFError&) {
                ended = true;
            } catch (const mp::SerializationError& e) {
                EXPECT_TRUE(mp::test::contains(e.what(), "truncated")) << e.what();
                EXPECT_THROW((void)mine.recv_bytes(), mp::EOFError);
                ended = true;
            }
        }
        EXPECT_LE(whole, 3);
    }
}

// ---- several processes writing one end ----------------------------------------------------

// Sender `id`'s message `i`: its size varies, a few are larger than the ring (published in
// parts while the writers' lock is held), and its words say who sent it and which it is.
std::vector<std::uint32_t> sender_message(std::uint32_t id, std::uint32_t i) {
    std::size_t words = i % 50 == 7 ? (200u << 10) / 4 : 1 + (i * 37 + id * 11) % 300;
    std::vector<std::uint32_t> v(words);
    for (std::size_t k = 0; k < words; ++k)
        v[k] = (id << 24) ^ (i << 4) ^ static_cast<std::uint32_t>(k);
    v[0] = (id << 24) | i;
    return v;
}

void send_many(mp::Connection c, std::uint32_t id, std::uint32_t n) {
    for (std::uint32_t i = 0; i < n; ++i) c.send(sender_message(id, i));
}

TEST(ConnectionRing, ProcessesSendingOnOneEndAtOnceDeliverEveryMessageWhole) {
    constexpr std::uint32_t kSenders = 4, kEach = 400;
    auto [mine, theirs] = mp::Pipe(false);
    std::vector<mp::Process> ps;
    for (std::uint32_t id = 0; id < kSenders; ++id) ps.emplace_back(send_many, theirs, id, kEach);
    for (auto& p : ps) p.start();
    theirs.close();
    std::vector<std::uint32_t> next(kSenders, 0);
    for (std::uint32_t got = 0; got < kSenders * kEach; ++got) {
        ASSERT_TRUE(mine.poll(30s)) << "never a hang";
        auto v = mine.recv<std::vector<std::uint32_t>>();
        ASSERT_FALSE(v.empty());
        std::uint32_t id = v[0] >> 24, i = v[0] & 0xffffff;
        ASSERT_LT(id, kSenders);
        ASSERT_EQ(i, next[id]) << "each sender's messages arrive in its order, none lost";
        ASSERT_EQ(v, sender_message(id, i)) << "a message arrived torn or mixed with another";
        ++next[id];
    }
    EXPECT_THROW((void)mine.recv_bytes(), mp::EOFError);
    for (auto& p : ps) {
        p.join();
        EXPECT_EQ(p.exitcode(), 0);
    }
}

TEST(ConnectionRing, ThreadsSendingOnOneEndAtOnceDeliverEveryMessageWhole) {
    constexpr std::uint32_t kSenders = 3, kEach = 300;
    auto [mine, theirs] = mp::Pipe(false);
    std::vector<std::thread> ts;
    for (std::uint32_t id = 0; id < kSenders; ++id)
        ts.emplace_back([c = theirs, id] { send_many(c, id, kEach); });
    std::vector<std::uint32_t> next(kSenders, 0);
    for (std::uint32_t got = 0; got < kSenders * kEach; ++got) {
        auto v = mine.recv<std::vector<std::uint32_t>>();
        std::uint32_t id = v[0] >> 24, i = v[0] & 0xffffff;
        ASSERT_LT(id, kSenders);
        ASSERT_EQ(i, next[id]);
        ASSERT_EQ(v, sender_message(id, i));
        ++next[id];
    }
    for (auto& t : ts) t.join();
}

// A writer killed at each step while it holds the writers' lock: the next process that
// writes the same end takes the lock over; its messages arrive whole after the dead one's
// whole messages, unless the dead one had published part of a frame (then its send says
// the stream is torn, and the reader gets the clear error of a truncated frame).
TEST(ConnectionRing, AWriterKilledHoldingTheLockLeavesTheEndToTheNextWriter) {
    using mp::detail::kConnWriterCopied, mp::detail::kConnWriterLocked,
        mp::detail::kConnWriterPublished;
    struct Case {
        int step, nth;
        std::uint64_t size;
        bool torn;
    };
    // Not kConnWriterCounted: a writer killed between counting its wake byte and sending
    // it leaves the reader waiting for that byte (the limit in connection_ring.hpp).
    const Case cases[] = {
        {kConnWriterLocked, 1, 64, false},        {kConnWriterLocked, 3, 64, false},
        {kConnWriterCopied, 1, 64, false},        {kConnWriterPublished, 2, 64, false},
        {kConnWriterCopied, 2, 1u << 20, false},  {kConnWriterCopied, 3, 1u << 20, true},
        {kConnWriterPublished, 1, 1u << 20, true}};
    for (const Case& k : cases) {
        SCOPED_TRACE("step " + std::to_string(k.step) + " (#" + std::to_string(k.nth) +
                     "), messages of " + std::to_string(k.size) + " bytes");
        auto [mine, theirs] = mp::Pipe(false);
        mp::Process dead(writer_dies_at, theirs, k.step, k.nth, k.size);
        dead.start();
        // A frame bigger than the ring needs a reader to be written: a thread reads.
        std::vector<std::vector<std::uint32_t>> got;
        std::string error;
        std::thread drain([&, c = mine]() mutable {
            try {
                for (;;) {
                    if (!c.poll(30s)) {
                        error = "hang";
                        return;
                    }
                    got.push_back(c.recv<std::vector<std::uint32_t>>());
                }
            } catch (const mp::EOFError&) {
            } catch (const std::exception& e) {
                error = e.what();
            }
        });
        dead.join();
        EXPECT_EQ(dead.exitcode(), -SIGKILL) << "the step was reached";
        // This process runs a thread now: the next writer comes from the fork server.
        mp::Process next =
            mp::get_context("forkserver")
                .Process(
                    [](mp::Connection c) {
                        try {
                            send_many(c, 9, 20);
                        } catch (const mp::BrokenPipeError& e) {
                            std::_Exit(mp::test::contains(e.what(), "make a new Pipe") ? 7 : 8);
                        }
                    },
                    theirs);
        next.start();
        theirs.close();
        ASSERT_TRUE(next.join(30s));
        drain.join();
        if (k.torn) {
            EXPECT_EQ(next.exitcode(), 7) << "the next writer is told the stream is torn";
            EXPECT_TRUE(mp::test::contains(error, "truncated")) << error;
            continue;
        }
        EXPECT_EQ(next.exitcode(), 0);
        EXPECT_EQ(error, "");
        std::size_t i = 0;
        for (; i < got.size() && got[i].size() == k.size / 4; ++i)
            EXPECT_EQ(got[i], pattern(k.size / 4, static_cast<std::uint32_t>(i)));
        EXPECT_LE(i, 3u);
        ASSERT_EQ(got.size() - i, 20u) << "every message of the next writer arrives";
        for (std::uint32_t j = 0; j < 20; ++j) EXPECT_EQ(got[i + j], sender_message(9, j));
    }
}

void reader_dies_at(mp::Connection c, int step) {
    g_step = step;
    g_step_left = 1;
    mp::detail::protocol_step_hook = kill_at_step;
    for (;;) (void)c.recv_bytes();
}

TEST(ConnectionRing, AReaderKilledAtEachStepLeavesTheWriterABrokenPipe) {
    using mp::detail::kConnReaderCopied, mp::detail::kConnReaderSleeping,
        mp::detail::kConnReaderSpinning;
    for (int step : {kConnReaderSpinning, kConnReaderSleeping, kConnReaderCopied}) {
        SCOPED_TRACE("step " + std::to_string(step));
        auto [mine, theirs] = mp::Pipe();
        mp::Process p(reader_dies_at, theirs, step);
        p.start();
        theirs.close();
        std::string chunk(1000, 'c');
        bool broken = false;
        for (int i = 0; i < 100000 && !broken; ++i) {
            try {
                mine.send_bytes(chunk);
            } catch (const mp::BrokenPipeError&) {
                broken = true;
            }
        }
        EXPECT_TRUE(broken);
        p.join();
        EXPECT_EQ(p.exitcode(), -SIGKILL);
    }
}

}  // namespace
