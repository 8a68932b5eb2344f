// Lesson c) — processes talk through a Queue: a producer, a consumer, and a sentinel.
//
// Python (the guide's example, session 8):
//     def productor(q):
//         for i in range(5):
//             q.put(i)
//         q.put(None)            # señal de terminación
//     def consumidor(q):
//         while True:
//             item = q.get()
//             if item is None:
//                 break
//             print(f"Consumido: {item}")
//
// In C++ the "None" is an empty std::optional: the queue carries std::optional<int>.
// The second part shows why the guide's other consumer, `while not q.empty(): q.get()`,
// is a race: empty() is only a snapshot of a queue that other processes change.
#include <mp/mp.hpp>

#include "lang.hpp"

#include <cstdio>
#include <optional>

using example::tr;

using Item = std::optional<int>;

// tour:begin sentinel
void producer(mp::Queue<Item> q) {
    for (int i = 0; i < 5; ++i) {
        q.put(i);
        std::printf(tr("Produced %d\n", "Producido %d\n"), i);
    }
    q.put(std::nullopt);  // the sentinel: no more items
}

void consumer(mp::Queue<Item> q) {
    while (Item item = q.get()) {  // get() blocks until an item comes
        std::printf(tr("Consumed %d\n", "Consumido %d\n"), *item);
    }
    std::printf(tr("Consumer: got the sentinel, done\n", "Consumidor: llegó el centinela, fin\n"));
}
// tour:end sentinel

// The guide's first consumer: correct only if every item was put before it starts.
void racy_consumer(mp::Queue<int> q, mp::Queue<int> report) {
    int n = 0;
    while (!q.empty()) {
        q.get();
        ++n;
    }
    report.put(n);
}

// A producer that is slower to start than the consumer: here it waits for a go-ahead,
// so the outcome is the same on every run; in real programs a page fault, a busy CPU
// or a bigger first item are enough.
void slow_producer(mp::Queue<int> q, mp::Queue<int> go) {
    go.get();
    for (int i = 0; i < 5; ++i) q.put(i);
}

int main() {
    std::printf(tr("== producer and consumer with a sentinel ==\n",
                   "== productor y consumidor con centinela ==\n"));
    // tour:begin run
    mp::Queue<Item> q;
    mp::Process p1(producer, q), p2(consumer, q);
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    // tour:end run
    // Each process prints in its own order, so the two kinds of lines may interleave;
    // the consumer always sees 0 1 2 3 4 in that order, then the sentinel.

    std::printf(tr("\n== why `while (!q.empty()) q.get();` is a race ==\n",
                   "\n== por qué `while (!q.empty()) q.get();` es una condición de carrera ==\n"));
    mp::Queue<int> items, report, go;
    mp::Process prod(slow_producer, items, go), cons(racy_consumer, items, report);
    prod.start();
    cons.start();
    int consumed = report.get();
    go.put(1);  // now let the producer put its items
    prod.join();
    cons.join();
    std::printf(tr("The racy consumer took %d of 5 items and stopped: it saw an empty queue\n",
                   "El consumidor con carrera tomó %d de 5 elementos y paró: vio la cola vacía\n"),
                consumed);
    std::printf(tr("before the producer had put anything. %zu items are still in the queue.\n",
                   "antes de que el productor pusiera algo. Quedan %zu elementos en la cola.\n"),
                items.qsize());
    std::printf(tr("Use a sentinel (or a count) to know when to stop, never empty().\n",
                   "Usa un centinela (o una cuenta) para saber cuándo parar, nunca empty().\n"));
    while (!items.empty()) items.get_nowait();  // only this process is left: no race now
}
