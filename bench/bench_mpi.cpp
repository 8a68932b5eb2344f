// bench_mpi: mp::Pool over MPI beside mpi4py.futures (bench/py_mpi.py), in one run.
// Run it under mpirun, as its peer runs:
//
//     mpirun -n 3 build/bench/bench_mpi            # rank 0 measures, ranks 1-2 serve
//
// Rank 0 measures mp, closes its pool (the worker ranks idle, sleeping), then runs
// `mpirun -n 3 /usr/bin/python3 -m mpi4py.futures bench/py_mpi.py` as a separate job
// and prints both:
//
//   map      trivial fn over ints, automatic chunksize        target ≥ 10× mpi4py per item
//   async    apply_async throughput (submit all, get all)     target ≥ 10× mpi4py (submit)
//   apply    round trip of one small task                     target ≤ ½ mpi4py's
//
// mpi4py's map is shown twice: with its default chunksize (1) and with the chunksize
// Python's Pool.map would pick (the one mp uses). `bench_mpi N_MAP N_ASYNC N_APPLY`.
#include <mp/mp.hpp>
#include <mp/mpi.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "bench_common.hpp"

extern char** environ;

namespace {

int sq(int x) {
    return x * x;
}

double median_of_3(auto&& run) {
    std::vector<double> t{run(), run(), run()};
    std::sort(t.begin(), t.end());
    return t[1];
}

// The peer runs as its own MPI job: this job's variables (OMPI_*, PMIX_*) are removed
// from its environment so that its mpirun starts afresh.
std::map<std::string, double> run_peer(int n_map, int n_async, int n_apply) {
    std::string cmd = "env";
    for (char** e = environ; *e != nullptr; ++e) {
        std::string v(*e);
        std::string name = v.substr(0, v.find('='));
        bool job = name.rfind("OMPI_", 0) == 0 || name.rfind("PMIX_", 0) == 0 ||
                   name.rfind("ORTE_", 0) == 0 || name.rfind("OPAL_", 0) == 0;
        // Keep the transport choices (OMPI_MCA_btl*); mpirun's own settings must go.
        if (job && name.rfind("OMPI_MCA_btl", 0) != 0) cmd += " -u " + name;
    }
    cmd += " mpirun -n 3 --oversubscribe";
    if (::getuid() == 0) cmd += " --allow-run-as-root";
    cmd += " /usr/bin/python3 -m mpi4py.futures " + std::string(MP_BENCH_DIR) + "/py_mpi.py " +
           std::to_string(n_map) + " " + std::to_string(n_async) + " " + std::to_string(n_apply) +
           " 2>&1";
    std::map<std::string, double> out;
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    if (!p) return out;
    char name[128];
    double v = 0;
    char line[512];
    while (std::fgets(line, sizeof line, p.get()) != nullptr) {
        if (std::sscanf(line, "%127s %lf", name, &v) == 2) out[name] = v;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    mp::mpi::init(argc, argv);
    int n_map = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
    int n_async = argc > 2 ? std::atoi(argv[2]) : 20'000;
    int n_apply = argc > 3 ? std::atoi(argv[3]) : 2'000;
    if (mp::mpi::size() != 3) {
        std::fprintf(stderr, "bench_mpi: run it as mpirun -n 3 %s (got %d ranks)\n", argv[0],
                     mp::mpi::size());
        return 2;
    }
    double map_us = 0, async_us = 0, apply_us = 0;
    {
        mp::Pool pool(mp::mpi::pool_options());
        std::vector<int> items(static_cast<std::size_t>(n_map));
        std::iota(items.begin(), items.end(), 0);
        (void)pool.map(sq, std::vector<int>(1000, 1));  // warm up
        map_us = median_of_3([&] {
                     auto t = bench::clock::now();
                     auto r = pool.map(sq, items);
                     double dt = std::chrono::duration<double>(bench::clock::now() - t).count();
                     if (r.back() != sq(n_map - 1)) std::abort();
                     return dt;
                 }) /
                 n_map * 1e6;
        async_us = median_of_3([&] {
                       auto t = bench::clock::now();
                       std::vector<mp::AsyncResult<int>> rs;
                       rs.reserve(static_cast<std::size_t>(n_async));
                       for (int i = 0; i < n_async; ++i) rs.push_back(pool.apply_async(sq, i));
                       long long total = 0;
                       for (auto& r : rs) total += r.get();
                       double dt = std::chrono::duration<double>(bench::clock::now() - t).count();
                       if (total < 0) std::abort();
                       return dt;
                   }) /
                   n_async * 1e6;
        apply_us = median_of_3([&] {
                       auto t = bench::clock::now();
                       for (int i = 0; i < n_apply; ++i) (void)pool.apply(sq, i);
                       return std::chrono::duration<double>(bench::clock::now() - t).count();
                   }) /
                   n_apply * 1e6;
    }
    // The peer: fewer items (it is ~100× slower per task); per-item figures compare.
    auto py = run_peer(std::max(1, n_map / 50), std::max(1, n_async / 4), std::max(1, n_apply / 2));
    auto peer = [&py](const char* k) { return py.count(k) ? py[k] : -1.0; };

    bench::header("Pool over MPI (mpirun -n 3: rank 0 submits, 2 worker ranks)");
    bench::row("map, per item (auto chunksize)", "mpi4py map, chunksize=1 (its default)", map_us,
               peer("py_map_us_per_item"), "us");
    bench::row("map, per item (auto chunksize)", "mpi4py map, Pool.map's chunksize", map_us,
               peer("py_map_chunked_us_per_item"), "us");
    bench::row("apply_async, per task", "mpi4py executor.submit", async_us,
               peer("py_submit_us_per_task"), "us");
    bench::row("apply round trip", "mpi4py submit(...).result()", apply_us, peer("py_roundtrip_us"),
               "us");
    if (py.empty()) std::printf("(mpi4py.futures did not run: apt-get install python3-mpi4py)\n");
    return 0;
}
