// Debugging exercise 22 (BUGGY) — a consumer that trusts empty().
//
// Python (lesson c, the guide's consumer):
//     def consumidor(q):
//         while not q.empty():
//             item = q.get()
//
// empty() only says "empty right now". The guide's program works because it
// joins the producer before it starts the consumer; run them at the same time,
// as producers and consumers usually run, and the consumer sees an empty queue
// before the producer has put anything — and stops.
//
// Symptom: items are never consumed. Fix: 22_fix_empty.cpp (a sentinel).
#include <mp/mp.hpp>

#include "lang.hpp"

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

using example::tr;

using namespace std::chrono_literals;

void productor(mp::Queue<int> q) {
    for (int i = 0; i < 5; ++i) {
        std::this_thread::sleep_for(100ms);  // producing takes a moment
        std::printf("Producto %d enviado\n", i);
        std::fflush(stdout);
        q.put(i);
    }
}

// tour:begin consumer
void consumidor(mp::Queue<int> q) {
    while (!q.empty()) {  // BUG: "empty now" is not "nothing more will come"
        int item = q.get();
        std::printf("Consumido %d\n", item);
        std::fflush(stdout);
    }
    std::printf(tr("consumidor: the queue looked empty, so I stopped\n",
                   "consumidor: la cola parecía vacía, así que paré\n"));
    std::fflush(stdout);
}
// tour:end consumer

int main() {
    mp::Queue<int> q;
    mp::Process p1(productor, q);
    mp::Process p2(consumidor, q);
    p1.start();
    p2.start();  // both at once
    p1.join();
    p2.join();

    std::vector<int> left;
    while (!q.empty()) left.push_back(q.get_nowait());  // safe here: no producer is left
    std::printf(tr("Items consumed: %zu of 5\n", "Elementos consumidos: %zu de 5\n"),
                5 - left.size());
    if (!left.empty()) {
        std::printf(tr("Symptom: LOST ITEMS — %zu items stayed in the queue, never consumed:",
                       "Síntoma: ELEMENTOS PERDIDOS — %zu elementos quedaron en la cola, nunca "
                       "consumidos:"),
                    left.size());
        for (int v : left) std::printf(" %d", v);
        std::printf("\n");
    }
}
