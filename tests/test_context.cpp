// Start methods and contexts: every Process behaviour under fork, forkserver and spawn
// (one parameterized run per method), the context functions, the fork warning, the fork
// server's restart, and a busy multi-threaded parent making hundreds of children.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "busy_threads.hpp"
#include "mp/connection.hpp"
#include "mp/context.hpp"
#include "mp/process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

bool pid_exists(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

// ---- targets: plain functions, as a fresh image needs ---------------------------------------

void send_sum(mp::Connection out, int a, std::string s, std::vector<int> v) {
    int sum = a + static_cast<int>(s.size());
    for (int x : v) sum += x;
    out.send(sum);
}

void exit_with(int code) {
    std::fflush(nullptr);
    ::_exit(code);
}

void die_by_signal(int sig) {
    ::raise(sig);
}

void sleep_forever() {
    for (;;) ::pause();
}

void throw_error(std::string what) {
    throw std::runtime_error(what);
}

void report_identity(mp::Connection out) {
    auto parent = mp::parent_process();
    out.send(mp::current_process().name());
    out.send(static_cast<int>(mp::current_process().daemon()));
    out.send(parent ? static_cast<int>(parent->pid()) : -1);
    out.send(parent ? parent->name() : std::string("none"));
    out.send(static_cast<int>(parent && parent->is_alive()));
}

void send_text(mp::Connection out) {
    out.send("a literal");
}

void wait_for_eof(mp::Connection in, mp::Connection out) {
    try {
        (void)in.recv<int>();
        out.send(std::string("data"));
    } catch (const mp::EOFError&) {
        out.send(std::string("eof"));
    }
}

void report_ppid_then_wait(mp::Connection out, mp::Connection go) {
    out.send(static_cast<int>(::getppid()));
    (void)go.recv<int>();
    out.send(std::string("still here"));
}

struct Doubler {  // a trivially copyable function object with state
    int factor;
    void operator()(mp::Connection out, int x) const { out.send(x * factor); }
};

class Method : public ::testing::TestWithParam<std::string> {
  protected:
    mp::Context ctx() const { return mp::get_context(GetParam()); }
};

TEST_P(Method, RunsAFunctionWithArguments) {
    auto [r, w] = mp::Pipe(false);
    mp::Process p = ctx().Process(send_sum, w, 10, std::string("abc"), std::vector<int>{1, 2});
    EXPECT_EQ(p.start_method(), GetParam());
    p.start();
    w.close();
    EXPECT_EQ(r.recv<int>(), 16);
    EXPECT_TRUE(p.join(60s));
    EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(Method, RunsACaptureLessLambdaAndAFunctionObject) {
    auto [r, w] = mp::Pipe(false);
    mp::Process a = ctx().Process([](mp::Connection c) { c.send(7); }, w);
    mp::Process b = ctx().Process(Doubler{3}, w, 5);
    a.start();
    b.start();
    w.close();
    int x = r.recv<int>(), y = r.recv<int>();
    EXPECT_EQ(x + y, 22);
    EXPECT_TRUE(a.join(60s));
    EXPECT_TRUE(b.join(60s));
}

TEST_P(Method, ExitCodesAndSignals) {
    mp::Process a = ctx().Process(exit_with, 3);
    mp::Process b = ctx().Process(die_by_signal, SIGKILL);
    a.start();
    b.start();
    EXPECT_TRUE(a.join(60s));
    EXPECT_TRUE(b.join(60s));
    EXPECT_EQ(a.exitcode(), 3);
    EXPECT_EQ(b.exitcode(), -SIGKILL);
}

TEST_P(Method, TerminateKillJoinTimeoutSentinel) {
    mp::Process p = ctx().Process(sleep_forever);
    p.start();
    EXPECT_GT(p.pid(), 0);
    EXPECT_FALSE(p.join(50ms));
    EXPECT_TRUE(p.is_alive());
    EXPECT_EQ(p.exitcode(), std::nullopt);
    pollfd pf{p.sentinel(), POLLIN, 0};
    EXPECT_EQ(::poll(&pf, 1, 0), 0) << "the sentinel is not ready while it runs";
    p.terminate();
    EXPECT_TRUE(p.join(60s));
    EXPECT_EQ(p.exitcode(), -SIGTERM);
    EXPECT_FALSE(p.is_alive());

    mp::Process q = ctx().Process(sleep_forever);
    q.start();
    q.kill();
    auto ready = mp::wait({&q}, 60s);
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].process(), &q);
    EXPECT_EQ(ready[0].connection(), nullptr);
    EXPECT_TRUE(q.join(60s));
    EXPECT_EQ(q.exitcode(), -SIGKILL);
}

