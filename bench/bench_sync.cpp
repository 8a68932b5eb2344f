// bench_sync — mp's Lock, Value+get_lock, Event and Condition beside their peers measured
// in the same run: a raw process-shared robust pthread mutex, a raw futex ping-pong, and
// Python's multiprocessing (bench/bench_sync.py). Each figure is the median of REPS runs.
//
//   Lock uncontended acquire+release     target: within 2x of the raw robust mutex
//   2 processes incrementing a locked Value   target: >= 10x Python's Value+get_lock
//   Event / Condition wake-up round trip across processes, beside a raw futex ping-pong,
//   as p50 (the table) and p50/p99/p99.9 (the distribution after it); Condition <= 1.2x Event
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <mp/mp.hpp>

using Clock = std::chrono::steady_clock;

namespace {

int reps() {
    const char* r = std::getenv("REPS");
    return r ? std::max(1, std::atoi(r)) : 3;
}

template <class F>
double median(F f) {
    std::vector<double> v;
    for (int i = 0; i < reps(); ++i) v.push_back(f());
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double secs(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

void* shared_page() {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    return p;
}

pthread_mutex_t* raw_robust_mutex() {
    auto* m = static_cast<pthread_mutex_t*>(shared_page());
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(m, &a);
    return m;
}

// ---- uncontended ---------------------------------------------------------------------------

constexpr int kUncontended = 10'000'000;

double raw_uncontended_ns() {
    pthread_mutex_t* m = raw_robust_mutex();
    auto t0 = Clock::now();
    for (int i = 0; i < kUncontended; ++i) {
        pthread_mutex_lock(m);
        pthread_mutex_unlock(m);
    }
    double s = secs(t0);
    munmap(m, 4096);
    return s / kUncontended * 1e9;
}

template <class L>
double mp_uncontended_ns() {
    L l;
    auto t0 = Clock::now();
    for (int i = 0; i < kUncontended; ++i) {
        l.acquire();
        l.release();
    }
    return secs(t0) / kUncontended * 1e9;
}

// ---- two processes incrementing ------------------------------------------------------------

constexpr long kIncrements = 1'000'000;  // per process

template <class Body>
double two_process_rate(Body body) {
    // Both children start counting together (a start gate), so the lock is contended for
    // the whole run; the clock runs from the gate to the last join.
    mp::Event go;
    std::vector<mp::Process> ps;
    for (int i = 0; i < 2; ++i) {
        ps.emplace_back([go, body]() mutable {
            go.wait();
            body();
        });
    }
    for (auto& p : ps) p.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto t0 = Clock::now();
    go.set();
    for (auto& p : ps) p.join();
    return 2.0 * kIncrements / secs(t0);
}

double mp_value_rate() {
    mp::Value<long> v(0);
    double rate = two_process_rate([v]() mutable {
        for (long i = 0; i < kIncrements; ++i) {
            std::lock_guard g(v.get_lock());
            v.value() += 1;
        }
    });
    if (v.value() != 2 * kIncrements) std::abort();
    return rate;
}

double raw_value_rate() {
    pthread_mutex_t* m = raw_robust_mutex();
    auto* value = reinterpret_cast<long*>(reinterpret_cast<char*>(m) + 64);
    double rate = two_process_rate([m, value] {
        for (long i = 0; i < kIncrements; ++i) {
            pthread_mutex_lock(m);
            *value += 1;
            pthread_mutex_unlock(m);
        }
    });
    if (*value != 2 * kIncrements) std::abort();
    munmap(m, 4096);
    return rate;
}

// ---- wake-up ping-pong ---------------------------------------------------------------------

constexpr int kRoundTrips = 5000;

// Which CPUs the two ends of a ping-pong run on: wherever the scheduler puts them, or
// pinned to CPUs 0 and 1 (a wake-up across CPUs, the expensive case on this machine).
bool g_cross = false;

void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/// One ping-pong: `trip()` runs one round trip in this process (kRoundTrips times, each
/// timed), `child` all of them in the other. The round trips' times, in us.
template <class Trip, class Child>
std::vector<double> pingpong_us(Trip trip, Child child) {
    cpu_set_t saved;
    sched_getaffinity(0, sizeof saved, &saved);
    const bool cross = g_cross;
    mp::Process p([child, cross]() mutable {
        if (cross) pin_to(1);
        child();
    });
    if (cross) pin_to(0);
    p.start();
    std::vector<double> us;
    us.reserve(kRoundTrips);
    for (int i = 0; i < kRoundTrips; ++i) {
        auto t0 = Clock::now();
        trip(i);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    p.join();
    sched_setaffinity(0, sizeof saved, &saved);
    return us;
}

std::vector<double> mp_event_rt_us() {
    mp::Event ping, pong;
    return pingpong_us(
        [&](int) {
            ping.set();
            pong.wait();
            pong.clear();
        },
        [ping, pong]() mutable {
            for (int i = 0; i < kRoundTrips; ++i) {
                ping.wait();
                ping.clear();
                pong.set();
            }
        });
}

std::vector<double> mp_condition_rt_us() {
    mp::Condition c;
    mp::RawValue<int> turn(0);
    return pingpong_us(
        [&](int) {
            std::unique_lock u(c);
            turn.value() = 1;
            c.notify();
            c.wait_for([&] { return turn.value() == 0; });
        },
        [c, turn]() mutable {
            for (int i = 0; i < kRoundTrips; ++i) {
                std::unique_lock u(c);
                c.wait_for([&] { return turn.value() == 1; });
                turn.value() = 0;
                c.notify();
            }
        });
}

long futex(std::atomic<int>* a, int op, int val) {
    return syscall(SYS_futex, reinterpret_cast<int*>(a), op, val, nullptr, nullptr, 0);
}

void raw_wait_eq(std::atomic<int>* a, int want) {
    for (int v = a->load(); v != want; v = a->load()) futex(a, FUTEX_WAIT, v);
}

std::vector<double> raw_futex_rt_us() {
    auto* w = static_cast<std::atomic<int>*>(shared_page());
    std::atomic<int>* ping = w;
    std::atomic<int>* pong = w + 16;  // another cache line
    auto rt = pingpong_us(
        [&](int i) {
            ping->store(i + 1);
            futex(ping, FUTEX_WAKE, 1);
            raw_wait_eq(pong, i + 1);
        },
        [ping, pong] {
            for (int i = 1; i <= kRoundTrips; ++i) {
                raw_wait_eq(ping, i);
                pong->store(i);
                futex(pong, FUTEX_WAKE, 1);
            }
        });
    munmap(w, 4096);
    return rt;
}

/// The p50, p99 and p99.9 of the round trips of REPS runs together.
struct Spread {
    double p50 = 0, p99 = 0, p999 = 0;
};
template <class F>
Spread spread(F f) {
    std::vector<double> all;
    for (int i = 0; i < reps(); ++i) {
        auto v = f();
        all.insert(all.end(), v.begin(), v.end());
    }
    std::sort(all.begin(), all.end());
    auto at = [&](double q) {
        return all[std::min(all.size() - 1,
                            static_cast<std::size_t>(q * static_cast<double>(all.size())))];
    };
    return {at(0.5), at(0.99), at(0.999)};
}

// ---- Python --------------------------------------------------------------------------------

std::map<std::string, double> run_python() {
    std::map<std::string, double> out;
    std::string cmd = std::string("python3 ") + MP_BENCH_DIR + "/bench_sync.py 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    if (f == nullptr) return out;
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
        char name[256];
        double v = 0;
        if (std::sscanf(line, "%255s %lf", name, &v) == 2)
            out[name] = v;
        else
            std::fputs(line, stderr);
    }
    pclose(f);
    return out;
}

void row(const char* what, double ours, const char* unit, const char* peer, double theirs,
         const char* ratio_note) {
    std::printf("%-44s %12.2f %-6s | %-28s %12.2f  | %s\n", what, ours, unit, peer, theirs,
                ratio_note);
}

}  // namespace

int main() {
    std::printf("bench_sync: median of %d runs each; %d CPUs\n\n", reps(), mp::cpu_count());
    double raw_ns = median(raw_uncontended_ns);
    double lock_ns = median(mp_uncontended_ns<mp::Lock>);
    double rlock_ns = median(mp_uncontended_ns<mp::RLock>);
    double mp_rate = median(mp_value_rate);
    double raw_rate = median(raw_value_rate);
    const Spread ev = spread(mp_event_rt_us);
    const Spread cv = spread(mp_condition_rt_us);
    const Spread fx = spread(raw_futex_rt_us);
    const double ev_us = ev.p50, cv_us = cv.p50, fx_us = fx.p50;
    const bool can_cross = mp::cpu_count() >= 2;
    Spread evx, cvx, fxx;
    if (can_cross) {
        g_cross = true;
        evx = spread(mp_event_rt_us);
        cvx = spread(mp_condition_rt_us);
        fxx = spread(raw_futex_rt_us);
        g_cross = false;
    }
    const double ev_x = evx.p50, cv_x = cvx.p50, fx_x = fxx.p50;
    auto py = run_python();
    auto pyv = [&](const char* k) { return py.count(k) ? py[k] : 0.0; };

    char note[160];
    std::printf("%-44s %19s | %-28s %12s  | %s\n", "measure (mp)", "ours", "peer (same run)",
                "peer", "ratio vs target");
    std::snprintf(note, sizeof note, "%.2fx raw (target <= 2x) %s", lock_ns / raw_ns,
                  lock_ns <= 2 * raw_ns ? "OK" : "MISSED");
    row("Lock uncontended acquire+release", lock_ns, "ns", "raw robust pthread mutex", raw_ns,
        note);
    std::snprintf(note, sizeof note, "%.2fx raw", rlock_ns / raw_ns);
    row("RLock uncontended acquire+release", rlock_ns, "ns", "raw robust pthread mutex", raw_ns,
        note);
    std::snprintf(note, sizeof note, "Python is %.1fx slower",
                  pyv("py_lock_uncontended_ns") / lock_ns);
    row("Lock uncontended acquire+release", lock_ns, "ns", "Python mp.Lock",
        pyv("py_lock_uncontended_ns"), note);
    double py_rate = pyv("py_value_locked_2proc_incr_per_s");
    std::snprintf(note, sizeof note, "%.1fx Python (target >= 10x) %s", mp_rate / py_rate,
                  mp_rate >= 10 * py_rate ? "OK" : "MISSED");
    row("2 procs x Value+get_lock increments", mp_rate / 1e6, "M/s", "Python Value+get_lock",
        py_rate / 1e6, note);
    std::snprintf(note, sizeof note, "%.2fx raw", mp_rate / raw_rate);
    row("2 procs x Value+get_lock increments", mp_rate / 1e6, "M/s", "raw robust mutex + long",
        raw_rate / 1e6, note);
    std::snprintf(note, sizeof note, "%.2fx raw futex; Python %.2f us", ev_us / fx_us,
                  pyv("py_event_pingpong_rt_us"));
    row("Event ping-pong round trip (unpinned)", ev_us, "us", "raw futex ping-pong", fx_us, note);
    std::snprintf(note, sizeof note, "%.2fx raw futex; Python %.2f us", cv_us / fx_us,
                  pyv("py_condition_pingpong_rt_us"));
    row("Condition ping-pong round trip (unpinned)", cv_us, "us", "raw futex ping-pong", fx_us,
        note);
    if (can_cross) {
        std::snprintf(note, sizeof note, "%.2fx raw futex; Python %.2f us", ev_x / fx_x,
                      pyv("py_event_pingpong_cross_rt_us"));
        row("Event ping-pong round trip (CPU 0 <-> 1)", ev_x, "us", "raw futex ping-pong", fx_x,
            note);
        std::snprintf(note, sizeof note, "%.2fx raw futex; Python %.2f us", cv_x / fx_x,
                      pyv("py_condition_pingpong_cross_rt_us"));
        row("Condition ping-pong round trip (CPU 0 <-> 1)", cv_x, "us", "raw futex ping-pong", fx_x,
            note);
    }

    std::printf("\nround trips (us, %d x %d trips)          p50        p99      p99.9\n", reps(),
                kRoundTrips);
    auto line = [](const char* what, const Spread& d) {
        std::printf("  %-36s %9.2f  %9.2f  %9.2f\n", what, d.p50, d.p99, d.p999);
    };
    line("Event ping-pong (unpinned)", ev);
    line("Condition ping-pong (unpinned)", cv);
    line("raw futex ping-pong (unpinned)", fx);
    if (can_cross) {
        line("Event ping-pong (CPU 0 <-> 1)", evx);
        line("Condition ping-pong (CPU 0 <-> 1)", cvx);
        line("raw futex ping-pong (CPU 0 <-> 1)", fxx);
    }
    std::printf("Condition / Event (p50): %.2fx unpinned, %.2fx CPU 0 <-> 1 (target <= 1.2x)\n",
                cv_us / ev_us, can_cross ? cv_x / ev_x : 0.0);
}
