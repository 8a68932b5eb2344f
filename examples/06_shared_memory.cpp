// Lesson f) — basic shared memory: Value and Array (and a named SharedMemory block).
//
// Python (the guide's example):
//     def tarea(n):
//         n.value += 1
//     num = Value('i', 0)
//     procesos = [Process(target=tarea, args=(num,)) for _ in range(5)]
//     ...
//     print(f"Valor final: {num.value}")
//
// `n.value += 1` reads and then writes: two processes can interleave and lose an update.
// Here each of the 5 processes adds 1000 times under the Value's own lock, get_lock().
#include <mp/mp.hpp>

#include "lang.hpp"

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

using example::tr;

// tour:begin tarea
void tarea(mp::Value<int> n) {
    for (int k = 0; k < 1000; ++k) {
        std::lock_guard guard(n.get_lock());  // Python: with n.get_lock():
        n.value() += 1;
    }
}
// tour:end tarea

// Worker w fills its slice of the array with squares.
void fill(mp::Array<long> a, int w, int per_worker) {
    for (int i = w * per_worker; i < (w + 1) * per_worker; ++i)
        a[static_cast<std::size_t>(i)] = long{i} * i;
}

int main() {
    // tour:begin value
    mp::Value<int> num(0);  // Value('i', 0)
    std::vector<mp::Process> procs;
    for (int i = 0; i < 5; ++i) procs.emplace_back(tarea, num);
    for (auto& p : procs) p.start();
    for (auto& p : procs) p.join();
    std::printf(tr("Final value: %d (5 processes x 1000 locked increments, expected 5000)\n",
                   "Valor final: %d (5 procesos x 1000 incrementos con lock, se esperaba 5000)\n"),
                num.value());
    // tour:end value

    constexpr int kWorkers = 4, kPer = 3;
    mp::Array<long> squares(kWorkers * kPer);  // Array('l', 12): zero-filled
    procs.clear();
    for (int w = 0; w < kWorkers; ++w) procs.emplace_back(fill, squares, w, kPer);
    for (auto& p : procs) p.start();
    for (auto& p : procs) p.join();
    std::printf(tr("Array filled by %d processes:", "Array llenado por %d procesos:"), kWorkers);
    for (long x : squares) std::printf(" %ld", x);
    std::printf("\n");

    // A named block: any process that knows the name can attach (Python's shared_memory).
    mp::SharedMemory block(64);
    mp::Process writer([name = block.name()] {
        mp::SharedMemory mine(name);  // attach by name
        std::strcpy(reinterpret_cast<char*>(mine.buf().data()),
                    tr("hello from the child", "hola desde el hijo"));
    });
    writer.start();
    writer.join();
    std::printf(
        tr("A SharedMemory block the child attached by name now holds: \"%s\"\n",
           "Un bloque SharedMemory al que el hijo se unió por nombre contiene ahora: \"%s\"\n"),
        reinterpret_cast<const char*>(block.buf().data()));
    block.unlink();  // as in Python: the creator removes it when done (else: at program end)
}
