// Lesson d) — synchronization with a Lock: a race condition, then the fix.
//
// Python (the guide's example):
//     def tarea(lock, i):
//         lock.acquire()
//         print(f"Proceso {i} entrando a sección crítica")
//         lock.release()
//     lock = Lock()
//     procesos = [Process(target=tarea, args=(lock, i)) for i in range(3)]
//
// First we show *why* a lock is needed: four processes add 1 to a shared counter by
// reading it, pausing a moment, and writing it back. Without a lock two processes
// read the same old value and one update is lost; with the lock the total is right.
#include <mp/mp.hpp>

#include "lang.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

using example::tr;

constexpr int kProcesses = 4;
constexpr int kIncrements = 200;

// Read, pause (as real work would), write back: a read-modify-write that is not atomic.
void add_one(mp::RawValue<long>& counter) {
    long seen = counter.value();
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    counter.value() = seen + 1;
}

long run(bool with_lock) {
    mp::RawValue<long> counter(0);
    mp::Lock lock;
    std::vector<mp::Process> procs;
    for (int i = 0; i < kProcesses; ++i) {
        procs.emplace_back([counter, lock, with_lock]() mutable {
            for (int k = 0; k < kIncrements; ++k) {
                if (with_lock) {
                    std::lock_guard guard(lock);  // Python: with lock:
                    add_one(counter);
                } else {
                    add_one(counter);
                }
            }
        });
    }
    for (auto& p : procs) p.start();
    for (auto& p : procs) p.join();
    return counter.value();
}

// tour:begin tarea
void tarea(mp::Lock lock, int i) {
    lock.acquire();
    std::printf(
        tr("Process %d entering the critical section\n", "Proceso %d entrando a sección crítica\n"),
        i);
    lock.release();
}
// tour:end tarea

int main() {
    const long expected = long{kProcesses} * kIncrements;
    std::printf(tr("%d processes each add 1 to a shared counter %d times.\n",
                   "%d procesos suman 1 cada uno a un contador compartido %d veces.\n"),
                kProcesses, kIncrements);

    long got = run(false);
    std::printf(tr("Without a lock: expected %ld, got %ld  (%ld updates lost: a race condition)\n",
                   "Sin lock: se esperaba %ld, salió %ld  (%ld actualizaciones perdidas: una "
                   "condición de carrera)\n"),
                expected, got, expected - got);
    got = run(true);
    std::printf(tr("With a lock:    expected %ld, got %ld  (%s)\n",
                   "Con lock:  se esperaba %ld, salió %ld  (%s)\n"),
                expected, got,
                got == expected ? tr("correct", "correcto") : tr("WRONG", "INCORRECTO"));

    std::printf(tr("\nThe guide's example: one process at a time in the critical section.\n",
                   "\nEl ejemplo de la guía: un proceso a la vez en la sección crítica.\n"));
    // tour:begin guide
    mp::Lock lock;
    std::vector<mp::Process> procs;
    for (int i = 0; i < 3; ++i) procs.emplace_back(tarea, lock, i);
    for (auto& p : procs) p.start();
    for (auto& p : procs) p.join();
    // tour:end guide
}
