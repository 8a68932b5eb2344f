// Mini-exercise 1 of session 8: three processes sum different ranges of numbers and
// put their partial sums on a Queue; the main process adds the partial sums.
//
// Python:
//     def suma(q, i, a, b):
//         q.put((i, sum(range(a, b))))
//     q = Queue()
//     ps = [Process(target=suma, args=(q, i, a, b)) for i, (a, b) in enumerate(rangos)]
//     ...
//     total = sum(q.get()[1] for _ in ps)
#include <mp/mp.hpp>

#include "lang.hpp"

#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

using example::tr;

using Partial = std::pair<int, std::int64_t>;  // (worker, sum of its range)

// tour:begin worker
void sum_range(mp::Queue<Partial> q, int worker, std::int64_t begin, std::int64_t end) {
    std::int64_t s = 0;
    for (std::int64_t k = begin; k < end; ++k) s += k;
    q.put({worker, s});
}
// tour:end worker

int main() {
    const std::int64_t n = 30'000'000;  // sum 1 .. n
    const int workers = 3;
    mp::Queue<Partial> q;
    std::vector<mp::Process> ps;
    for (int w = 0; w < workers; ++w) {
        std::int64_t begin = 1 + n * w / workers, end = 1 + n * (w + 1) / workers;
        std::printf(tr("Process %d sums %lld .. %lld\n", "El proceso %d suma %lld .. %lld\n"), w,
                    static_cast<long long>(begin), static_cast<long long>(end - 1));
        ps.emplace_back(sum_range, q, w, begin, end);
    }
    // tour:begin collect
    for (auto& p : ps) p.start();

    // The partial sums arrive in whatever order the processes finish.
    std::vector<std::int64_t> partial(workers);
    std::int64_t total = 0;
    for (int i = 0; i < workers; ++i) {
        auto [w, s] = q.get();
        partial[static_cast<std::size_t>(w)] = s;
        total += s;
    }
    for (auto& p : ps) p.join();
    // tour:end collect
    for (int w = 0; w < workers; ++w) {
        std::printf(tr("Partial sum of process %d: %lld\n", "Suma parcial del proceso %d: %lld\n"),
                    w, static_cast<long long>(partial[static_cast<std::size_t>(w)]));
    }
    const std::int64_t expected = n * (n + 1) / 2;
    std::printf(tr("Total: %lld; n(n+1)/2 = %lld: %s\n", "Total: %lld; n(n+1)/2 = %lld: %s\n"),
                static_cast<long long>(total), static_cast<long long>(expected),
                total == expected ? tr("correct", "correcto") : tr("WRONG", "INCORRECTO"));
    return total == expected ? 0 : 1;
}
