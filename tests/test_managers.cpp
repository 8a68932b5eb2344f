#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "mp/connection.hpp"
#include "mp/managers.hpp"
#include "mp/pool.hpp"
#include "mp/process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

struct Counter {
    int n = 0;
    int add(int k) { return n += k; }
    [[nodiscard]] int get() const { return n; }
    void fail() { throw std::out_of_range("counter says no"); }
};

const bool counter_registered = [] {
    mp::register_type<Counter>("Counter")
        .method<&Counter::add>("add")
        .method<&Counter::get>("get")
        .method<&Counter::fail>("fail");
    return true;
}();

TEST(Manager, DictSetGetContainsEraseCopy) {
    mp::Manager manager;
    auto d = manager.dict<std::string, int>();
    d.set("a", 1);
    d.set("b", 2);
    EXPECT_EQ(d.get("a"), 1);
    EXPECT_EQ(d.get("zz", 7), 7);
    EXPECT_TRUE(d.contains("b"));
    EXPECT_FALSE(d.contains("c"));
    EXPECT_EQ(d.size(), 2u);
    EXPECT_EQ(d.copy(), (std::map<std::string, int>{{"a", 1}, {"b", 2}}));
    EXPECT_TRUE(d.erase("a"));
    EXPECT_FALSE(d.erase("a"));
    try {
        (void)d.get("a");
        ADD_FAILURE() << "a missing key was found";
    } catch (const mp::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("'a'"), std::string::npos) << e.what();
    }
    d.clear();
    EXPECT_EQ(d.size(), 0u);
    manager.shutdown();
}

TEST(Manager, ListAppendGetSetPopAndIndexErrorsNameTheIndex) {
    mp::Manager manager;
    auto l = manager.list<int>();
    l.append(3);
    l.extend({4, 5});
    EXPECT_EQ(l.get(0), 3);
    EXPECT_EQ(l.get(-1), 5);
    l.set(0, 9);
    EXPECT_EQ(l.copy(), (std::vector<int>{9, 4, 5}));
    EXPECT_EQ(l.pop(), 5);
    EXPECT_EQ(l.size(), 2u);
    try {
        (void)l.get(7);
        ADD_FAILURE() << "index 7 was accepted";
    } catch (const mp::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("index 7"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("2 items"), std::string::npos) << e.what();
    }
    EXPECT_THROW(l.set(-3, 1), mp::ValueError);
}

TEST(Manager, NamedObjectsAreSharedAndTheirTypeIsChecked) {
    mp::Manager manager;
    auto l = manager.list<int>("xs");
    l.append(1);
    EXPECT_EQ(manager.list<int>("xs").get(0), 1);
    EXPECT_THROW((void)manager.list<std::string>("xs"), mp::ValueError);
    EXPECT_THROW((void)(manager.dict<int, int>("xs")), mp::ValueError);
    EXPECT_EQ(manager.list<int>("other").size(), 0u);
}

