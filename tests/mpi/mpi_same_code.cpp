// Built twice (MP_VARIANT "a" and "b"), so the two binaries have different build ids.
// Alone, every rank runs the same code and the program prints one line on rank 0; mixed
// (mpirun -n 1 a : -n 2 b), init must stop the job naming rank 1.
#include <cstdio>

#include "mp/mpi.hpp"

int main(int argc, char** argv) {
    mp::mpi::init(argc, argv);
    std::printf("variant %s, ranks: %d, same code\n", MP_VARIANT, mp::mpi::size());
    return 0;
}
