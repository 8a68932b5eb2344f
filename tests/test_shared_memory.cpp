// SharedMemory: create (generated or given name), attach by name from a forked child and
// from a separately exec'd process, close, unlink, errors, and no /dev/shm leftovers.
#include <gtest/gtest.h>
#include <mp/mp.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "../src/resource_tracker.hpp"
#include "child_process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using mp::test::finish;

bool in_dev_shm(const std::string& name) {
    return std::filesystem::exists("/dev/shm/" + name);
}

/// "mp-<pid>-test-<tag>": the creator's pid first, as in generated names, so the leak check
/// of another test process running beside this one (ctest -j) knows it is not its own.
std::string unique_name(const char* tag) {
    return "mp-" + std::to_string(::getpid()) + "-test-" + tag;
}

template <class F>
int oserror_code(F f) {
    try {
        f();
    } catch (const mp::OSError& e) {
        return e.code();
    }
    return 0;
}

}  // namespace

// The helper half of AttachFromAnExecdProcess: runs only when exec'd with the env var set.
TEST(SharedMemoryHelper, AttachByNameAndWrite) {
    const char* name = std::getenv("MP_TEST_SHM_NAME");
    if (name == nullptr) GTEST_SKIP() << "helper for SharedMemory.AttachFromAnExecdProcess";
    mp::SharedMemory shm(name);
    ASSERT_EQ(shm.size(), 4096u);
    ASSERT_EQ(std::memcmp(shm.buf().data(), "from parent", 11), 0);
    std::memcpy(shm.buf().data() + 100, "from exec'd helper", 18);
}

TEST(SharedMemory, CreateWithGeneratedName) {
    std::string name;
    {
        mp::SharedMemory shm(4096);
        name = shm.name();
        EXPECT_EQ(name.rfind("mp-" + std::to_string(::getpid()) + "-", 0), 0u) << name;
        EXPECT_EQ(shm.size(), 4096u);
        EXPECT_EQ(shm.buf().size(), 4096u);
        EXPECT_TRUE(in_dev_shm(name));
        for (std::byte b : shm.buf()) ASSERT_EQ(b, std::byte{0});
        mp::SharedMemory other(1);
        EXPECT_NE(other.name(), name);
        EXPECT_EQ(other.size(), 1u);
        other.unlink();
    }
    EXPECT_TRUE(in_dev_shm(name));  // dropping the handles does not remove it
    mp::SharedMemory::unlink(name);
    EXPECT_FALSE(in_dev_shm(name));
}

TEST(SharedMemory, ASegmentOutlivesTheFunctionThatMadeIt) {
    // Python: a function returning shm.name leaves a segment others can attach to.
    auto make = [] {
        mp::SharedMemory shm(64);
        shm.buf()[3] = std::byte{42};
        return shm.name();
    };
    std::string name = make();
    mp::SharedMemory again(name);
    EXPECT_EQ(again.buf()[3], std::byte{42});
    again.unlink();
}

TEST(SharedMemory, ASegmentMadeByAChildOutlivesTheChild) {
    mp::SharedMemory first(8);  // this program's tracker exists before the child starts
    mp::RawArray<char> name_buf(128);
    mp::Process maker([name_buf]() mutable {
        mp::SharedMemory shm(4096);
        std::memcpy(shm.buf().data(), "made by the child", 17);
        std::strncpy(name_buf.data(), shm.name().c_str(), 127);
    });
    maker.start();
    ASSERT_EQ(finish(maker), 0);
    mp::SharedMemory got(std::string(name_buf.data()));
    EXPECT_EQ(std::memcmp(got.buf().data(), "made by the child", 17), 0);
    got.unlink();
    first.unlink();
}

/// "<key> <value>" lines printed by mp_shm_program.
std::string field(const std::string& out, const std::string& key) {
    auto at = out.find(key + " ");
    if (at == std::string::npos) return "";
    auto start = at + key.size() + 1;
    return out.substr(start, out.find('\n', start) - start);
}

/// True once pid is gone or a zombie (its new parent, init, may be slow to reap it).
bool process_ended(int pid) {
    char state = mp::test::process_state(pid);
    return state == 0 || state == 'Z';
}

