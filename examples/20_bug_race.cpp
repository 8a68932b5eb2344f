// Debugging exercise 20 (BUGGY) — a race condition: no lock around `n += 1`.
//
// Python (lesson f):
//     def tarea(n):
//         n.value += 1            # read, add, write: three steps, not one
//
// Four processes each add 1 to a shared mp::Value many times. `+= 1` is a
// read, an add and a write; when another process writes between our read and
// our write, its update is overwritten and lost. (std::this_thread::yield()
// between the two widens that window, as the interpreter does in Python, so
// the race shows every time instead of now and then.)
//
// Symptom: the final total is smaller than expected. Fix: 20_fix_race.cpp.
#include <mp/mp.hpp>

#include "lang.hpp"

#include <cstdio>
#include <thread>
#include <vector>

using example::tr;

constexpr int kProcesses = 4;
constexpr int kIncrements = 5000;

// tour:begin tarea
void tarea(mp::Value<int> n) {
    for (int i = 0; i < kIncrements; ++i) {
        int seen = n.value();       // read …
        std::this_thread::yield();  // … another process may run right here …
        n.value() = seen + 1;       // … write: whatever it wrote meanwhile is lost (BUG)
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
    std::printf(
        tr("%d processes x %d increments, no lock\n", "%d procesos x %d incrementos, sin lock\n"),
        kProcesses, kIncrements);
    std::printf(tr("Valor final: %d (expected %d)\n", "Valor final: %d (se esperaba %d)\n"),
                num.value(), expected);
    if (num.value() != expected) {
        std::printf(
            tr("Symptom: RACE CONDITION — %d increments were lost: processes overwrote each\n"
               "other's writes between a read and a write.\n",
               "Síntoma: CONDICIÓN DE CARRERA — se perdieron %d incrementos: los procesos pisaron\n"
               "las escrituras de otros entre una lectura y una escritura.\n"),
            expected - num.value());
    } else {
        std::printf(
            tr("No update was lost this time (lucky timing) — the bug is still there.\n",
               "Esta vez no se perdió ninguna actualización (suerte) — el error sigue ahí.\n"));
    }
}
