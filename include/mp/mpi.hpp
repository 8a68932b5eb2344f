// mp/mpi.hpp — the same Pool across machines, on MPI (Python: mpi4py.futures,
// `mpiexec -n N python -m mpi4py.futures script.py`).
//
//     int square(int x) { return x * x; }
//
//     int main(int argc, char** argv) {
//         mp::mpi::init(argc, argv);       // ranks > 0 serve tasks in here and exit there
//         mp::Pool pool(mp::get_context("mpi"));    // rank 0: one worker per other rank
//         auto r = pool.map(square, std::vector{1, 2, 3});   // the whole Pool API
//     }
//     // mpirun -n 4 ./app          (or: mpirun --hostfile hosts -n 16 ./app)
//
// `init` registers the context "mpi" with the core (mp::get_context("mpi") before it →
// ValueError saying to call init; get_all_start_methods() lists "mpi" after it):
// mp::Pool(ctx), ctx.Pool(n) and ExecutorOptions{.context = ctx} all give MPI pools.
// The Pool is the Pool of <mp/pool.hpp> — its scheduler, chunking, callbacks and
// errors — with a second transport under it: its workers are the other ranks.
//
// SPMD, no spawn: every rank runs the same program. `init` initializes MPI; on
// ranks > 0 it never returns — the rank serves the tasks of every MPI Pool rank 0
// makes, one pool after the other, and exits (status 0) when rank 0's program ends.
// Rank 0 returns from `init` and runs `main`. Run it without mpirun and the program
// is a job of one rank: an MPI Pool then has no workers (ValueError), a local Pool
// works as always.
//
// Same code on every rank, checked: a task names its code by module + offset
// (<mp/detail/task.hpp>), so every rank must load the same binary and libraries.
// `init` gathers each rank's GNU build ids (the program is linked with --build-id)
// and module list; if a rank differs, rank 0 prints which rank, which module and
// what to do, and the job stops (MPI_Abort) before any task runs.
//
// What crosses machines: task functions (by identity), arguments, results and
// exceptions (as on one machine: <mp/serialize.hpp>). What does not: anything that
// lives in one machine's memory or kernel — Queue, Lock, Value, SharedMemory, Pipe,
// and pointers captured by a lambda. A handle as a task argument (or inside map/starmap
// items) compiles, as on one machine, but an MPI pool refuses it when it is submitted:
// mp::ValueError naming the handle's type and what to pass instead, before anything is
// sent; a captured pointer is not detectable and means nothing on another machine.
// The initializer (ctx.Pool(n, init, args...), PoolOptions/ExecutorOptions
// .initializer) must be sendable — a function or a captureless lambda with serializable
// arguments — and runs on every worker rank before its first task (with
// workers_per_rank = N: in each of its N local workers); a capturing one, or one with a
// handle argument → ValueError when the Pool is made. Tasks are not moved between
// ranks once sent (no work stealing across machines).
//
// Workers: by default each rank > 0 is one worker and runs tasks in its own
// process. With `{.workers_per_rank = N}` each rank > 0 runs a local shared-memory
// Pool of N forked workers (one rank per node drives all its cores) and the MPI Pool
// has (size-1)·N workers; a task that crashes then kills only its local worker and
// rank 0 gets mp::WorkerLost naming the rank, as on one machine.
//
// Failures: a task's exception → mp::RemoteError on rank 0. A rank that dies (a
// crash with workers_per_rank = 0, the OOM killer, a lost node) ends the whole job —
// Open MPI stops every rank; before that the dying rank prints which rank, host and
// task it was, and rank 0 (stopped by mpirun with SIGTERM) prints the tasks each rank
// held. No rank is left running. With workers_per_rank > 0 each worker rank forks its
// local workers (through the Pool's zygote) after MPI_Init: they never call MPI; Open
// MPI's own threads are the only ones in the rank at that fork.
//
// Idle ranks do not burn CPU: a waiting rank probes for messages for 1 ms (yielding),
// then with sleeps growing from 1 µs to 1 ms (Open MPI's blocking receive would spin
// at 100%).
//
// Threads: MPI is initialized at MPI_THREAD_SERIALIZED (FUNNELED is not enough: the
// pool's background thread and the threads waiting on the pool all make MPI calls); mp
// makes them one at a time under its own lock. Your own MPI calls on rank 0 must not
// overlap with a running MPI Pool's.
#pragma once

#include "mp/futures.hpp"
#include "mp/pool.hpp"

namespace mp::mpi {

/// What `init` sets up.
struct Options {
    /// 0: each rank > 0 is one worker running tasks in its own process. N > 0: each
    /// rank > 0 runs a local Pool of N forked workers. Negative → ValueError.
    int workers_per_rank = 0;
};

/// Initializes MPI and checks that every rank runs the same code. On rank 0 returns;
/// on other ranks serves tasks and exits when rank 0's program ends. Call it once, at
/// the top of main, before any thread or Process is started. ValueError when called
/// twice.
void init(int& argc, char**& argv, Options options = {});

/// This process's rank in MPI_COMM_WORLD (0 on the rank that runs main). Error before init.
[[nodiscard]] int rank();
/// The number of ranks in the job. Error before init.
[[nodiscard]] int size();
/// The workers_per_rank given to init.
[[nodiscard]] int workers_per_rank();

/// Options for a Pool whose workers are the other ranks: `mp::Pool pool(pool_options())`
/// (what mp::get_context("mpi") gives). `base.processes` 0 takes every worker
/// ((size-1)·max(1, workers_per_rank)), fewer takes the first ones, more → ValueError
/// when the Pool is made; `base.initializer` must be sendable (see above), else
/// ValueError. One MPI Pool at a time: a second while one is open → ValueError.
[[nodiscard]] PoolOptions pool_options(PoolOptions base = {});

/// The same for concurrent.futures: `mp::futures::ProcessPoolExecutor ex(executor_options())`.
[[nodiscard]] futures::ExecutorOptions executor_options(futures::ExecutorOptions base = {});

}  // namespace mp::mpi
