// Exercise g1 — the guides' final exercise: make mp_worker parallel.
// Check it: mp-tour practice g1        A hint: mp-tour practice g1 --hint
//
// "Modifica el archivo mp_worker.py para demostrar que varios procesos corren
// simultáneamente." Here the four blocks run one after the other in main().
//
// EN: Run the four blocks in four processes at the same time and add their counts
//     into one shared total (a Value under its lock, as the guides' final version
//     does; or a Pool). The checker looks for overlapping blocks in different PIDs,
//     a shorter total time, and the same count of primes.
// ES: Ejecuta los cuatro bloques en cuatro procesos a la vez y suma sus cuentas en un
//     total compartido (un Value con su lock, como la versión final de las guías; o un
//     Pool). El verificador busca bloques superpuestos en PID distintos, un tiempo
//     total menor y la misma cuenta de primos.
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

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    // TODO (en): four mp::Process, one per block, each adding trabajo(w) to a shared
    // mp::Value<long>.
    // TODO (es): cuatro mp::Process, uno por bloque, cada uno suma trabajo(w) a un mp::Value<long>
    // compartido.
    long total = 0;
    for (int w = 0; w < 4; ++w) total += trabajo(w);
    std::printf("primos=%ld\n", total);
}
