#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mp/connection.hpp"
#include "mp/process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

bool pid_exists(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

// Runs `body` with fd `fd` (1 or 2) redirected to a temporary file; returns what was written
// there by this process and its children.
template <class F>
std::string capture_fd(int fd, F&& body) {
    std::fflush(nullptr);
    char path[] = "/tmp/mp-test-capture-XXXXXX";
    int tmp = mkstemp(path);
    unlink(path);
    int saved = dup(fd);
    dup2(tmp, fd);
    body();
    std::fflush(nullptr);
    dup2(saved, fd);
    close(saved);
    std::string out;
    lseek(tmp, 0, SEEK_SET);
    char buf[4096];
    for (ssize_t n; (n = read(tmp, buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    close(tmp);
    return out;
}

std::string capture_child_stderr(mp::Process& p) {
    return capture_fd(2, [&] {
        p.start();
        p.join();
    });
}

TEST(Process, StartJoinExitcodePid) {
    mp::Process p([] {});
    EXPECT_EQ(p.pid(), 0);
    EXPECT_EQ(p.exitcode(), std::nullopt);
    EXPECT_FALSE(p.is_alive());
    p.start();
    EXPECT_GT(p.pid(), 0);
    EXPECT_NE(p.pid(), getpid());
    EXPECT_TRUE(p.join());
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_FALSE(p.is_alive());
    EXPECT_TRUE(p.join()) << "joining again is fine";
}

TEST(Process, TargetReceivesCopiesOfItsArguments) {
    auto [r, w] = mp::Pipe(false);
    std::vector<int> v{1, 2, 3};
    mp::Process p(
        [](mp::Connection out, std::vector<int> items, std::string s, int k) {
            items.push_back(k);
            out.send(std::make_pair(items, s));
        },
        w, v, std::string("abc"), 4);
    p.start();
    auto got = r.recv<std::pair<std::vector<int>, std::string>>();
    p.join();
    EXPECT_EQ(got.first, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(got.second, "abc");
    EXPECT_EQ(v.size(), 3u) << "the parent's copy is untouched";
}

TEST(Process, MisuseThrowsProcessError) {
    mp::Process p([] {});
    EXPECT_THROW(p.join(), mp::ProcessError);
    EXPECT_THROW(p.join(10ms), mp::ProcessError);
    EXPECT_THROW(p.terminate(), mp::ProcessError);
    EXPECT_THROW(p.kill(), mp::ProcessError);
    p.start();
    EXPECT_THROW(p.start(), mp::ProcessError);
    EXPECT_THROW(p.set_daemon(true), mp::ProcessError);
    p.join();
    EXPECT_THROW(p.start(), mp::ProcessError);
    p.close();
    EXPECT_THROW(p.join(), mp::ValueError);
    EXPECT_THROW(p.start(), mp::ValueError);
}

TEST(Process, CloseWhileRunningIsAnError) {
    mp::Process p([] { pause(); });
    p.start();
    EXPECT_THROW(p.close(), mp::ValueError);
    p.kill();
    p.join();
    EXPECT_NO_THROW(p.close());
}

TEST(Process, JoinWithTimeoutSleepsThenSucceeds) {
    mp::Process p([] { std::this_thread::sleep_for(300ms); });
    p.start();
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(p.join(50ms));
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, 45ms);
    EXPECT_LT(waited, 250ms);
    EXPECT_TRUE(p.is_alive());
    EXPECT_EQ(p.exitcode(), std::nullopt);
    EXPECT_TRUE(p.join(10s));
    EXPECT_EQ(p.exitcode(), 0);
}

TEST(Process, ExitCodesOfExitTerminateAndKill) {
    mp::Process a([] { _exit(3); });
    a.start();
    a.join();
    EXPECT_EQ(a.exitcode(), 3);

    mp::Process t([] { pause(); });
    t.start();
    t.terminate();
    t.join();
    EXPECT_EQ(t.exitcode(), -SIGTERM);

    mp::Process k([] {
        signal(SIGTERM, SIG_IGN);
        pause();
    });
    k.start();
    k.kill();
    k.join();
    EXPECT_EQ(k.exitcode(), -SIGKILL);
    EXPECT_NO_THROW(k.kill()) << "signalling an ended process is a no-op";
    EXPECT_NO_THROW(k.terminate());

    mp::Process s([] { std::abort(); });
    s.start();
    s.join();
    EXPECT_EQ(s.exitcode(), -SIGABRT);
}

TEST(Process, ThrowingTargetPrintsNameTypeAndMessageAndExitsWith1) {
    mp::Process p([] { throw std::out_of_range("index 7 is out of range"); });
    p.set_name("Worker");
    std::string err = capture_child_stderr(p);
    EXPECT_EQ(p.exitcode(), 1);
    EXPECT_NE(err.find("Process Worker:"), std::string::npos) << err;
    EXPECT_NE(err.find("std::out_of_range"), std::string::npos) << err;
    EXPECT_NE(err.find("index 7 is out of range"), std::string::npos) << err;

    mp::Process q([] { throw 42; });
    err = capture_child_stderr(q);
    EXPECT_EQ(q.exitcode(), 1);
    EXPECT_NE(err.find("int"), std::string::npos) << err;
}

TEST(Process, ChildFlushesItsOutputAndParentOutputIsNotDuplicated) {
    std::string text = capture_fd(1, [] {
        std::printf("parent-before ");  // buffered, not flushed: start() must flush it first
        mp::Process p([] { std::printf("child-no-newline"); });
        p.start();
        p.join();
    });
    EXPECT_NE(text.find("child-no-newline"), std::string::npos) << text;
    auto first = text.find("parent-before");
    ASSERT_NE(first, std::string::npos) << text;
    EXPECT_EQ(text.find("parent-before", first + 1), std::string::npos)
        << "printed twice: " << text;
}

TEST(Process, ChildDoesNotRunTheParentsAtexitHandlers) {
    static int fd = -1;
    auto [r, w] = mp::Pipe(false);
    fd = w.fileno();
    std::atexit([] {
        if (fd >= 0 && mp::parent_process()) ::write(fd, "x", 1);
    });
    mp::Process p([] {});
    p.start();
    p.join();
    w.close();
    fd = -1;
    EXPECT_THROW((void)r.recv_bytes(), mp::EOFError) << "the child ran an atexit handler";
}

TEST(Process, NamesCurrentAndParentProcess) {
    mp::Process a([] {}), b([] {});
    auto num = [](const std::string& n) { return std::stoi(n.substr(n.find('-') + 1)); };
    EXPECT_EQ(a.name().rfind("Process-", 0), 0u);
    EXPECT_EQ(num(b.name()), num(a.name()) + 1);
    EXPECT_EQ(mp::current_process().name(), "MainProcess");
    EXPECT_EQ(mp::current_process().pid(), getpid());
    EXPECT_FALSE(mp::parent_process().has_value());

    auto [r, w] = mp::Pipe(false);
    mp::Process p(
        [](mp::Connection out) {
            auto me = mp::current_process();
            auto parent = mp::parent_process();
            out.send(std::make_tuple(me.name(), static_cast<int>(me.pid()),
                                     parent ? parent->name() : std::string("none"),
                                     parent ? static_cast<int>(parent->pid()) : 0));
            mp::Process grandchild([] {});  // Python names it "<child id>:1"
            out.send(grandchild.name());
        },
        w);
    std::string default_name = p.name();
    p.set_name("Named");
    EXPECT_EQ(p.name(), "Named");
    p.start();
    auto [name, pid, parent_name, parent_pid] =
        r.recv<std::tuple<std::string, int, std::string, int>>();
    auto grandchild_name = r.recv<std::string>();
    p.join();
    EXPECT_EQ(name, "Named");
    EXPECT_EQ(pid, p.pid());
    EXPECT_EQ(parent_name, "MainProcess");
    EXPECT_EQ(parent_pid, getpid());
    EXPECT_EQ(grandchild_name, default_name + ":1");
}

TEST(Process, DroppedProcessRunsOnAndIsReaped) {
    // Python's Process(target=f).start(): the child runs on; mp reaps it when it ends.
    pid_t pid = 0;
    auto t0 = std::chrono::steady_clock::now();
    {
        mp::Process p([] { std::this_thread::sleep_for(300ms); });
        p.start();
        pid = p.pid();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms) << "the destructor did not wait";
    auto kids = mp::active_children();
    EXPECT_TRUE(std::any_of(kids.begin(), kids.end(), [&](auto& k) { return k.pid() == pid; }))
        << "active_children() lists the dropped child";
    EXPECT_TRUE(mp::test::eventually(
        [&] {
            (void)mp::active_children();  // any mp call reaps what has ended
            return !pid_exists(pid);
        },
        10s))
        << "reaped: no zombie";
}

TEST(Process, DroppedDaemonRunsOnUntilTheParentEnds) {
    // The child drops a daemon that ignores SIGTERM and exits normally: at exit mp
    // terminates it (SIGKILL after 1 s), so the grandchild is gone.
    auto [r, w] = mp::Pipe(false);
    mp::Process child(
        [](mp::Connection out) {
            {
                mp::Process d([] {
                    signal(SIGTERM, SIG_IGN);
                    pause();
                });
                d.set_daemon(true);
                d.start();
                out.send(static_cast<int>(d.pid()));
            }
            std::this_thread::sleep_for(100ms);
            std::exit(0);
        },
        w);
    child.start();
    auto grandchild = r.recv<int>();
    EXPECT_TRUE(pid_exists(grandchild)) << "dropping it did not end it";
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    EXPECT_TRUE(mp::test::eventually([&] { return !pid_exists(grandchild); }, 5s));
}

TEST(Process, DaemonChildrenAreTerminatedWhenTheParentEnds) {
    // The child starts a daemon grandchild and returns: the grandchild must be gone.
    auto [r, w] = mp::Pipe(false);
    mp::Process child(
        [](mp::Connection out) {
            mp::Process d([] { pause(); });
            d.set_daemon(true);
            d.start();
            out.send(static_cast<int>(d.pid()));
            std::exit(0);  // normal exit through atexit, skipping d's destructor
        },
        w);
    child.start();
    auto grandchild = r.recv<int>();
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    EXPECT_TRUE(mp::test::eventually([&] { return !pid_exists(grandchild); }, 3s));

    auto [r2, w2] = mp::Pipe(false);
    mp::Process child2(
        [](mp::Connection out) {
            auto* d = new mp::Process([] { pause(); });  // leaked on purpose: no destructor runs
            d->set_daemon(true);
            d->start();
            out.send(static_cast<int>(d->pid()));
        },
        w2);
    child2.start();
    grandchild = r2.recv<int>();
    child2.join();
    EXPECT_EQ(child2.exitcode(), 0);
    EXPECT_TRUE(mp::test::eventually([&] { return !pid_exists(grandchild); }, 3s));
}

TEST(Process, DaemonicProcessesCannotHaveChildren) {
    mp::Process p([] {
        mp::Process inner([] {});
        inner.start();
    });
    p.set_daemon(true);
    std::string err = capture_child_stderr(p);
    EXPECT_EQ(p.exitcode(), 1);
    EXPECT_NE(err.find("daemonic processes are not allowed to have children"), std::string::npos)
        << err;
}

TEST(Process, ActiveChildrenListsRunningOnes) {
    mp::Process a([] { pause(); }), b([] {});
    a.start();
    b.start();
    b.join();
    auto kids = mp::active_children();
    auto has = [&](pid_t pid) {
        return std::any_of(kids.begin(), kids.end(),
                           [&](const mp::ProcessInfo& i) { return i.pid() == pid; });
    };
    EXPECT_TRUE(has(a.pid()));
    EXPECT_FALSE(has(b.pid()));
    a.terminate();
    a.join();
    kids = mp::active_children();
    EXPECT_FALSE(has(a.pid()));
}

TEST(Process, CpuCountFollowsAffinity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    EXPECT_EQ(mp::cpu_count(), CPU_COUNT(&set));
    auto [r, w] = mp::Pipe(false);
    mp::Process p(
        [](mp::Connection out) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(0, &one);
            sched_setaffinity(0, sizeof one, &one);
            out.send(mp::cpu_count());
        },
        w);
    p.start();
    EXPECT_EQ(r.recv<int>(), 1);
    p.join();
}

TEST(Process, MovedProcessKeepsItsChild) {
    mp::Process p([] { std::this_thread::sleep_for(20ms); });
    p.start();
    pid_t pid = p.pid();
    mp::Process q(std::move(p));
    EXPECT_EQ(q.pid(), pid);
    std::vector<mp::Process> v;
    v.push_back(std::move(q));
    EXPECT_TRUE(v[0].join());
    EXPECT_EQ(v[0].exitcode(), 0);
    EXPECT_THROW(q.start(), mp::ProcessError) << "a moved-from object says so";
}

class Squarer : public mp::Process {
  public:
    Squarer(mp::Connection out, int x) : out_(std::move(out)), x_(x) {}

  protected:
    void run() override { out_.send(x_ * x_); }

  private:
    mp::Connection out_;
    int x_;
};

TEST(Process, SubclassOverridesRun) {
    auto [r, w] = mp::Pipe(false);
    Squarer s(w, 9);
    s.start();
    EXPECT_EQ(r.recv<int>(), 81);
    s.join();
}

TEST(Process, OnlyTheParentMayJoin) {
    mp::Process sibling([] { std::this_thread::sleep_for(200ms); });
    sibling.start();
    mp::Process p([&sibling] { sibling.join(); });  // a copy of the parent's object, in the child
    std::string err = capture_child_stderr(p);
    EXPECT_EQ(p.exitcode(), 1);
    EXPECT_NE(err.find("can only join a child process"), std::string::npos) << err;
    sibling.join();
}

TEST(Process, SentinelBecomesReadableWhenTheChildEnds) {
    mp::Process p([] { std::this_thread::sleep_for(50ms); });
    EXPECT_EQ(p.sentinel(), -1);
    p.start();
    pollfd pfd{p.sentinel(), POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 0), 0);
    EXPECT_EQ(poll(&pfd, 1, 5000), 1);
    p.join();
}

TEST(Process, NoZombiesAndNoFdLeaks) {
    mp::test::FdLeakCheck leaks;
    for (int i = 0; i < 40; ++i) {
        mp::Process p([i] { _exit(i % 3); });
        p.set_daemon(i % 2 == 0);
        p.start();
        if (i % 4 == 0) p.join();
    }
    EXPECT_TRUE(mp::test::eventually([] {
        (void)mp::active_children();  // reaps the dropped ones that have ended
        return mp::test::child_pids().empty();
    }));
    EXPECT_TRUE(leaks.leaked().empty());
}

TEST(Process, ManyChildrenRunConcurrently) {
    auto [r, w] = mp::Pipe(false);
    std::vector<mp::Process> ps;
    for (int i = 0; i < 8; ++i) ps.emplace_back([](mp::Connection c, int k) { c.send(k); }, w, i);
    for (auto& p : ps) p.start();
    w.close();
    int sum = 0;
    for (int i = 0; i < 8; ++i) sum += r.recv<int>();
    for (auto& p : ps) p.join();
    EXPECT_EQ(sum, 28);
}

}  // namespace

namespace {

TEST(Examples, ProcessPrintsParentAndChildPids) {
    auto r = mp::test::run_program(mp::test::binary("examples/01_process"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    int parent = 0, child = 0, parent_of_child = 0;
    auto p = r.out.find("Parent PID: ");
    auto c = r.out.find("Child  PID: ");
    ASSERT_NE(p, std::string::npos) << r.out;
    ASSERT_NE(c, std::string::npos) << r.out;
    parent = std::stoi(r.out.substr(p + 12));
    child = std::stoi(r.out.substr(c + 12));
    parent_of_child = std::stoi(r.out.substr(r.out.find("parent PID ", c) + 11));
    EXPECT_GT(parent, 0);
    EXPECT_GT(child, 0);
    EXPECT_NE(parent, child);
    EXPECT_EQ(parent_of_child, parent);
    EXPECT_NE(r.out.find("exit code 0"), std::string::npos) << r.out;
}

TEST(Examples, LifecycleShowsEachState) {
    auto r = mp::test::run_program(mp::test::binary("examples/02_lifecycle"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The parent's lines in their order, and the child's in theirs: the two
    // processes interleave as the scheduler decides.
    auto in_order = [&](std::initializer_list<const char*> lines) {
        std::size_t at = 0;
        for (const char* s : lines) {
            auto pos = r.out.find(s, at);
            ASSERT_NE(pos, std::string::npos) << "missing or out of order: " << s << "\n" << r.out;
            at = pos;
        }
    };
    in_order({"created:  pid=0  is_alive=no", "started:  pid=", "is_alive=yes",
              "join(100ms) returned false", "joined:   is_alive=no  exitcode=0",
              "terminated: exitcode=-15", "Process finished"});
    in_order({"task starts", "task ends", "joined:"});
}

}  // namespace
