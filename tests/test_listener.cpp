#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "child_process.hpp"
#include "mp/listener.hpp"
#include "mp/process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

const std::string kKey = "secret key";
const char* const kPython = "/usr/bin/python3";

// A private directory for socket files, removed (with what is left in it) at the end.
class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/mp-test-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::string cmd = "rm -rf '" + path_ + "'";
        if (std::system(cmd.c_str()) != 0) std::perror("rm");
    }
    [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// A plain socket connected to `a`, for peers that do not follow the protocol.
int raw_connect(const mp::Address& a) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(a.port()));
    ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    return fd;
}

TEST(Address, ComparesAndPrintsAndChecks) {
    EXPECT_EQ(mp::Address("/tmp/x.sock"), mp::Address(std::string("/tmp/x.sock")));
    EXPECT_NE(mp::Address("/tmp/x.sock"), mp::Address("/tmp/y.sock"));
    EXPECT_EQ((mp::Address{"127.0.0.1", 5000}), (mp::Address{"127.0.0.1", 5000}));
    EXPECT_NE((mp::Address{"127.0.0.1", 5000}), (mp::Address{"127.0.0.1", 5001}));
    EXPECT_TRUE(mp::Address("/a").is_unix());
    EXPECT_EQ((mp::Address{"127.0.0.1", 5000}).str(), "127.0.0.1:5000");
    EXPECT_THROW((mp::Address{"127.0.0.1", 70000}), mp::ValueError);
    EXPECT_THROW((mp::Address{"127.0.0.1", -1}), mp::ValueError);
    EXPECT_THROW(mp::Listener(mp::Address(std::string("\0abstract", 9))), mp::ValueError);
    EXPECT_THROW(mp::Listener(mp::Address(std::string(200, 'a'))), mp::ValueError);
}

TEST(Listener, UnixSocketRoundTripWithAChildAndCloseRemovesTheFile) {
    TempDir dir;
    mp::Address where(dir.file("s.sock"));
    mp::Listener l(where, kKey);
    EXPECT_EQ(l.address(), where);
    EXPECT_FALSE(l.last_accepted().has_value());
    mp::Process child([where] {
        mp::Connection c = mp::Client(where, kKey);
        c.send(std::string("typed hello"));
        c.send_bytes(std::string_view("raw bytes"));
        int n = c.recv<int>();
        c.send(n * 2);
    });
    child.start();
    mp::Connection c = l.accept();
    EXPECT_TRUE(l.last_accepted().has_value());
    EXPECT_EQ(c.recv<std::string>(), "typed hello");
    auto raw = c.recv_bytes();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(raw.data()), raw.size()), "raw bytes");
    c.send(21);
    EXPECT_EQ(c.recv<int>(), 42);
    EXPECT_EQ(mp::test::finish(child), 0);
    EXPECT_THROW((void)c.recv<int>(), mp::EOFError);
    EXPECT_TRUE(exists(where.path()));
    l.close();
    EXPECT_FALSE(exists(where.path()));
    l.close();  // idempotent
    EXPECT_THROW((void)l.accept(), mp::OSError);
}

TEST(Listener, TcpPortZeroTellsThePortAndKeepsTypedFramesApartFromBytes) {
    mp::Listener l(mp::Address{"127.0.0.1", 0}, kKey);
    ASSERT_GT(l.address().port(), 0);
    EXPECT_EQ(l.address().host(), "127.0.0.1");
    std::thread t([a = l.address()] {
        mp::Connection c = mp::Client(a, kKey);
        c.send_bytes(std::string_view("not an int"));
        c.send(std::vector<int>{1, 2, 3});
        (void)c.recv<int>();
    });
    mp::Connection c = l.accept();
    EXPECT_THROW((void)c.recv<int>(), mp::SerializationError);  // raw bytes: the message stays
    auto raw = c.recv_bytes();
    EXPECT_EQ(raw.size(), 10u);
    EXPECT_EQ(c.recv<std::vector<int>>(), (std::vector<int>{1, 2, 3}));
    c.send(0);
    t.join();
}