void check_tracker_cleans_up(const char* mode, int expected_exit) {
    auto r = mp::test::run_program(mp::test::binary("tests/mp_shm_program"), {mode}, "", 60s);
    ASSERT_EQ(r.exit_code, expected_exit) << r.out << r.err;
    std::string tracked = field(r.out, "tracked"), untracked = field(r.out, "untracked");
    int tracker = std::atoi(field(r.out, "tracker").c_str());
    ASSERT_FALSE(tracked.empty()) << r.out;
    ASSERT_GT(tracker, 0) << r.out;
    // The tracker removes the tracked segment once the program is gone, then ends itself.
    EXPECT_TRUE(mp::test::eventually([&] { return !in_dev_shm(tracked); }, 20s)) << tracked;
    EXPECT_TRUE(mp::test::eventually([&] { return process_ended(tracker); }, 20s)) << tracker;
    ASSERT_TRUE(in_dev_shm(untracked)) << "track=false keeps the segment";
    mp::SharedMemory::unlink(untracked);
}

TEST(SharedMemory, TheTrackerRemovesWhatAKilledProgramLeft) {
    check_tracker_cleans_up("kill", -9);
}

TEST(SharedMemory, TheTrackerRemovesWhatAProgramLeftAtExit) {
    check_tracker_cleans_up("exit", 0);
}

TEST(SharedMemory, AFullDevShmGivesENOSPCNotASigbusLater) {
    // A private mount namespace with a 1 MiB /dev/shm (needs unshare(1) and user namespaces).
    std::string cmd = "mount -t tmpfs -o size=1m tmpfs /dev/shm && exec " +
                      mp::test::binary("tests/mp_shm_program") + " full";
    auto probe = mp::test::run_program("/usr/bin/unshare", {"-rm", "true"}, "", 60s);
    if (probe.exit_code != 0) GTEST_SKIP() << "no user/mount namespaces here: " << probe.err;
    auto r = mp::test::run_program("/usr/bin/unshare", {"-rm", "/bin/sh", "-c", cmd}, "", 60s);
    EXPECT_EQ(r.exit_code, 0) << "killed by signal " << -r.exit_code << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("ENOSPC"), std::string::npos) << r.out << r.err;
    EXPECT_NE(r.out.find("/dev/shm"), std::string::npos) << "the message says where: " << r.out;
}

TEST(SharedMemory, TheTrackerHoldsNoneOfTheProgramsFds) {
    mp::SharedMemory shm(8);  // the tracker runs
    int tracker = mp::detail::tracker_pid();
    if (tracker == 0) {
        shm.unlink();
        GTEST_SKIP() << "this process shares a tracker started by another";
    }
    // The tracker closes what it inherited as its first step, but nobody waits for that step:
    // count until it has taken it (the race showed under ASan, where a fork is slower).
    std::size_t fds = 0;
    auto count = [&] {
        fds = 0;
        std::error_code ec;
        for (const auto& e :
             std::filesystem::directory_iterator("/proc/" + std::to_string(tracker) + "/fd", ec)) {
            (void)e;
            ++fds;
        }
        return fds == 1;
    };
    EXPECT_TRUE(mp::test::eventually(count)) << "only its socket, but it holds " << fds;
    shm.unlink();
}

TEST(SharedMemory, ForkedChildAttachesByName) {
    mp::SharedMemory shm(4096);
    std::string name = shm.name();
    mp::Process p([name] {
        mp::SharedMemory mine(name);
        if (mine.size() != 4096) throw std::runtime_error("size");
        std::memcpy(mine.buf().data(), "hello", 5);
    });
    p.start();
    EXPECT_EQ(finish(p), 0);
    EXPECT_EQ(std::memcmp(shm.buf().data(), "hello", 5), 0);
    EXPECT_TRUE(in_dev_shm(name));  // an attaching handle never unlinks
    shm.unlink();
}

TEST(SharedMemory, AttachFromAnExecdProcess) {
    mp::SharedMemory shm(4096);
    std::memcpy(shm.buf().data(), "from parent", 11);
    std::string cmd = "MP_TEST_SHM_NAME=" + shm.name() + " " +
                      std::filesystem::read_symlink("/proc/self/exe").string() +
                      " --gtest_filter=SharedMemoryHelper.AttachByNameAndWrite";
    auto r = mp::test::run_program("/bin/sh", {"-c", cmd}, "", 60s);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out;
    EXPECT_EQ(std::memcmp(shm.buf().data() + 100, "from exec'd helper", 18), 0);
    shm.unlink();
}

TEST(SharedMemory, CreateWithAGivenName) {
    std::string name = unique_name("given");
    {
        mp::SharedMemory shm(name, 100);
        EXPECT_EQ(shm.name(), name);
        EXPECT_EQ(shm.size(), 100u);
        EXPECT_TRUE(in_dev_shm(name));
        EXPECT_EQ(oserror_code([&] { mp::SharedMemory again(name, 100); }), EEXIST);
        mp::SharedMemory attached(name);
        attached.buf()[5] = std::byte{9};
        EXPECT_EQ(shm.buf()[5], std::byte{9});
    }
    EXPECT_TRUE(in_dev_shm(name));
    mp::SharedMemory::unlink(name);
}