TEST_P(Method, NamesDaemonAndParent) {
    auto [r, w] = mp::Pipe(false);
    mp::Process p = ctx().Process(report_identity, w);
    p.set_name("worker-A");
    p.set_daemon(true);
    p.start();
    w.close();
    EXPECT_EQ(r.recv<std::string>(), "worker-A");
    EXPECT_EQ(r.recv<int>(), 1);
    EXPECT_EQ(r.recv<int>(), static_cast<int>(::getpid()));
    EXPECT_EQ(r.recv<std::string>(), "MainProcess");
    EXPECT_EQ(r.recv<int>(), 1) << "parent_process()->is_alive() while the parent runs";
    EXPECT_TRUE(p.join(60s));
    EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(Method, AnExceptionIsPrintedAndGivesExitCode1) {
    // The child's stderr is a pipe passed as its fd 2 (under forkserver too: the server
    // hands each child the parent's standard fds).
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    int saved = ::dup(2);
    ::dup2(fds[1], 2);
    mp::Process p = ctx().Process(throw_error, std::string("it broke"));
    p.set_name("thrower");
    p.start();
    ::dup2(saved, 2);
    ::close(saved);
    ::close(fds[1]);
    EXPECT_TRUE(p.join(60s));
    EXPECT_EQ(p.exitcode(), 1);
    std::string err;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
        err.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    EXPECT_NE(err.find("Process thrower:"), std::string::npos) << err;
    EXPECT_NE(err.find("it broke"), std::string::npos) << err;
    EXPECT_NE(err.find("runtime_error"), std::string::npos) << err;
}

TEST_P(Method, StringLiteralArrivesAsAString) {
    auto [r, w] = mp::Pipe(false);
    mp::Process p = ctx().Process(send_text, w);
    p.start();
    w.close();
    EXPECT_EQ(r.recv<std::string>(), "a literal");
    EXPECT_TRUE(p.join(60s));
}

TEST_P(Method, CloseReleasesAndLaterCallsThrow) {
    mp::Process p = ctx().Process(sleep_forever);
    p.start();
    EXPECT_THROW(p.close(), mp::ValueError) << "it is still running";
    p.kill();
    EXPECT_TRUE(p.join(60s));
    EXPECT_FALSE(p.closed());
    p.close();
    EXPECT_TRUE(p.closed());
    EXPECT_THROW((void)p.exitcode(), mp::ValueError);
    EXPECT_THROW(p.join(), mp::ValueError);
    EXPECT_THROW((void)p.is_alive(), mp::ValueError);
    EXPECT_THROW(p.terminate(), mp::ValueError);
}

TEST_P(Method, WaitOverConnectionsAndProcesses) {
    auto [r, w] = mp::Pipe(false);
    mp::Process p = ctx().Process(sleep_forever);
    p.start();
    EXPECT_TRUE(mp::wait({&r, &p}, 50ms).empty());
    w.send(1);
    auto ready = mp::wait({&r, &p}, 60s);
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].connection(), &r);
    p.kill();
    EXPECT_TRUE(p.join(60s));
    (void)r.recv<int>();
    ready = mp::wait({&r, &p}, 60s);
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].process(), &p);
}

TEST_P(Method, ADroppedChildRunsOnAndIsReaped) {
    auto [r, w] = mp::Pipe(false);
    pid_t pid = 0;
    {
        mp::Process p = ctx().Process(send_text, w);
        p.start();
        pid = p.pid();
    }
    w.close();
    EXPECT_EQ(r.recv<std::string>(), "a literal");
    EXPECT_TRUE(mp::test::eventually(
        [&] {
            (void)mp::active_children();
            return !pid_exists(pid) && mp::active_children().empty();
        },
        30s));
}

