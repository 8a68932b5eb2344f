// Exercise d1 — lesson d): one process at a time in the critical section.
// Check it: mp-tour practice d1        A hint: mp-tour practice d1 --hint
//
// Python (the guide):
//     def tarea(lock, i):
//         lock.acquire()
//         print(f"Proceso {i} entrando a sección crítica")
//         lock.release()
//
// EN: Three processes enter and leave a critical section. Without a lock their
//     "entra" and "sale" lines interleave. Protect the section with the Lock so that
//     each "entra=i" is followed by its own "sale=i".
// ES: Tres procesos entran y salen de una sección crítica. Sin lock sus líneas
//     "entra" y "sale" se mezclan. Protege la sección con el Lock para que cada
//     "entra=i" vaya seguido de su propio "sale=i".
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

void tarea(mp::Lock lock, int i) {
    // TODO (en): hold the lock from here to the end of the section (std::lock_guard, or
    // acquire/release).
    // TODO (es): toma el lock desde aquí hasta el final de la sección (std::lock_guard, o
    // acquire/release).
    (void)lock;
    std::printf("entra=%d\n", i);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the work inside the section
    std::printf("sale=%d\n", i);
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Lock lock;
    std::vector<mp::Process> procesos;
    for (int i = 0; i < 3; ++i) procesos.emplace_back(tarea, lock, i);
    for (auto& p : procesos) p.start();
    for (auto& p : procesos) p.join();
}
