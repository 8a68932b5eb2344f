// Resource exhaustion gives a clear error naming the real cause: no free file descriptor
// when a Process starts. (A full /dev/shm is in test_shared_memory.cpp.)
#include <gtest/gtest.h>
#include <mp/mp.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "support.hpp"

TEST(ResourceErrors, ProcessStartWithNoFreeFdNamesTheCauseNotTheKernelVersion) {
#if defined(__SANITIZE_ADDRESS__)
    // Open under ASan+UBSan (see the closing note of 2026-12): with no fd free the sanitizer
    // runtime fails here; the normal build runs this test.
    GTEST_SKIP() << "not run under the sanitizers yet";
#endif
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    std::vector<std::string> errors;  // what each failed start said
    for (int free_slots = 0; free_slots < 8; ++free_slots) {
        std::vector<int> fillers;
        rlimit low = old;
        low.rlim_cur = static_cast<rlim_t>(mp::test::open_fds().size() + 64);
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
        for (int fd; (fd = ::dup(0)) >= 0;) fillers.push_back(fd);  // until EMFILE
        for (int i = 0; i < free_slots && !fillers.empty(); ++i) {
            ::close(fillers.back());
            fillers.pop_back();
        }
        try {
            mp::Process p([] {});
            p.start();
            p.join();
        } catch (const mp::OSError& e) {
            if (e.code() == EMFILE) errors.push_back(e.what());
        }
        for (int fd : fillers) ::close(fd);
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
    }
    bool saw_pidfd = false;
    for (const auto& what : errors) {
        EXPECT_EQ(what.find("5.3"), std::string::npos) << what;
        EXPECT_NE(what.find("Too many open files"), std::string::npos) << what;
        saw_pidfd = saw_pidfd || what.find("pidfd_open") != std::string::npos;
    }
    if (!saw_pidfd) GTEST_SKIP() << "no start failed at pidfd_open with EMFILE";
}
