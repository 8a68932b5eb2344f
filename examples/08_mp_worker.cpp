// The guide's final exercise, mp_worker: a sequential CPU job made parallel with
// processes, then with a shared counter under get_lock(). Prints the time of each
// version and the speedup, and when each worker started and finished (they overlap:
// the processes really run at the same time).
//
// Python (the exercise's final form):
//     def worker(lo, hi, total):
//         n = count_primes(lo, hi)
//         with total.get_lock():
//             total.value += n
//     total = Value('i', 0)
//     procs = [Process(target=worker, args=(lo, hi, total)) for lo, hi in chunks]
#include <mp/mp.hpp>

#include "lang.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

using example::tr;

using Clock = std::chrono::steady_clock;

constexpr long kLimit = 2'000'000;  // count the primes below this
constexpr long kBlock = 10'000;     // work is dealt out in blocks, round-robin

bool is_prime(long n) {
    if (n < 2) return false;
    for (long d = 2; d * d <= n; ++d)
        if (n % d == 0) return false;
    return true;
}

long count_primes(long lo, long hi) {
    long n = 0;
    for (long x = lo; x < hi; ++x) n += is_prime(x) ? 1 : 0;
    return n;
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Worker w of `workers` takes blocks w, w + workers, w + 2*workers, ...
long my_share(int w, int workers) {
    long n = 0;
    for (long lo = w * kBlock; lo < kLimit; lo += workers * kBlock)
        n += count_primes(lo, std::min(lo + kBlock, kLimit));
    return n;
}

int main() {
    const int workers = mp::cpu_count() < 2 ? 2 : mp::cpu_count();
    std::printf(
        tr("Counting the primes below %ld.\n\n", "Contando los primos menores que %ld.\n\n"),
        kLimit);

    // 1. Sequential.
    // tour:begin sequential
    auto t0 = Clock::now();
    long sequential = count_primes(0, kLimit);
    double t_seq = ms_since(t0);
    std::printf(tr("1. sequential:                  %ld primes in %7.1f ms\n",
                   "1. secuencial:                  %ld primos en %7.1f ms\n"),
                sequential, t_seq);
    // tour:end sequential

    // 2. Parallel: each process writes its count into its own slot of a shared Array.
    mp::Array<long> partial(static_cast<std::size_t>(workers));
    mp::Array<double> started(static_cast<std::size_t>(workers)),
        finished(static_cast<std::size_t>(workers));
    t0 = Clock::now();
    std::vector<mp::Process> procs;
    for (int w = 0; w < workers; ++w) {
        procs.emplace_back([=]() mutable {
            auto i = static_cast<std::size_t>(w);
            started[i] = ms_since(t0);
            partial[i] = my_share(w, workers);
            finished[i] = ms_since(t0);
        });
    }
    for (auto& p : procs) p.start();
    for (auto& p : procs) p.join();
    double t_par = ms_since(t0);
    long parallel = 0;
    for (long x : partial) parallel += x;
    std::printf(tr("2. %d processes, Array slots:    %ld primes in %7.1f ms  (speedup %.2fx)\n",
                   "2. %d procesos, casillas Array: %ld primos en %7.1f ms  (aceleración %.2fx)\n"),
                workers, parallel, t_par, t_seq / t_par);
    for (int w = 0; w < workers; ++w) {
        auto i = static_cast<std::size_t>(w);
        std::printf(tr("     worker %d (pid %d): ran from %6.1f ms to %6.1f ms\n",
                       "     worker %d (pid %d): corrió de %6.1f ms a %6.1f ms\n"),
                    w, procs[i].pid(), started[i], finished[i]);
    }

    // 3. Parallel with one shared counter: each block's count is added under get_lock().
    // tour:begin value
    mp::Value<long> total(0);
    t0 = Clock::now();
    procs.clear();
    for (int w = 0; w < workers; ++w) {
        procs.emplace_back([=]() mutable {
            for (long lo = w * kBlock; lo < kLimit; lo += workers * kBlock) {
                long n = count_primes(lo, std::min(lo + kBlock, kLimit));
                std::lock_guard guard(total.get_lock());  // with total.get_lock():
                total.value() += n;                       //     total.value += n
            }
        });
    }
    for (auto& p : procs) p.start();
    for (auto& p : procs) p.join();
    // tour:end value
    double t_val = ms_since(t0);
    std::printf(tr("3. %d processes, Value+get_lock: %ld primes in %7.1f ms  (speedup %.2fx)\n",
                   "3. %d procesos, Value+get_lock: %ld primos en %7.1f ms  (aceleración %.2fx)\n"),
                workers, total.value(), t_val, t_seq / t_val);

    bool ok = parallel == sequential && total.value() == sequential;
    std::printf(
        tr("\nAll three agree: %s. The speedup is bounded by the %d CPUs this process may use.\n",
           "\nLas tres coinciden: %s. La aceleración está limitada por las %d CPU que este proceso "
           "puede usar.\n"),
        ok ? tr("yes", "sí") : "NO", mp::cpu_count());
    return ok ? 0 : 1;
}
