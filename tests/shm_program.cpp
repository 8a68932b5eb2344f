// A separate program for the SharedMemory lifetime tests (its own resource tracker):
//     mp_shm_program kill|exit|full
// kill: creates a tracked and an untracked segment, prints "tracked <name>",
//       "untracked <name>" and "tracker <pid>", then dies of SIGKILL (no destructor runs).
// exit: the same, then returns from main without unlinking anything.
// full: (run where /dev/shm is a 1 MiB tmpfs) creates a 4 MiB segment: prints "ENOSPC" if
//       that is refused with OSError(ENOSPC); if it is not, writes every byte of it.
#include <mp/errors.hpp>
#include <mp/shared_memory.hpp>

#include <signal.h>

#include <cerrno>

#include <cstdio>
#include <cstring>
#include <string>

#include "resource_tracker.hpp"

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "kill" || mode == "exit") {
        mp::SharedMemory tracked(4096);
        mp::SharedMemory untracked(4096, /*track=*/false);
        std::memcpy(tracked.buf().data(), "left behind", 11);
        std::printf("tracked %s\nuntracked %s\ntracker %d\n", tracked.name().c_str(),
                    untracked.name().c_str(), mp::detail::tracker_pid());
        std::fflush(stdout);
        if (mode == "kill") ::raise(SIGKILL);
        return 0;
    }
    if (mode == "full") {
        try {
            mp::SharedMemory big(4 << 20);
            std::memset(big.buf().data(), 1, big.size());  // SIGBUS if not reserved
            std::printf("created and written\n");
            big.unlink();
        } catch (const mp::OSError& e) {
            std::printf("%s\n%s\n", e.code() == ENOSPC ? "ENOSPC" : "another error", e.what());
        }
        return 0;
    }
    std::fprintf(stderr, "usage: mp_shm_program kill|exit|full\n");
    return 2;
}