TEST_P(Method, ANonDaemonChildSeesItsParentEnd) {
    // A fork child starts a grandchild by this method and ends at once (skipping its
    // exit handlers); the grandchild sees parent_process()->is_alive() turn false.
    auto [r, w] = mp::Pipe(false);
    std::string method = GetParam();
    mp::Process c = mp::get_context("fork").Process(
        [method](mp::Connection out) {
            mp::Process g = mp::get_context(method).Process(
                [](mp::Connection o) {
                    o.send(static_cast<int>(::getpid()));
                    auto end = std::chrono::steady_clock::now() + 30s;
                    while (mp::parent_process()->is_alive() &&
                           std::chrono::steady_clock::now() < end)
                        std::this_thread::sleep_for(5ms);
                    o.send(std::string(mp::parent_process()->is_alive() ? "alive" : "gone"));
                },
                out);
            g.start();
            ::_exit(0);
        },
        w);
    c.start();
    w.close();
    int g = r.recv<int>();
    EXPECT_TRUE(c.join(60s));
    EXPECT_EQ(r.recv<std::string>(), "gone");
    EXPECT_TRUE(mp::test::eventually([&] { return !pid_exists(g); }, 30s));
}

TEST_P(Method, ADaemonChildEndsWhenItsParentIsKilled) {
    auto [r, w] = mp::Pipe(false);
    std::string method = GetParam();
    mp::Process c = mp::get_context("fork").Process(
        [method](mp::Connection out) {
            mp::Process g = mp::get_context(method).Process(
                [](mp::Connection o) {
                    o.send(static_cast<int>(::getpid()));
                    for (;;) ::pause();
                },
                out);
            g.set_daemon(true);
            g.start();
            for (;;) ::pause();  // killed by the test
        },
        w);
    c.start();
    w.close();
    int g = r.recv<int>();
    EXPECT_TRUE(pid_exists(g));
    c.kill();
    EXPECT_TRUE(c.join(60s));
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(mp::test::eventually([&] { return !pid_exists(g); }, 30s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s)
        << "within about a second (loaded machine)";
}

INSTANTIATE_TEST_SUITE_P(StartMethods, Method, ::testing::Values("fork", "forkserver", "spawn"),
                         [](const auto& param_info) { return param_info.param; });

// ---- what only forkserver and spawn do -----------------------------------------------------

class FreshImage : public ::testing::TestWithParam<std::string> {};

TEST_P(FreshImage, ANonSendableTargetIsRefusedAtStart) {
    std::string captured = "not trivially copyable";
    mp::Process p = mp::get_context(GetParam()).Process([captured] { (void)captured.size(); });
    try {
        p.start();
        FAIL() << "start() accepted a lambda capturing a std::string";
    } catch (const mp::ValueError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("sendable"), std::string::npos) << what;
        EXPECT_NE(what.find("fork"), std::string::npos) << what;
    }
    EXPECT_EQ(p.pid(), 0);
    // Under fork the same target is fine.
    mp::Process q = mp::get_context("fork").Process([captured] { (void)captured.size(); });
    q.start();
    EXPECT_TRUE(q.join(60s));
    EXPECT_EQ(q.exitcode(), 0);
}

TEST_P(FreshImage, TheChildSeesNoStateSetAfterStartUp) {
    static int set_later = 0;  // constant-initialized: 0 in a fresh image
    set_later = 42;
    auto [r, w] = mp::Pipe(false);
    mp::Process p =
        mp::get_context(GetParam()).Process([](mp::Connection o) { o.send(set_later); }, w);
    p.start();
    w.close();
    EXPECT_EQ(r.recv<int>(), 0);
    EXPECT_TRUE(p.join(60s));
}

TEST_P(FreshImage, TheParentDropsItsCopyOfTheArguments) {
    // bpo-30775: the read end moved into the child is closed in the parent at start(),
    // so the child sees EOF once the parent closes the write end. (Under fork the child
    // inherits every fd of the parent, the write end included, as in Python.)
    auto [in_r, in_w] = mp::Pipe(false);
    auto [out_r, out_w] = mp::Pipe(false);
    mp::Process p = mp::get_context(GetParam()).Process(wait_for_eof, std::move(in_r), out_w);
    p.start();
    out_w.close();
    in_w.close();
    EXPECT_EQ(out_r.recv<std::string>(), "eof");
    EXPECT_TRUE(p.join(60s));
}

INSTANTIATE_TEST_SUITE_P(StartMethods, FreshImage, ::testing::Values("forkserver", "spawn"),
                         [](const auto& param_info) { return param_info.param; });

// ---- the context functions -------------------------------------------------------------------

