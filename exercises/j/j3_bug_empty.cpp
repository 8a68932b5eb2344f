// Exercise j3 — a planted bug: items are lost. Find it and fix it.
// Check it: mp-tour practice j3        A hint: mp-tour practice j3 --hint
//
// The guide's lesson c) consumer loops "while not q.empty()".
//
// EN: The producer puts 50 numbers; the consumer should consume all 50, but it
//     consumes fewer (often none). Make the consumer take every item.
// ES: El productor pone 50 números; el consumidor debería consumir los 50, pero
//     consume menos (a menudo ninguno). Haz que el consumidor tome cada elemento.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

using Item = std::optional<int>;  // nullopt: "no more" (Python's None)

void productor(mp::Queue<Item> q) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // getting ready
    for (int i = 1; i <= 50; ++i) q.put(i);
}

void consumidor(mp::Queue<Item> q, mp::Value<int> consumidos, mp::Value<long> suma) {
    while (!q.empty()) {
        Item item = q.get();
        consumidos.value() += 1;
        suma.value() += *item;
    }
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Queue<Item> q;
    mp::Value<int> consumidos(0);
    mp::Value<long> suma(0);
    mp::Process p1(productor, q);
    mp::Process p2(consumidor, q, consumidos, suma);
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    std::printf("consumidos=%d\n", consumidos.value());
    std::printf("suma=%ld\n", suma.value());
}
