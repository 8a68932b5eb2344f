// mp::mpi::init and the life of the job: MPI's initialization, the same-code check,
// worker ranks serving, rank 0's exit telling them to exit, and the notes a dying
// rank (or rank 0, when mpirun ends the job) leaves on stderr.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "mp/errors.hpp"
#include "mp/mpi.hpp"
#include "mpi/mpi_internal.hpp"
#include "pool_transport.hpp"

namespace mp::mpi {

namespace detail {

Runtime& runtime() {
    static Runtime rt;
    return rt;
}

namespace {

// ---- death notes (everything below is read by signal handlers: plain words, no locks) ----

std::atomic<std::uint32_t> g_pool{0};
std::atomic<std::uint32_t> g_ticket{0};
std::atomic<std::uint64_t> g_code{0};
std::atomic<int> g_busy{0};
char g_who[256];  // "rank 2 (host n2, pid 1234)"

constexpr int kNotedRanks = 64;
struct InFlight {
    std::atomic<std::uint32_t> pool{0};
    std::atomic<std::uint32_t> first{0};
    std::atomic<std::uint32_t> count{0};
};
InFlight g_in_flight[kNotedRanks];

struct sigaction g_old[32];

void put(char*& at, char* end, const char* s) {
    while (*s != 0 && at < end) *at++ = *s++;
}
void put_number(char*& at, char* end, std::uint64_t v, int base = 10) {
    char buf[24];
    int n = 0;
    do {
        buf[n++] = "0123456789abcdef"[v % static_cast<unsigned>(base)];
        v /= static_cast<unsigned>(base);
    } while (v != 0);
    while (n > 0 && at < end) *at++ = buf[--n];
}

void on_fatal_signal(int sig, siginfo_t* info, void* ctx) {
    char buf[512];
    char* at = buf;
    char* end = buf + sizeof buf - 1;
    put(at, end, "mp::mpi: ");
    put(at, end, g_who);
    put(at, end, " is dying of signal ");
    put_number(at, end, static_cast<std::uint64_t>(sig));
    if (const char* name = ::sigabbrev_np(sig)) {
        put(at, end, " (SIG");
        put(at, end, name);
        put(at, end, ")");
    }
    if (g_busy.load(std::memory_order_relaxed) != 0) {
        put(at, end, " while running task ticket ");
        put_number(at, end, g_ticket.load(std::memory_order_relaxed));
        put(at, end, " of MPI pool ");
        put_number(at, end, g_pool.load(std::memory_order_relaxed));
        put(at, end, " (its code: the program + 0x");
        put_number(at, end, g_code.load(std::memory_order_relaxed), 16);
        put(at, end, ", name it with addr2line -Cfe <program> 0x...)");
    } else {
        put(at, end, " between tasks");
    }
    put(at, end, "; Open MPI ends the job.\n");
    [[maybe_unused]] auto w = ::write(2, buf, static_cast<std::size_t>(at - buf));
    // Hand over to whoever had the signal before (Open MPI prints a backtrace) or die.
    const struct sigaction& old = g_old[sig];
    if ((old.sa_flags & SA_SIGINFO) != 0 && old.sa_sigaction != nullptr) {
        old.sa_sigaction(sig, info, ctx);
    } else if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN &&
               old.sa_handler != nullptr) {
        old.sa_handler(sig);
    }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

void on_term(int sig, siginfo_t* info, void* ctx) {
    char buf[1024];
    char* at = buf;
    char* end = buf + sizeof buf - 1;
    put(at, end,
        "mp::mpi: rank 0 was told to stop (the job is ending: a rank died or mpirun "
        "was interrupted). Tasks the ranks held:");
    bool any = false;
    for (int r = 1; r < kNotedRanks; ++r) {
        std::uint32_t n = g_in_flight[r].count.load(std::memory_order_relaxed);
        if (n == 0) continue;
        any = true;
        put(at, end, " rank ");
        put_number(at, end, static_cast<std::uint64_t>(r));
        put(at, end, ": ");
        put_number(at, end, n);
        put(at, end, " (pool ");
        put_number(at, end, g_in_flight[r].pool.load(std::memory_order_relaxed));
        put(at, end, ", oldest ticket ");
        put_number(at, end, g_in_flight[r].first.load(std::memory_order_relaxed));
        put(at, end, ");");
    }
    if (!any) put(at, end, " none.");
    put(at, end, "\n");
    [[maybe_unused]] auto w = ::write(2, buf, static_cast<std::size_t>(at - buf));
    const struct sigaction& old = g_old[sig];
    if ((old.sa_flags & SA_SIGINFO) != 0 && old.sa_sigaction != nullptr) {
        old.sa_sigaction(sig, info, ctx);
        return;
    }
    if (old.sa_handler == SIG_IGN) return;
    if (old.sa_handler != SIG_DFL && old.sa_handler != nullptr) {
        old.sa_handler(sig);
        return;
    }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

void install(int sig, void (*handler)(int, siginfo_t*, void*)) {
    struct sigaction sa {};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, &g_old[sig]);
}

// ---- rank 0's end ----------------------------------------------------------------------

void finish_job() {
    auto& rt = runtime();
    if (!rt.initialized) return;
    rt.initialized = false;
    try {
        Control c;
        c.kind = Control::kExit;
        std::vector<Outgoing> sends;
        for (int r = 1; r < rt.size; ++r) {
            Bytes b(sizeof c);
            std::memcpy(b.data(), &c, sizeof c);
            sends.emplace_back(std::move(b), r, kTagControl);
        }
        sends.clear();  // each waits until its message is out
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mp::mpi: could not tell the worker ranks to exit: %s\n", e.what());
    }
    std::lock_guard lk(mpi_lock());
    MPI_Comm_free(&rt.comm);
    MPI_Finalize();
}

}  // namespace

void note_task(std::uint32_t pool, std::uint32_t ticket, std::uint64_t code_offset) noexcept {
    g_pool.store(pool, std::memory_order_relaxed);
    g_ticket.store(ticket, std::memory_order_relaxed);
    g_code.store(code_offset, std::memory_order_relaxed);
    g_busy.store(1, std::memory_order_release);
}

void note_idle() noexcept {
    g_busy.store(0, std::memory_order_release);
}

void note_in_flight(int rank, std::uint32_t pool, std::uint32_t first_ticket,
                    std::uint32_t count) noexcept {
    if (rank <= 0 || rank >= kNotedRanks) return;
    g_in_flight[rank].pool.store(pool, std::memory_order_relaxed);
    g_in_flight[rank].first.store(first_ticket, std::memory_order_relaxed);
    g_in_flight[rank].count.store(count, std::memory_order_relaxed);
}

void install_death_notes() {
    auto& rt = runtime();
    std::snprintf(g_who, sizeof g_who, "rank %d (host %s, pid %ld)", rt.rank, rt.host.c_str(),
                  static_cast<long>(::getpid()));
    if (rt.rank == 0) {
        install(SIGTERM, on_term);
    } else {
        for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) install(sig, on_fatal_signal);
    }
}

}  // namespace detail

