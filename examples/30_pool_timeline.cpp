// A timeline and a progress bar: where the time of a Pool went.
//
//     MP_TRACE=trace.json ./30_pool_timeline      (or pass a path: ./30_pool_timeline t.json)
//
// Tasks of uneven length go through imap_unordered under mp::progress (a bar on stderr
// when it is a terminal); mp::trace_to writes, at exit, a Chrome trace with one track
// per worker: open it in https://ui.perfetto.dev to see each task as a slice, when it
// was queued, and the gaps where a worker waited.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ranges>
#include <string>
#include <thread>

// A task whose cost grows with n (a few ms for the largest).
std::uint64_t collatz_steps(std::uint64_t n) {
    std::uint64_t total = 0;
    for (std::uint64_t k = 1; k <= n * 50; ++k) {
        std::uint64_t x = k;
        while (x != 1) {
            x = (x % 2 == 0) ? x / 2 : 3 * x + 1;
            ++total;
        }
    }
    return total;
}

int main(int argc, char** argv) {
    std::string path = argc > 1 ? argv[1] : "pool_timeline.json";
    if (!mp::tracing()) {
        try {
            mp::trace_to(path);
        } catch (const mp::Error& e) {
            std::printf("no trace: %s\n", e.what());
        }
    }
    mp::Pool pool(4);
    std::uint64_t sum = 0;
    int n = 0;
    for (std::uint64_t steps :
         mp::progress(pool.imap_unordered(collatz_steps, std::views::iota(1, 121)), "collatz")) {
        sum += steps;
        ++n;
    }
    std::printf("%d tasks, %llu steps in all\n", n, static_cast<unsigned long long>(sum));
    if (mp::tracing())
        std::printf("trace: %s (open it in https://ui.perfetto.dev)\n", path.c_str());
}