TEST(SharedMemory, CopiesAreHandlesAndCloseUnmapsThemAll) {
    mp::SharedMemory shm(64);
    mp::SharedMemory copy = shm;
    EXPECT_EQ(copy.buf().data(), shm.buf().data());
    EXPECT_FALSE(shm.closed());
    copy.close();
    EXPECT_TRUE(shm.closed());
    EXPECT_TRUE(shm.buf().empty());
    EXPECT_TRUE(in_dev_shm(shm.name()));  // close does not unlink
    shm.unlink();
}

TEST(SharedMemory, UnlinkRemovesTheNameButNotTheMapping) {
    mp::SharedMemory shm(128);
    std::string name = shm.name();
    shm.buf()[0] = std::byte{1};
    shm.unlink();
    EXPECT_FALSE(in_dev_shm(name));
    EXPECT_EQ(shm.buf()[0], std::byte{1});  // still mapped
    EXPECT_EQ(oserror_code([&] { shm.unlink(); }), ENOENT);
    EXPECT_EQ(oserror_code([&] { mp::SharedMemory gone(name); }), ENOENT);
}

TEST(SharedMemory, UntrackedSegmentOutlivesItsCreatorUntilUnlinked) {
    std::string name;
    {
        mp::SharedMemory shm(256, /*track=*/false);
        name = shm.name();
        std::memcpy(shm.buf().data(), "kept", 4);
    }
    ASSERT_TRUE(in_dev_shm(name));
    {
        mp::SharedMemory again(name);
        EXPECT_EQ(again.size(), 256u);
        EXPECT_EQ(std::memcmp(again.buf().data(), "kept", 4), 0);
    }
    EXPECT_TRUE(in_dev_shm(name));  // attaching never unlinks
    mp::SharedMemory::unlink(name);
    EXPECT_FALSE(in_dev_shm(name));
}

TEST(SharedMemory, SegmentOfAKilledChildLivesUntilTheProgramEnds) {
    mp::SharedMemory first(8);  // this program's tracker exists before the child starts
    mp::RawArray<char> name_buf(128);
    mp::Event made;
    mp::Process creator([name_buf, made]() mutable {
        mp::SharedMemory shm(4096);
        std::strncpy(name_buf.data(), shm.name().c_str(), 127);
        made.set();
        for (;;) std::this_thread::sleep_for(1s);
    });
    creator.start();
    ASSERT_TRUE(made.wait(10s));
    creator.kill();  // no destructor runs
    finish(creator);
    std::string name(name_buf.data());
    std::string prefix = "mp-" + std::to_string(creator.pid()) + "-";
    EXPECT_EQ(name.rfind(prefix, 0), 0u);  // the creator's pid is in the name
    ASSERT_TRUE(in_dev_shm(name));         // the program (this test) still runs
    mp::SharedMemory::unlink(name);
    EXPECT_FALSE(in_dev_shm(name));
    first.unlink();
}

TEST(SharedMemory, ChildDroppingItsCopyDoesNotUnlink) {
    mp::SharedMemory shm(64);
    mp::Process p([shm]() mutable {
        mp::SharedMemory local = std::move(shm);
        local = mp::SharedMemory(8);  // drops the creator's copy inside the child
        local.unlink();
    });
    p.start();
    EXPECT_EQ(finish(p), 0);
    EXPECT_TRUE(in_dev_shm(shm.name()));
    shm.unlink();
}

TEST(SharedMemory, BadNamesAndSizes) {
    EXPECT_THROW(mp::SharedMemory(std::size_t{0}), mp::ValueError);
    EXPECT_THROW(mp::SharedMemory("x-zero", 0), mp::ValueError);
    for (const char* bad : {"", "a/b", ".", "..", "/lead"}) {
        EXPECT_THROW(mp::SharedMemory{bad}, mp::ValueError) << bad;
        EXPECT_THROW(mp::SharedMemory(bad, 10), mp::ValueError) << bad;
        EXPECT_THROW(mp::SharedMemory::unlink(bad), mp::ValueError) << bad;
    }
    EXPECT_THROW(mp::SharedMemory(std::string(300, 'a')), mp::ValueError);
    std::string missing = unique_name("missing");
    EXPECT_EQ(oserror_code([&] { mp::SharedMemory m(missing); }), ENOENT);
    EXPECT_EQ(oserror_code([&] { mp::SharedMemory::unlink(missing); }), ENOENT);
    try {
        mp::SharedMemory m(missing);
    } catch (const mp::OSError& e) {
        EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    }
}
