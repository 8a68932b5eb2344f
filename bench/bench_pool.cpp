// bench_pool: mp::Pool beside Python's multiprocessing.Pool (bench/py_pool.py, run by
// this program in the same run) and a raw pipe round trip, on 2 workers.
//
//   map      trivial fn over 1e6 ints, automatic chunksize on both sides   target ≥ 20× Python
//   apply    round trip of one small task, beside a raw pipe round trip    target ≤ 3 µs
//   async    apply_async throughput (submit all, then get all)             target ≥ 40× Python
//   submit   ProcessPoolExecutor.submit throughput (submit all, result all) target ≥ 40× Python's
//   ex.map   ProcessPoolExecutor.map per item, chunksize 64 on both sides  (info)
//   cpu      CPU-bound map vs the same loop run sequentially               target ≥ 1.8×
//
// Each figure is the median of REPS runs (default 3; `bench_pool REPS`).
// `bench_pool --apply [ROUNDS]` measures only the apply round trip, ROUNDS times
// (default 9), each beside a raw pipe round trip of the same run, and prints the
// median, min and max of both (quick, for the round-trip target).

#include <mp/futures.hpp>
#include <mp/mp.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int sq(int x) {
    return x * x;
}

std::uint64_t burn(std::uint64_t n) {
    std::uint64_t s = 0;
    for (std::uint64_t i = 0; i < n; ++i) s = (s * 31 + i) % 1000003;
    return s;
}

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

double children_cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_CHILDREN, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// A raw round trip: 8 bytes over a pipe to a forked echo child and back.
double raw_pipe_roundtrip_us(int n) {
    int a[2], b[2];
    if (::pipe(a) != 0 || ::pipe(b) != 0) std::abort();
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(a[1]);
        ::close(b[0]);
        std::uint64_t x;
        while (::read(a[0], &x, sizeof x) == sizeof x) {
            if (::write(b[1], &x, sizeof x) != sizeof x) break;
        }
        ::_exit(0);
    }
    std::uint64_t x = 0;
    auto t = Clock::now();
    for (int i = 0; i < n; ++i) {
        x = static_cast<std::uint64_t>(i);
        if (::write(a[1], &x, sizeof x) != sizeof x || ::read(b[0], &x, sizeof x) != sizeof x)
            std::abort();
    }
    double dt = seconds_since(t);
    ::close(a[1]);
    ::waitpid(pid, nullptr, 0);
    ::close(a[0]);
    ::close(b[0]);
    ::close(b[1]);
    return dt / n * 1e6;
}

std::map<std::string, std::vector<double>> run_python(int n_map, int n_async, int n_apply) {
    std::map<std::string, std::vector<double>> out;
    std::string cmd = "python3 " MP_BENCH_DIR "/py_pool.py " + std::to_string(n_map) + " " +
                      std::to_string(n_async) + " " + std::to_string(n_apply);
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    if (!p) return out;
    char name[128];
    double v;
    char unit[16];
    while (std::fscanf(p.get(), "%127s %lf %15s", name, &v, unit) == 3) out[name].push_back(v);
    return out;
}

// Every apply round trip timed alone (us), for the distribution beside the mean.
std::vector<double> g_apply_calls;

double apply_roundtrip_us(mp::Pool& pool, int n) {
    auto t = Clock::now();
    for (int i = 0; i < n; ++i) {
        auto t1 = Clock::now();
        if (pool.apply(sq, i) != i * i) std::abort();
        g_apply_calls.push_back(seconds_since(t1) * 1e6);
    }
    return seconds_since(t) / n * 1e6;
}

// "p50 1.7 p99 8.1 p99.9 40 (6000 calls)" of the apply round trips timed so far.
std::string apply_distribution() {
    auto v = g_apply_calls;
    if (v.empty()) return "no calls";
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        return v[std::min(v.size() - 1,
                          static_cast<std::size_t>(q * static_cast<double>(v.size())))];
    };
    char buf[160];
    std::snprintf(buf, sizeof buf, "p50 %.2f  p99 %.2f  p99.9 %.1f us (%zu calls, each timed)",
                  at(0.5), at(0.99), at(0.999), v.size());
    return buf;
}