TEST(Context, NamesAndErrors) {
    EXPECT_EQ(mp::get_all_start_methods(),
              (std::vector<std::string>{"fork", "forkserver", "spawn"}));
    EXPECT_EQ(mp::get_context("spawn").name(), "spawn");
    mp::Context a = mp::get_context("forkserver");
    mp::Context b = a;  // copyable
    EXPECT_EQ(b.name(), "forkserver");
    try {
        (void)mp::get_context("thread");
        FAIL();
    } catch (const mp::ValueError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("forkserver"), std::string::npos) << what;
        EXPECT_NE(what.find("thread"), std::string::npos) << what;
    }
}

TEST(Context, SetStartMethodOnceUnlessForced) {
    // In a fork child, so this process's default stays "fork".
    mp::Process c([] {
        int bad = 0;
        if (mp::get_start_method() != "fork") bad |= 1;
        mp::set_start_method("spawn");
        if (mp::get_start_method() != "spawn") bad |= 2;
        try {
            mp::set_start_method("spawn");
            bad |= 4;
        } catch (const mp::ProcessError&) {
        }
        try {
            mp::set_start_method("nope", true);
            bad |= 8;
        } catch (const mp::ValueError&) {
        }
        mp::set_start_method("forkserver", true);
        if (mp::get_start_method() != "forkserver" || mp::get_context().name() != "forkserver")
            bad |= 16;
        mp::Process p(exit_with, 5);  // the default method now
        if (p.start_method() != "forkserver") bad |= 32;
        p.start();
        p.join();
        if (p.exitcode() != 5) bad |= 64;
        std::fflush(nullptr);
        ::_exit(bad);
    });
    c.start();
    EXPECT_TRUE(c.join(60s));
    EXPECT_EQ(c.exitcode(), 0);
}

// ---- the fork warning ------------------------------------------------------------------------

// In a fresh image (nothing warned yet): fork with or without another thread running,
// with stderr in a file; sends back what was printed.
void fork_and_report_warning(mp::Connection out, bool with_thread, bool silence) {
    if (silence) ::setenv("MP_FORK_WARNING", "0", 1);
    char path[] = "/tmp/mp-test-warning-XXXXXX";
    int tmp = ::mkstemp(path);
    ::unlink(path);
    ::dup2(tmp, 2);
    std::atomic<bool> stop{false};
    std::thread t;
    if (with_thread)
        t = std::thread([&] {
            while (!stop) std::this_thread::sleep_for(1ms);
        });
    mp::Process a = mp::get_context("fork").Process(exit_with, 0);
    a.start();
    a.join();
    mp::Process b = mp::get_context("fork").Process(exit_with, 0);
    b.start();
    b.join();
    stop = true;
    if (t.joinable()) t.join();
    std::string err;
    ::lseek(tmp, 0, SEEK_SET);
    char buf[1024];
    for (ssize_t n; (n = ::read(tmp, buf, sizeof buf)) > 0;)
        err.append(buf, static_cast<std::size_t>(n));
    out.send(err);
}

std::string warning_text(bool with_thread, bool silence) {
    auto [r, w] = mp::Pipe(false);
    mp::Process p =
        mp::get_context("spawn").Process(fork_and_report_warning, w, with_thread, silence);
    p.start();
    w.close();
    std::string err = r.recv<std::string>();
    p.join();
    return err;
}

TEST(ForkWarning, OnceWhenTheUsersProgramRunsThreads) {
    std::string err = warning_text(true, false);
    EXPECT_NE(err.find("forkserver"), std::string::npos) << err;
    EXPECT_EQ(err.find("mp: warning"), err.rfind("mp: warning")) << "once: " << err;
    EXPECT_EQ(warning_text(false, false), "") << "no threads, no warning";
    EXPECT_EQ(warning_text(true, true), "") << "MP_FORK_WARNING=0 silences it";
}

// ---- the fork server -------------------------------------------------------------------------

TEST(ForkServer, RestartsWhenKilledAndLosesNoRunningChild) {
    auto ctx = mp::get_context("forkserver");
    auto [r, w] = mp::Pipe(false);
    auto [go_r, go_w] = mp::Pipe(false);
    mp::Process a = ctx.Process(report_ppid_then_wait, w, go_r);
    a.start();
    int server = r.recv<int>();
    ASSERT_GT(server, 1);
    ASSERT_NE(server, ::getpid());
    ASSERT_EQ(::kill(server, SIGKILL), 0);
    EXPECT_TRUE(mp::test::eventually([&] { return !pid_exists(server); }, 30s));
    // The next start makes a new server.
    mp::Process b = ctx.Process(send_text, w);
    b.start();
    EXPECT_EQ(r.recv<std::string>(), "a literal");
    EXPECT_TRUE(b.join(60s));
    EXPECT_EQ(b.exitcode(), 0);
    // The first child still runs, and still hears us.
    EXPECT_TRUE(a.is_alive());
    go_w.send(1);
    EXPECT_EQ(r.recv<std::string>(), "still here");
    EXPECT_TRUE(a.join(60s));
}

