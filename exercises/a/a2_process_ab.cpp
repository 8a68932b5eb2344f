// Exercise a2 — lesson a): the guide's processes A and B, with args=("A",).
// Check it: mp-tour practice a2        A hint: mp-tour practice a2 --hint
//
// Python (the guide of session 8):
//     p1 = Process(target=tarea, args=("A",))
//     p2 = Process(target=tarea, args=("B",))
//     p1.start(); p2.start()
//     p1.join(); p2.join()
//
// EN: Today main() calls tarea("A") and then tarea("B") itself: one PID, one after
//     the other (1 s). Run each in its own process, both at the same time (about 0.5 s).
// ES: Hoy main() llama a tarea("A") y luego a tarea("B") él mismo: un solo PID, una
//     después de la otra (1 s). Ejecuta cada una en su propio proceso, las dos a la
//     vez (unos 0,5 s).
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

void tarea(std::string nombre) {
    std::printf("inicio:%s=%d\n", nombre.c_str(), mp::current_process().pid());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::printf("fin:%s=%d\n", nombre.c_str(), mp::current_process().pid());
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    // TODO (en): two mp::Process, one with the argument "A", one with "B"; start both, then join
    // both.
    // TODO (es): dos mp::Process, uno con el argumento "A" y otro con "B"; inicia ambos y luego
    // espera ambos.
    tarea("A");
    tarea("B");
    std::printf("Todos los procesos han finalizado\n");
}
