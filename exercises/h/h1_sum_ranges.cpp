// Exercise h1 — mini-exercise 1: three processes sum ranges through a Queue.
// Check it: mp-tour practice h1        A hint: mp-tour practice h1 --hint
//
// "Escribe un programa con 3 procesos que calculen la suma de distintos rangos de
// números y pasen el resultado a un Queue. El proceso principal debe sumar los
// resultados parciales."
//
// EN: Split 1 … 3 000 000 in three ranges; one process per range sums it and puts
//     its partial sum into the Queue; main gets the three partial sums and adds them.
// ES: Divide 1 … 3 000 000 en tres rangos; un proceso por rango lo suma y pone su suma
//     parcial en la Queue; main toma las tres sumas parciales y las suma.
#include <mp/mp.hpp>

#include <cstdio>
#include <vector>

constexpr long kN = 3'000'000;

void sumar(long desde, long hasta, mp::Queue<long> q) {  // the range [desde, hasta]
    long s = 0;
    for (long x = desde; x <= hasta; ++x) s += x;
    std::printf("parcial=%d\n", mp::current_process().pid());
    // TODO (en): put s into the queue.   TODO (es): pon s en la cola.
    (void)q;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    mp::Queue<long> q;
    long total = 0;
    // TODO (en): three mp::Process running sumar over [1, kN/3], [kN/3 + 1, 2kN/3], [2kN/3 + 1,
    // kN];
    //            start them, get() three partial sums into total, join them.
    // TODO (es): tres mp::Process que ejecuten sumar sobre los tres rangos; inícialos, toma con
    //            get() las tres sumas parciales en total y espéralos con join().
    std::printf("total=%ld\n", total);
}