TEST(Listener, WithoutAuthkeyNoHandshakeIsMade) {
    mp::Listener l(mp::Address{"127.0.0.1", 0});
    std::thread t([a = l.address()] { mp::Client(a).send(7); });
    mp::Connection c = l.accept();
    EXPECT_EQ(c.recv<int>(), 7);
    t.join();
}

TEST(Listener, WrongKeyIsAnAuthenticationErrorOnBothSidesAndTheListenerGoesOn) {
    mp::Listener l(mp::Address{"127.0.0.1", 0}, kKey);
    bool client_refused = false;
    std::thread t([&, a = l.address()] {
        try {
            (void)mp::Client(a, "another key");
        } catch (const mp::AuthenticationError&) {
            client_refused = true;
        }
    });
    EXPECT_THROW((void)l.accept(), mp::AuthenticationError);
    t.join();
    EXPECT_TRUE(client_refused);
    std::thread good([a = l.address()] { mp::Client(a, kKey).send(1); });
    EXPECT_EQ(l.accept().recv<int>(), 1);
    good.join();
}

TEST(Listener, GarbageHandshakeIsDroppedAndTheListenerGoesOn) {
    mp::Listener l(mp::Address{"127.0.0.1", 0}, kKey);
    int fd = raw_connect(l.address());
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";  // its "length" is huge
    ASSERT_EQ(::send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL),
              static_cast<ssize_t>(sizeof junk - 1));
    auto t0 = std::chrono::steady_clock::now();
    try {
        (void)l.accept();
        ADD_FAILURE() << "a garbage peer was accepted";
    } catch (const mp::AuthenticationError& e) {
        EXPECT_NE(std::string(e.what()).find("bytes"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    ::close(fd);
    std::thread good([a = l.address()] { mp::Client(a, kKey).send(2); });
    EXPECT_EQ(l.accept().recv<int>(), 2);
    good.join();
}

TEST(Listener, WrongAnswerFormIsRefused) {
    mp::Listener l(mp::Address{"127.0.0.1", 0}, kKey);
    std::thread t([a = l.address()] {
        int fd = raw_connect(a);
        char buf[512];
        (void)::recv(fd, buf, sizeof buf, 0);  // the challenge
        const char answer[] = "\0\0\0\x05{xyz}";
        (void)::send(fd, answer, 9, MSG_NOSIGNAL);
        (void)::recv(fd, buf, sizeof buf, 0);  // #FAILURE#
        ::close(fd);
    });
    EXPECT_THROW((void)l.accept(), mp::AuthenticationError);
    t.join();
}

TEST(Listener, SilentPeerIsDroppedWithinTheHandshakeTimeout) {
    mp::Listener l(mp::Address{"127.0.0.1", 0}, kKey, {.handshake_timeout = 300ms});
    int fd = raw_connect(l.address());
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_THROW((void)l.accept(), mp::AuthenticationError);
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 10s);
    std::thread good([a = l.address()] { mp::Client(a, kKey).send(3); });
    EXPECT_EQ(l.accept().recv<int>(), 3);
    good.join();
    ::close(fd);
}

TEST(Client, NobodyListeningIsAnOSError) {
    TempDir dir;
    EXPECT_THROW((void)mp::Client(mp::Address(dir.file("none.sock")), kKey), mp::OSError);
    mp::Address freed{"127.0.0.1", 0};
    {
        mp::Listener l(freed);
        freed = l.address();
    }
    EXPECT_THROW((void)mp::Client(freed, kKey), mp::OSError);
}

TEST(Client, ASilentListenerTimesOut) {
    mp::Listener l(mp::Address{"127.0.0.1", 0});  // never accepts, never challenges
    EXPECT_THROW((void)mp::Client(l.address(), kKey, 300ms), mp::AuthenticationError);
}

// ---- a Python peer on each side ---------------------------------------------------------

bool have_python() {
    return ::access(kPython, X_OK) == 0;
}

std::string peer_script() {
    return std::string(MP_TESTS_PY_DIR) + "/peer.py";
}

// Python's Client → mp's Listener: Python sends three messages, mp echoes them.
void python_client_to_mp_listener(const std::string& form) {
    mp::Listener l(mp::Address{"127.0.0.1", 0}, kKey);
    std::thread echo([&] {
        mp::Connection c = l.accept();
        for (;;) {
            auto m = c.recv_bytes();
            if (std::string(reinterpret_cast<const char*>(m.data()), m.size()) == "bye") break;
            c.send_bytes(m);
        }
    });
    auto r =
        mp::test::run_program(kPython, {peer_script(), "connect", l.address().str(), kKey, form});
    echo.join();
    EXPECT_EQ(r.exit_code, 0) << r.err;
}

// mp's Client → Python's Listener (a Unix socket): Python echoes what mp sends.
void mp_client_to_python_listener(const std::string& form) {
    TempDir dir;
    mp::Address where(dir.file("py.sock"));
    mp::test::ProgramResult r;
    std::thread py([&] {
        r = mp::test::run_program(kPython, {peer_script(), "listen", where.path(), kKey, form});
    });
    ASSERT_TRUE(mp::test::eventually([&] { return exists(where.path()); }, 30s));
    mp::Connection c;
    ASSERT_TRUE(mp::test::eventually(
        [&] {
            try {
                c = mp::Client(where, kKey);
                return true;
            } catch (const mp::OSError&) {  // bound, not yet listening
                return false;
            }
        },
        30s));
    c.send_bytes(std::string_view("hello from mp"));
    auto back = c.recv_bytes();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(back.data()), back.size()),
              "hello from mp");
    c.send(std::map<std::string, int>{{"a", 1}});  // a typed frame survives a Python echo
    EXPECT_EQ((c.recv<std::map<std::string, int>>()), (std::map<std::string, int>{{"a", 1}}));
    std::string big(300000, 'z');
    c.send_bytes(big);
    EXPECT_EQ(c.recv_bytes().size(), big.size());
    c.close();
    py.join();
    EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Python, ClientOfPython311LegacyMd5TalksToMpListener) {
    if (!have_python()) GTEST_SKIP() << kPython << " is absent";
    python_client_to_mp_listener("legacy");
}

