// A task that crashes its rank (workers_per_rank = 0): Open MPI ends the whole job. The
// test (ctest MpiPool.ARankThatDiesEndsTheJobAndSaysWhich) checks what the user sees:
// the dying rank's note (which rank, host, task) — and that mpirun returns at all, i.e.
// no rank is left running.
#include <csignal>
#include <cstdio>

#include "mp/mp.hpp"
#include "mp/mpi.hpp"

namespace {
int crash(int) {
    std::raise(SIGSEGV);
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    mp::mpi::init(argc, argv);
    mp::Pool pool(mp::mpi::pool_options());
    std::printf("sending the task that crashes\n");
    std::fflush(stdout);
    (void)pool.apply(crash, 1);
    std::printf("unreachable: the job should have ended\n");
    return 0;
}
