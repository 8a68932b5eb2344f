// Shared by the benchmark programs: timing, peers run through python3, the table.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace bench {

using clock = std::chrono::steady_clock;

/// Seconds per call of `op`, as the median over `rounds` timed batches of `n` calls.
template <class F>
double per_op_seconds(F&& op, int n, int rounds = 5) {
    std::vector<double> t;
    for (int r = 0; r < rounds; ++r) {
        auto t0 = clock::now();
        for (int i = 0; i < n; ++i) op();
        t.push_back(std::chrono::duration<double>(clock::now() - t0).count() / n);
    }
    std::nth_element(t.begin(), t.begin() + rounds / 2, t.end());
    return t[static_cast<std::size_t>(rounds / 2)];
}

/// Runs `python3 <MP_BENCH_DIR>/<script> <args>` and reads the number it prints last.
/// Returns a negative value if python3 or the script is unavailable.
inline double python_figure(const std::string& script, const std::string& args) {
    std::string cmd =
        "python3 " + std::string(MP_BENCH_DIR) + "/" + script + " " + args + " 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
    if (!p) return -1;
    double v = -1, x = 0;
    while (std::fscanf(p.get(), "%lf", &x) == 1) v = x;
    return v;
}

inline void header(const char* title) {
    std::printf("\n%s\n%-44s %14s %14s %10s\n", title, "operation", "mp", "peer", "mp/peer");
}

/// One row: our figure, the peer's and their ratio (lower is better for times).
inline void row(const std::string& what, const std::string& peer, double ours, double theirs,
                const char* unit) {
    std::printf("%-44s %11.2f %-2s %11.2f %-2s %9.2fx   (peer: %s)\n", what.c_str(), ours, unit,
                theirs, unit, theirs > 0 ? ours / theirs : 0.0, peer.c_str());
}

}  // namespace bench
