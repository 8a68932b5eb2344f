// Process start+join of an empty target: mp beside raw fork+waitpid and Python's
// multiprocessing.Process (fork), all measured in this run.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "bench_common.hpp"
#include "mp/process.hpp"

int main() {
    constexpr int kN = 300;
    auto raw = [] {
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        waitpid(pid, nullptr, 0);
    };
    auto ours = [] {
        mp::Process p([] {});
        p.start();
        p.join();
    };
    // Interleave so both see the same machine state.
    double raw_s = 1e9, mp_s = 1e9;
    for (int i = 0; i < 3; ++i) {
        raw_s = std::min(raw_s, bench::per_op_seconds(raw, kN));
        mp_s = std::min(mp_s, bench::per_op_seconds(ours, kN));
    }
    double py_us = bench::python_figure("py_peers.py", "process 100");
    bench::header("Process start + join of an empty target (lower is better)");
    bench::row("mp::Process start+join", "raw fork+waitpid", mp_s * 1e6, raw_s * 1e6, "us");
    bench::row("mp::Process start+join", "Python Process", mp_s * 1e6, py_us, "us");
    std::printf("\ntarget: mp within 1.5x of raw fork+waitpid -> %s (%.2fx)\n",
                mp_s <= 1.5 * raw_s ? "met" : "NOT met", mp_s / raw_s);
}
