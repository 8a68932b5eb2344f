// 8-byte round trips parent -> child -> parent: mp::Pipe beside a raw socketpair
// (write/read) and Python's multiprocessing.Pipe, all measured in this run, as
// distributions (p50/p99/p99.9 of each round trip), with the two processes placed on two
// CPUs, both on one CPU (sched_setaffinity), and left to the scheduler.
//
//     bench_pipe            # every placement, 3 interleaved runs each
//     bench_pipe 5          # 5 runs each
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "mp/connection.hpp"
#include "mp/process.hpp"

namespace {

constexpr int kN = 20000;
constexpr int kWarm = 2000;

enum class Place { two_cpus, one_cpu, unplaced };

const char* place_name(Place p) {
    switch (p) {
        case Place::two_cpus:
            return "on two CPUs";
        case Place::one_cpu:
            return "on one CPU";
        case Place::unplaced:
            return "unplaced";
    }
    return "";
}

// Pins the calling process to CPU `cpu` (for `p`; the child gets cpu 1 on two CPUs).
void pin(Place p, bool child) {
    if (p == Place::unplaced) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(p == Place::two_cpus && child ? 1 : 0, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("sched_setaffinity");
}

void unpin() {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < CPU_SETSIZE; ++i) CPU_SET(i, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

struct Dist {
    double p50 = 0, p99 = 0, p999 = 0;
};

template <class Op>
Dist time_ops(Op&& op) {
    for (int i = 0; i < kWarm; ++i) op();
    std::vector<double> t(kN);
    for (int i = 0; i < kN; ++i) {
        auto t0 = bench::clock::now();
        op();
        t[static_cast<std::size_t>(i)] =
            std::chrono::duration<double, std::micro>(bench::clock::now() - t0).count();
    }
    std::sort(t.begin(), t.end());
    auto at = [&](double q) { return t[static_cast<std::size_t>(q * (kN - 1))]; };
    return {at(0.5), at(0.99), at(0.999)};
}

Dist raw_round_trip(Place place) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) std::abort();
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        pin(place, true);
        std::uint64_t x;
        while (read(sv[1], &x, sizeof x) == sizeof x) {
            if (write(sv[1], &x, sizeof x) != sizeof x) break;
        }
        _exit(0);
    }
    close(sv[1]);
    pin(place, false);
    std::uint64_t x = 1;
    Dist d = time_ops([&] {
        if (write(sv[0], &x, sizeof x) != sizeof x || read(sv[0], &x, sizeof x) != sizeof x)
            std::abort();
    });
    close(sv[0]);
    waitpid(pid, nullptr, 0);
    unpin();
    return d;
}

Dist mp_round_trip(Place place) {
    auto [a, b] = mp::Pipe();
    mp::Process echo(
        [](mp::Connection c, mp::Connection parent_end, int where) {
            parent_end.close();  // or this child would keep the parent's end open: no EOF
            pin(static_cast<Place>(where), true);
            try {
                for (;;) c.send(c.recv<std::uint64_t>());
            } catch (const mp::EOFError&) {
            }
        },
        b, a, static_cast<int>(place));
    echo.start();
    b.close();
    pin(place, false);
    std::uint64_t x = 1;
    Dist d = time_ops([&] {
        a.send(x);
        x = a.recv<std::uint64_t>();
    });
    a.close();
    echo.join();
    unpin();
    return d;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    std::printf(
        "8-byte round trip parent -> child -> parent, %d interleaved runs per placement, "
        "%d round trips each (%ld CPUs online)\n",
        runs, kN, cpus);
    double mp_unplaced_p50 = 0;
    for (Place place : {Place::two_cpus, Place::one_cpu, Place::unplaced}) {
        if (place == Place::two_cpus && cpus < 2) continue;
        std::vector<double> ratios, mp50, raw50, mp99, raw99, mp999, raw999;
        for (int r = 0; r < runs; ++r) {
            Dist raw = raw_round_trip(place);
            Dist ours = mp_round_trip(place);
            std::printf(
                "  %-12s run %d: mp p50 %7.2f p99 %7.2f p99.9 %7.2f us | raw p50 %7.2f "
                "p99 %7.2f p99.9 %7.2f us | p50 ratio %.3f\n",
                place_name(place), r + 1, ours.p50, ours.p99, ours.p999, raw.p50, raw.p99, raw.p999,
                ours.p50 / raw.p50);
            ratios.push_back(ours.p50 / raw.p50);
            mp50.push_back(ours.p50);
            raw50.push_back(raw.p50);
            mp99.push_back(ours.p99);
            raw99.push_back(raw.p99);
            mp999.push_back(ours.p999);
            raw999.push_back(raw.p999);
        }
        std::string what = std::string(" ") + place_name(place);
        bench::header(("8-byte round trip" + what + " (median of runs; lower is better)").c_str());
        bench::row("mp::Pipe p50" + what, "raw socketpair p50", median(mp50), median(raw50), "us");
        bench::row("mp::Pipe p99" + what, "raw socketpair p99", median(mp99), median(raw99), "us");
        bench::row("mp::Pipe p99.9" + what, "raw socketpair p99.9", median(mp999), median(raw999),
                   "us");
        auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
        std::printf("p50 ratio mp/raw: median %.3f, spread %.3f..%.3f\n", median(ratios), *lo, *hi);
        if (place == Place::two_cpus)
            std::printf("target (two CPUs): p50 <= 0.2x raw -> %s (goal 0.1x)\n",
                        median(ratios) <= 0.2 ? "met" : "NOT met");
        if (place == Place::one_cpu)
            std::printf("target (one CPU): no regression (p50 <= 1.1x raw) -> %s\n",
                        median(ratios) <= 1.1 ? "met" : "NOT met");
        if (place == Place::unplaced) mp_unplaced_p50 = median(mp50);
    }
    double py_us = bench::python_figure("py_peers.py", "pipe 20000");
    bench::header("8-byte round trip, unplaced (mean for Python; lower is better)");
    bench::row("mp::Pipe send/recv<uint64_t> p50", "Python Pipe send/recv mean", mp_unplaced_p50,
               py_us, "us");
}
