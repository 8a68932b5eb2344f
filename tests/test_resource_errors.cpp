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
    // Not under ASan+UBSan: UBSan's vptr check (GCC 12's libsanitizer) tests that a vtable is
    // readable by writing it into a pipe(), which fails when no fd is free, so every virtual call
    // made then (throwing mp::OSError, the Process constructor) is reported as "invalid vptr" —
    // a false report (seen, 2026-12-02). The normal build runs this test.
    GTEST_SKIP() << "UBSan's vptr check needs a free fd (false reports with none free)";
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