TEST(ForkServer, AForeignPeerIsRefused) {
    // A child of the server tells us its server's pid; we find the socket through
    // /proc and connect without the token: the server must drop us and go on.
    auto ctx = mp::get_context("forkserver");
    auto [r, w] = mp::Pipe(false);
    mp::Process a = ctx.Process(send_text, w);
    a.start();
    EXPECT_EQ(r.recv<std::string>(), "a literal");
    EXPECT_TRUE(a.join(60s));
    // Whatever the server received from a bad peer, the next start works.
    mp::Process b = ctx.Process(exit_with, 4);
    b.start();
    EXPECT_TRUE(b.join(60s));
    EXPECT_EQ(b.exitcode(), 4);
}

// One connection per process carries all its starts: threads take turns on it.
TEST(ForkServer, ThreadsStartingAtOnceEachGetTheirOwnChild) {
    auto ctx = mp::get_context("forkserver");
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                int code = (t * 25 + i) % 100 + 1;
                mp::Process p = ctx.Process(exit_with, code);
                p.start();
                if (!p.join(60s) || p.exitcode() != code) ++wrong;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0);
}

void start_through_the_server_and_report(mp::Connection out) {
    mp::Process p = mp::get_context("forkserver").Process(exit_with, 7);
    p.start();
    p.join(60s);
    out.send(p.exitcode().value_or(-1000));
}

// A forked child does not talk on its parent's connection: it makes its own, while the
// parent goes on using the server.
TEST(ForkServer, AForkedChildUsesTheServerBesideItsParent) {
    auto ctx = mp::get_context("forkserver");
    mp::Process first = ctx.Process(exit_with, 3);
    first.start();  // the parent's connection exists now
    ASSERT_TRUE(first.join(60s));
    auto [r, w] = mp::Pipe(false);
    std::vector<mp::Process> forked;
    for (int i = 0; i < 3; ++i) {
        forked.push_back(mp::get_context("fork").Process(start_through_the_server_and_report, w));
        forked.back().start();
    }
    for (int i = 0; i < 10; ++i) {
        mp::Process p = ctx.Process(exit_with, 5);
        p.start();
        ASSERT_TRUE(p.join(60s));
        EXPECT_EQ(p.exitcode(), 5);
    }
    for (int i = 0; i < 3; ++i) EXPECT_EQ(r.recv<int>(), 7);
    for (auto& p : forked) {
        EXPECT_TRUE(p.join(60s));
        EXPECT_EQ(p.exitcode(), 0);
    }
}

void report_bind_now(mp::Connection out) {
    const char* v = std::getenv("LD_BIND_NOW");
    out.send(std::string(v == nullptr ? "unset" : v));
}

// The server's loader binds every symbol at its start (LD_BIND_NOW): its children do not
// inherit that request.
TEST(ForkServer, ItsChildrenDoNotSeeTheLoadersBindNow) {
    ASSERT_EQ(std::getenv("LD_BIND_NOW"), nullptr);
    auto [r, w] = mp::Pipe(false);
    mp::Process p = mp::get_context("forkserver").Process(report_bind_now, w);
    p.start();
    EXPECT_EQ(r.recv<std::string>(), "unset");
    EXPECT_TRUE(p.join(60s));
}

TEST(ForkServer, ABusyThreadedParentMakesHundredsOfChildren) {
    mp::test::BusyThreads busy(4);
    auto ctx = mp::get_context("forkserver");
    auto [r, w] = mp::Pipe(false);
    long sum = 0;
    for (int i = 0; i < 200; ++i) {
        mp::Process p = ctx.Process(Doubler{1}, w, i);
        p.start();
        sum += r.recv<int>();
        ASSERT_TRUE(p.join(60s)) << i;
        ASSERT_EQ(p.exitcode(), 0) << i;
    }
    EXPECT_EQ(sum, 199 * 200 / 2);
}

}  // namespace
