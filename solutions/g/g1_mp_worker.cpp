// Solution of exercise g1 — the guides' final exercise: mp_worker made parallel.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

constexpr long kLimit = 200'000;  // count the primes below this, in 4 blocks

bool es_primo(long n) {
    if (n < 2) return false;
    for (long d = 2; d * d <= n; ++d)
        if (n % d == 0) return false;
    return true;
}

long ms_ahora() {  // the monotonic clock is the same in every process
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

/// Block w of 4: prints when it starts and ends, and in which process.
long trabajo(int w) {
    std::printf("inicio:%d=%ld\n", w, ms_ahora());
    std::printf("tramo:%d=%d\n", w, mp::current_process().pid());
    long n = 0;
    for (long x = w * kLimit / 4; x < (w + 1) * kLimit / 4; ++x) n += es_primo(x) ? 1 : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a wait (disk, network)
    std::printf("fin:%d=%ld\n", w, ms_ahora());
    return n;
}

void worker(int w, mp::Value<long> total) {
    long n = trabajo(w);
    std::lock_guard guard(total.get_lock());  // with total.get_lock():
    total.value() += n;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    mp::Value<long> total(0);
    std::vector<mp::Process> procesos;
    for (int w = 0; w < 4; ++w) procesos.emplace_back(worker, w, total);
    for (auto& p : procesos) p.start();
    for (auto& p : procesos) p.join();
    std::printf("primos=%ld\n", total.value());
}
