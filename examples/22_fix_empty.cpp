// Debugging exercise 22 (FIXED) — the twin of 22_bug_empty.cpp.
//
// Python (sesión 8):
//     def productor(q):
//         for i in range(5):
//             q.put(i)
//         q.put(None)  # señal de terminación
//     def consumidor(q):
//         while True:
//             item = q.get()
//             if item is None:
//                 break
//
// Fix: the producer says when it is done by putting a sentinel (None in
// Python, std::nullopt here); the consumer blocks in get() until it arrives.
#include <mp/mp.hpp>

#include "lang.hpp"

#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

using example::tr;

using namespace std::chrono_literals;

void productor(mp::Queue<std::optional<int>> q) {
    for (int i = 0; i < 5; ++i) {
        std::this_thread::sleep_for(100ms);
        std::printf("Producto %d enviado\n", i);
        std::fflush(stdout);
        q.put(i);
    }
    // tour:begin sentinel
    q.put(std::nullopt);  // FIX: the sentinel — "nothing more will come"
    // tour:end sentinel
}

// tour:begin consumer
void consumidor(mp::Queue<std::optional<int>> q) {
    int consumed = 0;
    while (true) {
        std::optional<int> item = q.get();  // waits for the next item, however long it takes
        if (!item) break;
        std::printf("Consumido %d\n", *item);
        std::fflush(stdout);
        ++consumed;
    }
    std::printf(tr("consumidor: got the sentinel after %d items\n",
                   "consumidor: llegó el centinela después de %d elementos\n"),
                consumed);
}
// tour:end consumer

int main() {
    mp::Queue<std::optional<int>> q;
    mp::Process p1(productor, q);
    mp::Process p2(consumidor, q);
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    std::printf(
        tr("Items left in the queue: %s\n", "Elementos que quedan en la cola: %s\n"),
        q.empty() ? tr("none", "ninguno") : tr("SOME (unexpected)", "ALGUNOS (inesperado)"));
    if (q.empty())
        std::printf(tr("Fixed: all 5 items consumed; the sentinel, not empty(), ends the loop.\n",
                       "Corregido: se consumieron los 5 elementos; el centinela, no empty(), "
                       "termina el bucle.\n"));
    return q.empty() ? 0 : 1;
}
