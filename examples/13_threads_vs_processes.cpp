// Exercise 13 — threads vs processes vs an event loop (the guides' suggestion:
// "reforzar la comparación entre modelos de concurrencia").
//
// The same CPU-bound job (count primes) and the same I/O-bound job (requests
// that wait for a reply) run four ways: sequentially, with std::thread, with
// mp processes and with a single-threaded event loop of C++20 coroutines over
// timerfd + poll (what asyncio does in Python). Then a worker crashes, to show
// what processes give that threads do not: isolation.
//
// Python: threading.Thread / multiprocessing.Process / asyncio — here
// std::thread / mp::Process / a 60-line coroutine loop.
#include <mp/mp.hpp>

#include "lang.hpp"

#include <poll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

using example::tr;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t kLimit = 3'000'000;  // CPU job: primes below this
constexpr int kChunks = 4;                  // split into this many pieces
constexpr int kRequests = 8;                // I/O job: this many requests…
constexpr auto kReplyTime = 100ms;          // …each waits this long for its reply

// ---- the two jobs --------------------------------------------------------------------

bool is_prime(std::int64_t n) {
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    for (std::int64_t d = 3; d * d <= n; d += 2) {
        if (n % d == 0) return false;
    }
    return true;
}

/// Primes in chunk `i` of [0, kLimit): pure computation, no waiting.
std::int64_t count_primes(int i) {
    std::int64_t lo = kLimit * i / kChunks, hi = kLimit * (i + 1) / kChunks, count = 0;
    for (std::int64_t n = lo; n < hi; ++n) count += is_prime(n) ? 1 : 0;
    return count;
}

/// One "request": the CPU does nothing while the reply is on its way.
void request() {
    std::this_thread::sleep_for(kReplyTime);
}

// ---- a tiny event loop: coroutines that co_await timers --------------------------------

class EventLoop {
  public:
    /// A coroutine run by the loop; it starts when the loop runs.
    struct Task {
        struct promise_type {
            Task get_return_object() { return Task{Handle::from_promise(*this)}; }
            std::suspend_always initial_suspend() noexcept { return {}; }
            std::suspend_always final_suspend() noexcept { return {}; }
            void return_void() noexcept {}
            void unhandled_exception() { std::terminate(); }
        };
        using Handle = std::coroutine_handle<promise_type>;
        Handle handle;
    };