TEST(Python, ClientWithSha256HandshakeTalksToMpListener) {
    if (!have_python()) GTEST_SKIP() << kPython << " is absent";
    python_client_to_mp_listener("sha256");
}

TEST(Python, MpClientTalksToPython311LegacyListener) {
    if (!have_python()) GTEST_SKIP() << kPython << " is absent";
    mp_client_to_python_listener("legacy");
}

TEST(Python, MpClientTalksToSha256Listener) {
    if (!have_python()) GTEST_SKIP() << kPython << " is absent";
    mp_client_to_python_listener("sha256");
}

TEST(Python, WrongKeyFailsOnBothSidesInBothForms) {
    if (!have_python()) GTEST_SKIP() << kPython << " is absent";
    for (std::string form : {"legacy", "sha256"}) {
        mp::Listener l(mp::Address{"127.0.0.1", 0}, kKey);
        bool refused = false;
        std::thread t([&] {
            try {
                (void)l.accept();
            } catch (const mp::AuthenticationError&) {
                refused = true;
            }
        });
        auto r = mp::test::run_program(
            kPython, {peer_script(), "connect", l.address().str(), "not the key", form});
        t.join();
        EXPECT_TRUE(refused) << form;
        EXPECT_EQ(r.exit_code, 3) << form << ": " << r.err;
    }
}

TEST(Examples, ListenerClientExampleTalksAndRefusesAWrongKey) {
    auto r = mp::test::run_program(mp::test::binary("examples/32_listener_client"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("client got 2 numbers, the first 2.25"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("server got: thanks"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("intruder: handshake"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("listener: handshake"), std::string::npos) << r.out;
}

}  // namespace