void init(int& argc, char**& argv, Options options) {
    auto& rt = detail::runtime();
    int already = 0;
    MPI_Initialized(&already);
    if (already != 0 || rt.initialized) {
        throw ValueError(
            "mp::mpi::init: MPI is already initialized; call mp::mpi::init once, at the top "
            "of main, instead of MPI_Init");
    }
    if (options.workers_per_rank < 0) {
        throw ValueError(
            "mp::mpi::init: workers_per_rank must be 0 (tasks run in the rank) or "
            "more (a local pool per rank), got " +
            std::to_string(options.workers_per_rank));
    }
    int provided = 0;
    detail::check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided),
                      "MPI_Init_thread");
    if (provided < MPI_THREAD_SERIALIZED) {
        std::fprintf(stderr,
                     "mp::mpi::init: this MPI offers thread level %d, mp needs "
                     "MPI_THREAD_SERIALIZED (%d): use an MPI built with thread support\n",
                     provided, MPI_THREAD_SERIALIZED);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    detail::check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &rt.comm), "MPI_Comm_dup");
    MPI_Comm_rank(rt.comm, &rt.rank);
    MPI_Comm_size(rt.comm, &rt.size);
    rt.options = options;
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    rt.host = host;
    rt.initialized = true;
    detail::check_same_code();
    detail::install_death_notes();
    if (rt.rank != 0) detail::serve();
    // mp::get_context("mpi") from now on (the core keeps a registry, so it needs no MPI).
    mp::detail::register_pool_context("mpi", pool_options().transport);
    std::atexit(detail::finish_job);
}

int rank() {
    if (!detail::runtime().initialized)
        throw Error("mp::mpi::rank: call mp::mpi::init(argc, argv) first");
    return detail::runtime().rank;
}

int size() {
    if (!detail::runtime().initialized)
        throw Error("mp::mpi::size: call mp::mpi::init(argc, argv) first");
    return detail::runtime().size;
}

int workers_per_rank() {
    return detail::runtime().options.workers_per_rank;
}

}  // namespace mp::mpi
