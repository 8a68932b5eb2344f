// Combining Queue + Lock + Pool in one solution (what the session reports asked for).
//
// Count the primes below 120 000 with a Pool of 4 processes, in 12 jobs of 10 000
// numbers. Every worker reports its progress: under one shared Lock it increments a
// shared "jobs done" Value and puts a log line into a shared Queue, so the lines arrive
// numbered in order. The main process prints the log while the work goes on, then the
// total from the Pool's results.
//
// Python:
//     def init(q, lock, done): global log, console, counter; log, console, counter = q, lock, done
//     def job(r):
//         n = count_primes(*r)
//         with console:
//             counter.value += 1
//             log.put(f"[{counter.value}/12] {r}: {n} primes")
//         return n
//     with Pool(4, initializer=init, initargs=(q, lock, done)) as pool:
//         result = pool.map_async(job, ranges)
//         for _ in ranges: print(q.get())
//         print(sum(result.get()))
#include <mp/mp.hpp>

#include "lang.hpp"

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using example::tr;

constexpr int kJobs = 12;
constexpr int kStep = 10'000;

int count_primes(int from, int to) {
    int n = 0;
    for (int k = from < 2 ? 2 : from; k < to; ++k) {
        bool prime = true;
        for (int d = 2; d * d <= k; ++d) {
            if (k % d == 0) {
                prime = false;
                break;
            }
        }
        n += prime;
    }
    return n;
}

// What each worker's initializer keeps: handles to the shared objects (Python's globals).
// tour:begin worker
struct Shared {
    mp::Queue<std::string> log;
    mp::Lock lock;
    mp::Value<int> done;
};
std::optional<Shared> shared;

void init_worker(mp::Queue<std::string> log, mp::Lock lock, mp::Value<int> done) {
    shared.emplace(Shared{std::move(log), std::move(lock), std::move(done)});
}

int job(std::pair<int, int> range) {
    int n = count_primes(range.first, range.second);
    std::lock_guard g(shared->lock);  // with lock:  counter and log line change together
    int k = ++shared->done.value();
    shared->log.put("[" + std::to_string(k) + "/" + std::to_string(kJobs) + "] worker " +
                    std::to_string(mp::current_process().pid()) + " counted " + std::to_string(n) +
                    " primes in [" + std::to_string(range.first) + ", " +
                    std::to_string(range.second) + ")");
    return n;
}
// tour:end worker

int main() {
    mp::Queue<std::string> log;
    mp::Lock lock;
    mp::Value<int> done(0);

    std::vector<std::pair<int, int>> ranges;
    for (int i = 0; i < kJobs; ++i) ranges.emplace_back(i * kStep, (i + 1) * kStep);

    // tour:begin main
    mp::Pool pool(4, init_worker, log, lock, done);
    auto counts = pool.map_async(job, ranges, 1);  // one range per task; returns at once

    for (int i = 0; i < kJobs; ++i)
        std::printf("%s\n", log.get().c_str());  // the log, as it is written

    int total = 0;
    for (int c : counts.get()) total += c;
    // tour:end main
    std::printf(tr("primes below %d: %d (jobs done: %d)\n",
                   "primos menores que %d: %d (trabajos hechos: %d)\n"),
                kJobs * kStep, total, done.load());
    std::printf(tr("matches the sequential count: %s\n", "coincide con la cuenta secuencial: %s\n"),
                total == count_primes(0, kJobs * kStep) ? tr("yes", "sí") : "no");
    pool.close();
    pool.join();
}