TEST(Manager, FourProcessesShareADictAndAList) {
    mp::Manager manager;
    auto d = manager.dict<std::string, int>();
    auto l = manager.list<int>();
    auto lock = manager.Lock();
    d.set("count", 0);
    std::vector<mp::Process> ps;
    for (int i = 0; i < 4; ++i) {
        ps.emplace_back([d, l, lock, i]() mutable {
            for (int k = 0; k < 25; ++k) {
                std::lock_guard g(lock);
                d.set("count", d.get("count") + 1);
                l.append(i);
            }
        });
        ps.back().start();
    }
    for (auto& p : ps) EXPECT_EQ(mp::test::finish(p, 60s), 0);
    EXPECT_EQ(d.get("count"), 100);
    auto items = l.copy();
    EXPECT_EQ(items.size(), 100u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(std::count(items.begin(), items.end(), i), 25);
}

// A write returns before the server applied it (pipelined), yet a process that learns of
// it through another channel (here a Pipe) and then reads sees it.
TEST(Manager, APipelinedWriteIsSeenByAReaderTheWriterSignalled) {
    mp::Manager manager;
    auto d = manager.dict<std::string, int>();
    auto l = manager.list<int>();
    auto [mine, theirs] = mp::Pipe();
    mp::Process writer([d, l, theirs]() mutable {
        for (int i = 0; i < 200; ++i) {
            d.set("k", i);
            l.append(i);
            theirs.send(i);
        }
    });
    writer.start();
    for (int i = 0; i < 200; ++i) {
        ASSERT_EQ(mine.recv<int>(), i);
        ASSERT_GE(d.get("k"), i);  // the writer may be ahead, never behind
        ASSERT_GE(l.size(), static_cast<std::size_t>(i) + 1);
    }
    EXPECT_EQ(mp::test::finish(writer, 60s), 0);
}

// The proxy's reference, read through its public save() (which also puts a reference in
// flight that nobody adopts: the object then lives until this process's connection ends).
struct GrabRef {
    mp::detail::ObjectRef ref;
    void operator()(const mp::detail::ObjectRef& r, std::uint64_t) { ref = r; }
};

TEST(Manager, APipelinedWritesErrorIsThrownByTheNextAnsweringCall) {
    mp::Manager manager;
    auto v = manager.Value<int>(1);
    auto d = manager.dict<int, int>();
    d.set(1, 1);  // this thread's connection now pipelines
    GrabRef grab;
    v.save(grab);
    // A dict write aimed at the Value: what a broken proxy would send.
    mp::Bytes& request = mp::detail::start_request(grab.ref, mp::detail::Op::dict_set);
    mp::detail::WireWriter(request).value(7).value(7);
    EXPECT_NO_THROW(mp::detail::manager_post(grab.ref, request, "test"));
    d.set(2, 2);  // after the failed write: not run
    try {
        (void)d.size();
        ADD_FAILURE() << "the pipelined write's error was not reported";
    } catch (const mp::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("without waiting"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("does not apply to a Value"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(d.size(), 1u);  // reported once; the connection goes on
    EXPECT_EQ(v.get(), 1);
}

int record(mp::DictProxy<int, int> d, int x) {
    d.set(x, x * x);
    return x;
}

TEST(Manager, ProxiesAsPoolTaskArguments) {
    mp::Manager manager;
    auto d = manager.dict<int, int>();
    {
        mp::Pool pool(2);
        std::vector<mp::AsyncResult<int>> rs;
        for (int i = 0; i < 10; ++i) rs.push_back(pool.apply_async(record, d, i));
        for (auto& r : rs) (void)r.get();
    }
    EXPECT_EQ(d.size(), 10u);
    EXPECT_EQ(d.get(7), 49);
}

// ---- Lifetime: reference counting ----------------------------------------------------------

// Reference drops are pipelined from other processes' connections: wait (generously) until
// the server's count is `n`; returns the last count seen.
std::size_t wait_for_count(mp::Manager& manager, std::size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    std::size_t seen = manager.number_of_objects();
    while (seen != n && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
        seen = manager.number_of_objects();
    }
    return seen;
}

TEST(Manager, AnUnnamedObjectIsFreedWhenItsLastProxyIsDroppedANamedOneLives) {
    mp::Manager manager;
    std::size_t start = manager.number_of_objects();
    {
        auto d = manager.dict<std::string, int>();
        auto copy = d;
        auto l = manager.list<int>();
        (void)manager.dict<int, int>("jobs");  // named: lives until shutdown
        EXPECT_EQ(manager.number_of_objects(), start + 3);
        { auto gone = std::move(d); }
        copy.set("a", 1);  // the copy still holds it
        EXPECT_EQ(copy.get("a"), 1);
        EXPECT_EQ(manager.number_of_objects(), start + 3);
    }
    EXPECT_EQ(manager.number_of_objects(), start + 1);  // answered after our drops
    EXPECT_EQ((manager.dict<int, int>("jobs").size()), 0u);
}

TEST(Manager, AProxySentToAChildKeepsItsObjectUntilTheChildDropsIt) {
    mp::Manager manager;
    std::size_t start = manager.number_of_objects();
    auto pipe = mp::Pipe();
    mp::Connection mine = pipe.first, theirs = pipe.second;
    // Started before the object exists: the child holds only what it is sent.
    mp::Process child([theirs]() mutable {
        {
            auto d = theirs.recv<mp::DictProxy<std::string, int>>();
            (void)theirs.recv<int>();  // the parent dropped its proxy
            theirs.send(d.get("a"));
        }
        theirs.send(0);            // dropped
        (void)theirs.recv<int>();  // until the parent has looked
    });
    child.start();
    {
        auto d = manager.dict<std::string, int>();
        d.set("a", 7);
        mine.send(d);
    }
    mine.send(1);
    EXPECT_EQ(mine.recv<int>(), 7);  // alive through the child's proxy alone
    EXPECT_EQ(mine.recv<int>(), 0);
    EXPECT_EQ(wait_for_count(manager, start), start);
    mine.send(1);
    EXPECT_EQ(mp::test::finish(child, 60s), 0);
}

TEST(Manager, PoolTaskArgumentsAndForkedChildrenDropTheirReferences) {
    mp::Manager manager;
    std::size_t start = manager.number_of_objects();
    mp::Pool pool(2);  // workers forked before the object: they hold only task arguments
    {
        auto d = manager.dict<int, int>();
        std::vector<mp::AsyncResult<int>> rs;
        for (int i = 0; i < 6; ++i) rs.push_back(pool.apply_async(record, d, i));
        for (auto& r : rs) (void)r.get();
        EXPECT_EQ(d.size(), 6u);
        // A forked child holds what its parent held at the fork, until it ends.
        auto pipe = mp::Pipe();
        mp::Connection mine = pipe.first, theirs = pipe.second;
        mp::Process child([theirs, d]() mutable {
            (void)theirs.recv<int>();
            theirs.send(static_cast<int>(d.size()));
        });
        child.start();
        d = mp::DictProxy<int, int>();  // the parent's last proxy
        mine.send(1);
        EXPECT_EQ(mine.recv<int>(), 6);
        EXPECT_EQ(mp::test::finish(child, 60s), 0);
    }
    EXPECT_EQ(wait_for_count(manager, start), start);
}

TEST(Manager, AKilledClientsReferencesAreDropped) {
    mp::Manager manager;
    std::size_t start = manager.number_of_objects();
    auto pipe = mp::Pipe();
    mp::Connection mine = pipe.first, theirs = pipe.second;
    mp::Process child([&manager, theirs]() mutable {
        auto a = manager.dict<int, int>();
        auto b = manager.list<int>();
        auto c = manager.Value<int>(3);
        theirs.send(1);
        for (;;) std::this_thread::sleep_for(1s);  // killed here, holding them
    });
    child.start();
    EXPECT_EQ(mine.recv<int>(), 1);
    EXPECT_EQ(manager.number_of_objects(), start + 3);
    child.kill();
    child.join();
    EXPECT_EQ(wait_for_count(manager, start), start);
}

TEST(Manager, ProxyTravelsThroughAConnection) {
    mp::Manager manager;
    auto q = manager.Queue<std::string>();
    auto [a, b] = mp::Pipe();
    mp::Process p([b]() mutable {
        auto q2 = b.recv<mp::QueueProxy<std::string>>();
        q2.put("from the child");
    });
    p.start();
    a.send(q);
    EXPECT_EQ(q.get(30s), "from the child");
    EXPECT_EQ(mp::test::finish(p), 0);
}

TEST(Manager, ValueQueueEventSemaphore) {
    mp::Manager manager;
    auto v = manager.Value<double>(1.5);
    EXPECT_EQ(v.get(), 1.5);
    v.set(2.5);
    EXPECT_EQ(v.get(), 2.5);

    auto q = manager.Queue<int>(2);
    q.put(1);
    q.put_nowait(2);
    EXPECT_TRUE(q.full());
    EXPECT_THROW(q.put(3, 50ms), mp::Full);
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_EQ(q.get(), 1);
    EXPECT_EQ(q.get_nowait(), 2);
    EXPECT_TRUE(q.empty());
    EXPECT_THROW((void)q.get(50ms), mp::Empty);
    EXPECT_THROW((void)q.get_nowait(), mp::Empty);

    auto e = manager.Event();
    EXPECT_FALSE(e.is_set());
    EXPECT_FALSE(e.wait(20ms));
    std::thread t([e]() mutable { e.set(); });
    EXPECT_TRUE(e.wait(30s));
    t.join();
    e.clear();
    EXPECT_FALSE(e.is_set());

    auto s = manager.Semaphore(2);
    EXPECT_TRUE(s.acquire());
    EXPECT_TRUE(s.acquire(10ms));
    EXPECT_FALSE(s.acquire(20ms));
    s.release(2);
    EXPECT_EQ(s.get_value(), 2u);
}

TEST(Manager, LockAndRLockOwnership) {
    mp::Manager manager;
    auto lk = manager.Lock();
    EXPECT_TRUE(lk.acquire());
    EXPECT_FALSE(lk.acquire(20ms));  // not reentrant
    lk.release();
    EXPECT_THROW(lk.release(), mp::ValueError);

    auto rl = manager.RLock();
    EXPECT_TRUE(rl.acquire());
    EXPECT_TRUE(rl.acquire());  // reentrant
    std::thread other([rl]() mutable {
        EXPECT_FALSE(rl.acquire(20ms));
        EXPECT_THROW(rl.release(), mp::ValueError);  // not the owner
    });
    other.join();
    rl.release();
    rl.release();
    EXPECT_THROW(rl.release(), mp::ValueError);
}

TEST(Manager, ALockHeldByAProcessThatDiedIsReleased) {
    mp::Manager manager;
    auto lk = manager.Lock();
    mp::Process p([lk]() mutable { (void)lk.acquire(); });  // ends holding it
    p.start();
    EXPECT_EQ(mp::test::finish(p), 0);
    EXPECT_TRUE(lk.acquire(30s));
}

TEST(Manager, ConditionWaitNotify) {
    mp::Manager manager;
    auto c = manager.Condition();
    auto flag = manager.Value<int>(0);
    mp::Process p([c, flag]() mutable {
        std::lock_guard g(c);
        flag.set(1);
        c.notify_all();
    });
    {
        std::unique_lock g(c);
        p.start();
        while (flag.get() == 0) ASSERT_TRUE(c.wait(30s));
    }
    EXPECT_EQ(mp::test::finish(p), 0);
    EXPECT_THROW((void)c.wait(1ms), mp::ValueError);  // not held
    std::lock_guard g(c);
    EXPECT_FALSE(c.wait(20ms));  // nobody notifies
}

TEST(Manager, BarrierReleasesAllPartiesAndBreaksOnTimeout) {
    mp::Manager manager;
    auto b = manager.Barrier(3);
    std::vector<mp::Process> ps;
    for (int i = 0; i < 2; ++i) {
        ps.emplace_back([b]() mutable { (void)b.wait(); });
        ps.back().start();
    }
    EXPECT_LT(b.wait(), 3u);
    for (auto& p : ps) EXPECT_EQ(mp::test::finish(p), 0);
    EXPECT_EQ(b.parties(), 3u);
    EXPECT_THROW((void)b.wait(20ms), mp::BrokenBarrierError);
    EXPECT_TRUE(b.broken());
    b.reset();
    EXPECT_FALSE(b.broken());
}

TEST(Manager, RegisteredTypeRunsOnlyItsMethods) {
    ASSERT_TRUE(counter_registered);
    mp::Manager manager;
    auto c = manager.make<Counter>("Counter");
    EXPECT_EQ(c.call<&Counter::add>(5), 5);
    EXPECT_EQ(c.call<&Counter::add>(short{2}), 7);  // converted to the parameter type
    EXPECT_EQ(c.call<int>("get"), 7);
    EXPECT_THROW((void)c.call<int>("steal"), mp::ValueError);
    EXPECT_THROW((void)(c.call<int>("add", 1.5)), mp::SerializationError);  // a double, not an int
    try {
        c.call<&Counter::fail>();
        ADD_FAILURE() << "the method's exception was lost";
    } catch (const mp::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::out_of_range");
        EXPECT_STREQ(e.what(), "counter says no");
    }
    EXPECT_THROW((void)manager.make<Counter>("NoSuchType"), mp::ValueError);
    auto same = manager.make<Counter>("Counter", "shared");
    same.call<&Counter::add>(1);
    EXPECT_EQ((manager.make<Counter>("Counter", "shared").call<&Counter::get>()), 1);
}

TEST(Manager, AfterShutdownProxiesThrowAndASecondShutdownDoesNothing) {
    mp::test::FdLeakCheck fds;
    {
        mp::Manager manager;
        auto d = manager.dict<int, int>();
        d.set(1, 1);
        manager.shutdown();
        EXPECT_THROW(d.set(1, 2), mp::Error);
        EXPECT_THROW((void)d.get(1), mp::Error);
        manager.shutdown();
        EXPECT_THROW((void)(manager.dict<int, int>()), mp::Error);
    }
    EXPECT_TRUE(fds.leaked().empty());
}

TEST(Manager, WrongKeyIsAnAuthenticationError) {
    mp::Manager server(mp::ManagerOptions{.address = mp::Address{"127.0.0.1", 0}, .authkey = "k1"});
    EXPECT_GT(server.address().port(), 0);
    EXPECT_THROW((void)mp::Manager::connect(server.address(), "k2"), mp::AuthenticationError);
    auto client = mp::Manager::connect(server.address(), "k1");
    client.dict<std::string, int>("jobs").set("x", 1);
    EXPECT_EQ((server.dict<std::string, int>("jobs").get("x")), 1);
}

TEST(Manager, GarbageAndSilentPeersDoNotStopTheServer) {
    mp::Manager server(mp::ManagerOptions{.address = mp::Address{"127.0.0.1", 0}, .authkey = "k"});
    auto d = server.dict<int, int>();
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(server.address().port()));
    ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(::connect(silent, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    const char junk[] = "\xff\xff\xff\xfe garbage";
    (void)::send(fd, junk, sizeof junk, MSG_NOSIGNAL);
    d.set(1, 2);  // served while the silent peer waits for its handshake timeout
    EXPECT_EQ(d.get(1), 2);
    ::close(fd);
    ::close(silent);
}

// ---- a remote manager used by a separately exec'd program ---------------------------------

// Run as its own program (the test binary exec'ed with a filter and an environment
// variable): joins the manager and works on the named objects.
TEST(RemoteClient, Run) {
    const char* port = std::getenv("MP_TEST_MANAGER_PORT");
    if (port == nullptr) GTEST_SKIP() << "runs only when exec'ed by Manager.RemoteManager...";
    auto m = mp::Manager::connect(mp::Address{"127.0.0.1", std::atoi(port)}, "remote key");
    auto jobs = m.dict<std::string, int>("jobs");
    auto log = m.list<std::string>("log");
    jobs.set("done", jobs.get("todo") * 2);
    log.append("seen by pid " + std::to_string(::getpid()));
}

TEST(Manager, RemoteManagerIsUsedByASeparatelyExecedProgram) {
    mp::Manager server(
        mp::ManagerOptions{.address = mp::Address{"127.0.0.1", 0}, .authkey = "remote key"});
    auto jobs = server.dict<std::string, int>("jobs");
    jobs.set("todo", 21);
    auto r =
        mp::test::run_program("/proc/self/exe", {"--gtest_filter=RemoteClient.Run"}, "", 60s,
                              {"MP_TEST_MANAGER_PORT=" + std::to_string(server.address().port())});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out;
    EXPECT_EQ(jobs.get("done"), 42);
    EXPECT_EQ(server.list<std::string>("log").size(), 1u);
}

TEST(Examples, ManagerExampleSharesADictAListAndARegisteredType) {
    auto r = mp::test::run_program(mp::test::binary("examples/31_manager"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("worker 3 -> 9"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("list: 0 100 200 300 4"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("tally: 6"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("'nobody'"), std::string::npos) << r.out;
}

}  // namespace
