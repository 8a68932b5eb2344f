// Helpers for tests that start mp::Process children (shared by the sync/shared-memory tests).
#pragma once

#include <gtest/gtest.h>
#include <mp/process.hpp>

#include <chrono>

namespace mp::test {

/// Joins `p` within `timeout` (killing and reaping it otherwise, which fails the test)
/// and returns its exit code (-N if killed by signal N).
inline int finish(mp::Process& p, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    if (!p.join(timeout)) {
        p.kill();
        p.join();
        ADD_FAILURE() << "child " << p.pid() << " did not end in time";
    }
    return p.exitcode().value_or(-999);
}

}  // namespace mp::test
