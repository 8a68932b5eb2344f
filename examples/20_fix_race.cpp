// Debugging exercise 20 (FIXED) — the twin of 20_bug_race.cpp.
//
// Python (the guides: "pueden sincronizarse con get_lock()"):
//     def tarea(n):
//         with n.get_lock():
//             n.value += 1
//
// Fix: the read-add-write is a critical section; hold the Value's own lock
// around it, so only one process at a time is between the read and the write.
#include <mp/mp.hpp>

#include "lang.hpp"

#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

using example::tr;

constexpr int kProcesses = 4;
constexpr int kIncrements = 5000;

// tour:begin tarea
void tarea(mp::Value<int> n) {
    for (int i = 0; i < kIncrements; ++i) {
        std::lock_guard guard(n.get_lock());  // FIX: with n.get_lock():
        int seen = n.value();
        std::this_thread::yield();  // others may run now, but they wait for the lock
        n.value() = seen + 1;
    }
}
// tour:end tarea

int main() {
    mp::Value<int> num(0);
    std::vector<mp::Process> procesos;
    for (int i = 0; i < kProcesses; ++i) procesos.emplace_back(tarea, num);
    for (auto& p : procesos) p.start();
    for (auto& p : procesos) p.join();

    int expected = kProcesses * kIncrements;
    std::printf(tr("%d processes x %d increments, under n.get_lock()\n",
                   "%d procesos x %d incrementos, con n.get_lock()\n"),
                kProcesses, kIncrements);
    std::printf(tr("Valor final: %d (expected %d)\n", "Valor final: %d (se esperaba %d)\n"),
                num.value(), expected);
    if (num.value() == expected) {
        std::printf(tr("Fixed: no increment was lost — the lock makes read-add-write one step.\n",
                       "Corregido: no se perdió ningún incremento — el lock hace de "
                       "leer-sumar-escribir un solo paso.\n"));
    } else {
        std::printf(tr("Unexpected: %d increments were lost despite the lock.\n",
                       "Inesperado: se perdieron %d incrementos a pesar del lock.\n"),
                    expected - num.value());
    }
    return num.value() == expected ? 0 : 1;
}