    /// co_await loop.sleep(d): suspends this task; the loop resumes it when a timerfd fires.
    auto sleep(std::chrono::nanoseconds d) {
        struct Awaiter {
            EventLoop& loop;
            std::chrono::nanoseconds d;
            bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<> h) { loop.add_timer(d, h); }
            void await_resume() const noexcept {}
        };
        return Awaiter{*this, d};
    }

    void spawn(Task t) { tasks_.push_back(t.handle); }

    /// Runs every task until all are done, sleeping in poll() while all of them wait.
    void run() {
        for (auto h : tasks_) h.resume();  // each runs until its first co_await (or its end)
        while (!timers_.empty()) {
            std::vector<pollfd> fds;
            for (const auto& t : timers_) fds.push_back({t.fd, POLLIN, 0});
            if (poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR: poll again
            std::vector<std::coroutine_handle<>> ready;
            for (std::size_t i = fds.size(); i-- > 0;) {
                if (!(fds[i].revents & POLLIN)) continue;
                close(timers_[i].fd);
                ready.push_back(timers_[i].waiter);
                timers_.erase(timers_.begin() + static_cast<std::ptrdiff_t>(i));
            }
            for (auto h : ready) h.resume();
        }
        for (auto h : tasks_) h.destroy();
        tasks_.clear();
    }

  private:
    struct Timer {
        int fd;
        std::coroutine_handle<> waiter;
    };

    void add_timer(std::chrono::nanoseconds d, std::coroutine_handle<> h) {
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        if (fd < 0) throw std::runtime_error("timerfd_create failed");
        itimerspec when{};
        when.it_value.tv_sec = static_cast<time_t>(d.count() / 1'000'000'000);
        when.it_value.tv_nsec = static_cast<long>(d.count() % 1'000'000'000);
        timerfd_settime(fd, 0, &when, nullptr);
        timers_.push_back({fd, h});
    }

    std::vector<EventLoop::Task::Handle> tasks_;
    std::vector<Timer> timers_;
};

EventLoop::Task cpu_task(int chunk, std::int64_t& out) {
    out = count_primes(chunk);  // never co_awaits: the loop cannot run anything else meanwhile
    co_return;
}

// tour:begin io
EventLoop::Task io_task(EventLoop& loop) {
    co_await loop.sleep(kReplyTime);  // like `await asyncio.sleep(0.1)`: others run meanwhile
}
// tour:end io

// ---- the four ways ------------------------------------------------------------------

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Run {
    std::int64_t primes = 0;
    double seconds = 0;
};

Run cpu_sequential() {
    auto t0 = Clock::now();
    Run r;
    for (int i = 0; i < kChunks; ++i) r.primes += count_primes(i);
    r.seconds = seconds_since(t0);
    return r;
}

Run cpu_threads() {
    auto t0 = Clock::now();
    // tour:begin threads
    std::vector<std::int64_t> part(kChunks);
    std::vector<std::thread> threads;
    for (int i = 0; i < kChunks; ++i)
        threads.emplace_back([&part, i] { part[i] = count_primes(i); });
    for (auto& t : threads) t.join();
    // tour:end threads
    Run r;
    for (auto p : part) r.primes += p;  // threads share memory: they wrote straight into `part`
    r.seconds = seconds_since(t0);
    return r;
}

Run cpu_processes() {
    auto t0 = Clock::now();
    // Processes do not share memory: each sends its count back through a Pipe.
    // tour:begin processes
    std::vector<mp::Connection> readers;
    std::vector<mp::Process> procs;
    for (int i = 0; i < kChunks; ++i) {
        auto [r, w] = mp::Pipe(false);
        procs.emplace_back([i](mp::Connection out) { out.send(count_primes(i)); }, w);
        procs.back().start();
        w.close();
        readers.push_back(r);
    }
    // tour:end processes
    Run r;
    for (auto& c : readers) r.primes += c.recv<std::int64_t>();
    for (auto& p : procs) p.join();
    r.seconds = seconds_since(t0);
    return r;
}

Run cpu_event_loop() {
    auto t0 = Clock::now();
    EventLoop loop;
    std::vector<std::int64_t> part(kChunks);
    for (int i = 0; i < kChunks; ++i) loop.spawn(cpu_task(i, part[i]));
    loop.run();
    Run r;
    for (auto p : part) r.primes += p;
    r.seconds = seconds_since(t0);
    return r;
}

double io_sequential() {
    auto t0 = Clock::now();
    for (int i = 0; i < kRequests; ++i) request();
    return seconds_since(t0);
}

double io_threads() {
    auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < kRequests; ++i) threads.emplace_back(request);
    for (auto& t : threads) t.join();
    return seconds_since(t0);
}

double io_processes() {
    auto t0 = Clock::now();
    std::vector<mp::Process> procs;
    for (int i = 0; i < kRequests; ++i) {
        procs.emplace_back(request);
        procs.back().start();
    }
    for (auto& p : procs) p.join();
    return seconds_since(t0);
}

double io_event_loop() {
    auto t0 = Clock::now();
    // tour:begin loop
    EventLoop loop;
    for (int i = 0; i < kRequests; ++i) loop.spawn(io_task(loop));
    loop.run();
    // tour:end loop
    return seconds_since(t0);
}

void print_cpu(const char* how, const Run& r, double base) {
    std::printf(
        tr("  %-34s %7lld primes  %6.2f s  (%.1fx)\n", "  %-34s %7lld primos  %6.2f s  (%.1fx)\n"),
        how, static_cast<long long>(r.primes), r.seconds, base / r.seconds);
}

void print_io(const char* how, double s, double base) {
    std::printf("  %-34s %6.2f s  (%.1fx)\n", how, s, base / s);
}

/// Restores the default action first, so the signal really ends the process
/// (a sanitizer or debugger may have installed its own handler).
[[noreturn]] void crash() {
    std::signal(SIGSEGV, SIG_DFL);
    std::raise(SIGSEGV);
    std::_Exit(99);  // not reached
}

}  // namespace

