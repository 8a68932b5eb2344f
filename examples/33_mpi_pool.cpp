// Lesson 33 — the same Pool across machines (Python: mpi4py.futures).
//
//     mpirun -n 3 build/examples/33_mpi_pool                      # one machine, 3 ranks
//     mpirun --hostfile hosts -n 8 build/examples/33_mpi_pool     # several machines
//
// Rank 0 runs main; every other rank serves the pool's tasks inside mp::mpi::init.
// Run it without mpirun and it is a job of one rank: it says so and uses a local Pool.
#include <mp/mp.hpp>
#include <mp/mpi.hpp>

#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>
#include "lang.hpp"

using example::tr;

namespace {

long collatz_steps(long n) {
    long steps = 0;
    for (; n != 1; ++steps) n = n % 2 == 0 ? n / 2 : 3 * n + 1;
    return steps;
}

// Where a task ran: the rank and its host, so you see the work spread.
std::string where(int) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    return "rank " + std::to_string(mp::mpi::rank()) + " on " + host;
}

}  // namespace

int main(int argc, char** argv) {
    mp::mpi::init(argc, argv);  // ranks > 0 never return from here
    std::printf(tr("rank 0 of %d ranks\n", "rango 0 de %d rangos\n"), mp::mpi::size());
    mp::Pool pool = mp::mpi::size() > 1 ? mp::Pool(mp::get_context("mpi")) : mp::Pool(2);
    std::printf(tr("the pool has %zu workers\n", "el pool tiene %zu workers\n"), pool.processes());

    std::vector<long> numbers;
    for (long n = 1; n <= 100000; ++n) numbers.push_back(n);
    std::vector<long> steps = pool.map(collatz_steps, numbers);
    long best = 1;
    for (long n = 1; n <= 100000; ++n) {
        if (steps[static_cast<std::size_t>(n - 1)] > steps[static_cast<std::size_t>(best - 1)])
            best = n;
    }
    std::printf(tr("below 100000, %ld takes the most Collatz steps: %ld\n",
                   "bajo 100000, %ld es el que más pasos de Collatz da: %ld\n"),
                best, steps[static_cast<std::size_t>(best - 1)]);

    std::map<std::string, int> tally;
    for (const auto& w : pool.map(where, std::vector<int>(20, 0), 1)) ++tally[w];
    for (const auto& [w, n] : tally)
        std::printf(tr("%2d tasks ran on %s\n", "%2d tareas corrieron en %s\n"), n, w.c_str());

    try {
        (void)pool.apply([](int x) -> int { throw std::runtime_error("bad " + std::to_string(x)); },
                         7);
    } catch (const mp::RemoteError& e) {
        std::printf(tr("a task's exception came back to rank 0: %s\n",
                       "la excepción de una tarea volvió al rango 0: %s\n"),
                    example::spanish() ? "mp::RemoteError" : e.what());
    }
    return 0;
}