// --apply: the round trip alone, interleaved with its raw peer.
int apply_only(int rounds) {
    const int n = 2'000;
    std::vector<double> ours, pipe;
    mp::Pool pool(2);
    (void)apply_roundtrip_us(pool, 200);  // warm up
    for (int r = 0; r < rounds; ++r) {
        ours.push_back(apply_roundtrip_us(pool, n));
        pipe.push_back(raw_pipe_roundtrip_us(n));
    }
    auto show = [](const char* name, std::vector<double> v) {
        std::sort(v.begin(), v.end());
        std::printf("%-36s median %7.2f us   min %7.2f   max %7.2f   (%zu runs of 2000)\n", name,
                    v[v.size() / 2], v.front(), v.back(), v.size());
    };
    std::printf("bench_pool --apply: 2 workers, %d CPUs\n", mp::cpu_count());
    show("apply round trip (mp::Pool)", ours);
    show("raw pipe round trip (peer)", pipe);
    std::printf("apply round trip per call: %s\n", apply_distribution().c_str());
    std::printf("target: apply round trip <= 3 us -> %s\n", median(ours) <= 3 ? "met" : "NOT met");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "--apply")
        return apply_only(argc > 2 ? std::max(1, std::atoi(argv[2])) : 9);
    int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
    const int n_map = 1'000'000, n_async = 100'000, n_apply = 2'000, n_apply_py = 2'000,
              n_async_py = 20'000;
    const std::uint64_t burn_n = 2'000'000;  // ~10 ms of work per item
    const int n_burn = 32;

    std::vector<double> map_s, async_us, apply_us, pipe_us, cpu_pool_s, cpu_seq_s, cpus_busy;
    std::vector<double> submit_us, exmap_us;
    const int n_submit = 100'000, n_exmap = 1'000'000;
    std::map<std::string, std::vector<double>> py;
    std::map<std::string, std::vector<double>> start_ms;  // by start method

    std::vector<int> items(n_map);
    std::iota(items.begin(), items.end(), 0);
    std::vector<std::uint64_t> burn_items(n_burn);
    for (int i = 0; i < n_burn; ++i) burn_items[i] = burn_n + static_cast<std::uint64_t>(i);
    // The sequential run calls through a volatile pointer, as the workers do, so the
    // compiler cannot fold or hoist the calls.
    std::uint64_t (*volatile burn_ptr)(std::uint64_t) = burn;

    for (int rep = 0; rep < reps; ++rep) {
        {
            mp::Pool pool(2);
            pool.map(sq, std::vector<int>(1000, 3));  // warm up, as the Python side
            auto t = Clock::now();
            for (int k = 0; k < 3; ++k) {  // as the Python side: three maps, each timed
                t = Clock::now();
                auto r = pool.map(sq, items);
                map_s.push_back(seconds_since(t));
                if (r.back() != sq(n_map - 1)) std::abort();
            }

            t = Clock::now();
            std::vector<mp::AsyncResult<int>> rs;
            rs.reserve(n_async);
            for (int i = 0; i < n_async; ++i) rs.push_back(pool.apply_async(sq, i));
            long long total = 0;
            for (auto& x : rs) total += x.get();
            async_us.push_back(seconds_since(t) / n_async * 1e6);
            if (total == 0) std::abort();

            apply_us.push_back(apply_roundtrip_us(pool, n_apply));
        }
        {
            mp::futures::ProcessPoolExecutor ex(2);
            ex.submit(sq, 1).result();  // warm up
            auto t = Clock::now();
            std::vector<mp::futures::Future<int>> fs;
            fs.reserve(n_submit);
            for (int i = 0; i < n_submit; ++i) fs.push_back(ex.submit(sq, i));
            long long total = 0;
            for (auto& f : fs) total += f.result();
            submit_us.push_back(seconds_since(t) / n_submit * 1e6);
            if (total == 0) std::abort();
            t = Clock::now();
            auto r = ex.map(sq, items, {.chunksize = 64});
            exmap_us.push_back(seconds_since(t) / n_exmap * 1e6);
            if (r.back() != sq(n_map - 1)) std::abort();
        }
        {
            // The CPU-bound map gets a pool of its own: once it is reaped, RUSAGE_CHILDREN
            // tells how many CPUs its workers really had (the machine may be shared).
            double cpu0 = children_cpu_seconds();
            std::vector<std::uint64_t> b;
            double wall = 0;
            {
                mp::Pool pool(2);
                auto t = Clock::now();
                b = pool.map(burn, burn_items);
                wall = seconds_since(t);
                pool.close();
                pool.join();
            }
            cpu_pool_s.push_back(wall);
            cpus_busy.push_back((children_cpu_seconds() - cpu0) / wall);
            auto t = Clock::now();
            std::uint64_t check = 0;
            for (auto n : burn_items) check += burn_ptr(n);
            cpu_seq_s.push_back(seconds_since(t));
            if (check != std::accumulate(b.begin(), b.end(), std::uint64_t{0})) std::abort();
        }
        for (const char* method : {"fork", "forkserver", "spawn"}) {
            // Pool(2) made, one apply, destroyed: what workers cost to start by this method.
            auto ctx = mp::get_context(method);
            (void)ctx.Pool(2).apply(sq, 1);  // the fork server starts once, outside the timing
            auto t = Clock::now();
            {
                mp::Pool pool = ctx.Pool(2);
                if (pool.apply(sq, 3) != 9) std::abort();
            }
            start_ms[method].push_back(seconds_since(t) * 1e3);
        }
        pipe_us.push_back(raw_pipe_roundtrip_us(n_apply));
        for (auto& [k, v] : run_python(n_map, n_async_py, n_apply_py))
            py[k].insert(py[k].end(), v.begin(), v.end());
    }

    auto pym = [&](const char* k) { return py.count(k) ? median(py[k]) : 0.0; };
    double m_map = median(map_s), m_async = median(async_us), m_apply = median(apply_us),
           m_pipe = median(pipe_us);
    double m_cpu = median(cpu_pool_s), m_seq = median(cpu_seq_s);
    double p_map = pym("py_map_s"), p_async = pym("py_apply_async_us_per_task"),
           p_apply = pym("py_apply_roundtrip_us");
    double m_submit = median(submit_us), m_exmap = median(exmap_us);
    double p_submit = pym("py_executor_submit_us_per_task"),
           p_exmap = pym("py_executor_map_us_per_item");

    double load[3] = {0, 0, 0};
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
        std::fclose(f);
    }
    std::printf(
        "bench_pool: 2 workers, median of %d runs (machine: %d CPUs, load average %.2f at the end: "
        "a CPU-bound speed-up needs a second idle CPU)\n\n",
        reps, mp::cpu_count(), load[0]);
    std::printf("%-44s %12s %12s %9s  %s\n", "figure", "mp::Pool", "peer", "ratio", "target");
    auto row = [](const char* name, double ours, double peer, double ratio, const char* target,
                  bool ok) {
        std::printf("%-44s %12.4g %12.4g %8.2fx  %s %s\n", name, ours, peer, ratio, target,
                    ok ? "OK" : "MISSED");
    };
    row("map sq over 1e6 ints, auto chunksize (s)", m_map, p_map, p_map / m_map, ">= 20x Python",
        p_map / m_map >= 20);
    row("apply round trip (us), target 3 us", m_apply, 3.0, m_apply / 3.0, "<= 3 us", m_apply <= 3);
    row("apply round trip (us) vs raw pipe rt", m_apply, m_pipe, m_apply / m_pipe, "(info)", true);
    row("apply round trip (us) vs Python apply", m_apply, p_apply, p_apply / m_apply, "(info)",
        true);
    row("apply_async throughput (us/task)", m_async, p_async, p_async / m_async, ">= 40x Python",
        p_async / m_async >= 40);
    row("executor submit throughput (us/task)", m_submit, p_submit, p_submit / m_submit,
        ">= 40x Python", p_submit / m_submit >= 40);
    row("executor map, chunksize 64 (us/item)", m_exmap, p_exmap, p_exmap / m_exmap, "(info)",
        true);
    row("CPU-bound map 32 x ~10 ms (s) vs sequential", m_cpu, m_seq, m_seq / m_cpu,
        ">= 1.8x sequential", m_seq / m_cpu >= 1.8);
    for (const char* method : {"fork", "forkserver", "spawn"}) {
        std::string name = std::string("Pool(2)+apply+close, ") + method + " (ms)";
        std::string key = std::string("py_pool_start_") + method + "_ms";
        double ours = median(start_ms[method]), peer = pym(key.c_str());
        row(name.c_str(), ours, peer, peer / ours, "(info) vs Python", true);
    }
    std::printf(
        "\nCPU-bound map: the workers were on CPU %.2f of each second (2.00 = both CPUs theirs; "
        "the "
        "rest went to other processes on the machine)\n",
        median(cpus_busy));
    std::printf(
        "raw pipe round trip %.1f us (the peer of apply); Python: map %.3f s, apply_async %.2f "
        "us/task "
        "(%d tasks), apply %.1f us\n",
        m_pipe, p_map, p_async, n_async_py, p_apply);
    std::printf("apply round trip per call: %s\n", apply_distribution().c_str());
    return 0;
}