int main() {
    std::printf(
        tr("The same two jobs, four ways (this machine lets us use %d CPUs).\n\n",
           "Los mismos dos trabajos, de cuatro maneras (esta máquina nos deja usar %d CPU).\n\n"),
        mp::cpu_count());

    std::printf(
        tr("CPU-bound job: count the primes below %lld, in %d chunks\n",
           "Trabajo de CPU (CPU-bound): contar los primos menores que %lld, en %d partes\n"),
        static_cast<long long>(kLimit), kChunks);
    Run seq = cpu_sequential();
    print_cpu(tr("sequential (1 thread)", "secuencial (1 hilo)"), seq, seq.seconds);
    Run thr = cpu_threads();
    print_cpu("std::thread x4", thr, seq.seconds);
    Run prc = cpu_processes();
    print_cpu("mp::Process x4", prc, seq.seconds);
    Run evl = cpu_event_loop();
    print_cpu(tr("event loop (1 thread, coroutines)", "bucle de eventos (1 hilo, corrutinas)"), evl,
              seq.seconds);
    bool agree = seq.primes == thr.primes && seq.primes == prc.primes && seq.primes == evl.primes;
    std::printf(tr("  all four found the same count: %s\n",
                   "  las cuatro encontraron la misma cuenta: %s\n"),
                agree ? tr("yes", "sí") : tr("NO (bug!)", "NO (¡error!)"));
    if (mp::cpu_count() > 1 && seq.seconds / thr.seconds < 1.3) {
        std::printf(
            tr("  (little speedup this time: the CPUs are busy with other programs right now —\n"
               "   parallel work only goes faster on idle CPUs)\n",
               "  (poca aceleración esta vez: las CPU están ocupadas con otros programas ahora —\n"
               "   el trabajo en paralelo solo va más rápido con CPU libres)\n"));
    }
    std::printf("\n");

    std::printf(
        tr("I/O-bound job: %d requests, each waits %lld ms for its reply\n",
           "Trabajo de I/O (I/O-bound): %d pedidos, cada uno espera %lld ms su respuesta\n"),
        kRequests, static_cast<long long>(kReplyTime.count()));
    double io_seq = io_sequential();
    print_io(tr("sequential (1 thread)", "secuencial (1 hilo)"), io_seq, io_seq);
    print_io("std::thread x8", io_threads(), io_seq);
    print_io("mp::Process x8", io_processes(), io_seq);
    print_io(tr("event loop (timerfd + poll)", "bucle de eventos (timerfd + poll)"),
             io_event_loop(), io_seq);

    std::printf(tr("\nIsolation: a worker crashes (SIGSEGV)\n",
                   "\nAislamiento: un worker falla (SIGSEGV)\n"));
    // tour:begin crash
    mp::Process crasher(crash);
    crasher.start();
    crasher.join();
    // tour:end crash
    std::printf(
        tr("  mp::Process that crashes:             exitcode %d (-%d = killed by SIGSEGV)\n",
           "  mp::Process que falla:                exitcode %d (-%d = terminado por SIGSEGV)\n"),
        *crasher.exitcode(), SIGSEGV);
    mp::Process host([] { std::thread([] { crash(); }).join(); });
    host.start();
    host.join();
    std::printf(
        tr("  mp::Process whose std::thread crashes: exitcode %d: the crash of one thread\n"
           "    killed its whole process — here only the child, because it was a process.\n",
           "  mp::Process cuyo std::thread falla:    exitcode %d: el fallo de un hilo\n"
           "    mató a todo su proceso — aquí solo al hijo, porque era un proceso.\n"),
        *host.exitcode());
    std::printf(tr("  The parent (PID %d) is still alive and goes on.\n",
                   "  El padre (PID %d) sigue vivo y continúa.\n"),
                mp::current_process().pid());

    std::printf(tr(
        "\nWhat differs from Python:\n"
        "  * C++ has no GIL: std::thread runs CPU work in parallel too; in Python only\n"
        "    processes would speed up the CPU job.\n"
        "  * Threads share memory (they wrote into one vector); processes do not, so their\n"
        "    results came back through Pipes (serialized).\n"
        "  * Processes give isolation: a crash kills only the process it happens in.\n"
        "  * The event loop is one thread: great for waiting (I/O), no help for computing.\n",
        "\nQué cambia respecto de Python:\n"
        "  * C++ no tiene GIL: std::thread también ejecuta trabajo de CPU en paralelo; en Python\n"
        "    solo los procesos acelerarían el trabajo de CPU.\n"
        "  * Los hilos comparten memoria (escribieron en un mismo vector); los procesos no, así "
        "que\n"
        "    sus resultados volvieron por Pipes (serializados).\n"
        "  * Los procesos dan aislamiento: un fallo mata solo al proceso donde ocurre.\n"
        "  * El bucle de eventos es un hilo: muy bueno para esperar (I/O), no ayuda a "
        "calcular.\n"));
    return agree && *crasher.exitcode() == -SIGSEGV && *host.exitcode() == -SIGSEGV ? 0 : 1;
}
