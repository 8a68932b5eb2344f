// Lesson b) — the life of a process: created, started, running, ended, joined.
//
// Python (the guide's example):
//     def tarea():
//         print("Inicio tarea"); time.sleep(2); print("Fin tarea")
//     p = Process(target=tarea)
//     p.start(); print(f"Proceso iniciado con PID {p.pid}"); p.join(); print("Proceso finalizado")
#include <mp/mp.hpp>

#include "lang.hpp"

#include <chrono>
#include <cstdio>
#include <thread>

using example::tr;

void task() {
    std::printf(tr("  [child] task starts\n", "  [hijo] empieza la tarea\n"));
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::printf(tr("  [child] task ends\n", "  [hijo] termina la tarea\n"));
}

const char* yes_no(bool b) {
    return b ? tr("yes", "sí") : "no";
}

// tour:begin main
int main() {
    mp::Process p(task);
    std::printf(tr("created:  pid=%d  is_alive=%s  (nothing runs before start)\n",
                   "creado:   pid=%d  is_alive=%s  (nada corre antes de start)\n"),
                p.pid(), yes_no(p.is_alive()));
    p.start();
    std::printf(tr("started:  pid=%d  is_alive=%s\n", "iniciado: pid=%d  is_alive=%s\n"), p.pid(),
                yes_no(p.is_alive()));
    std::fflush(stdout);
    bool ended = p.join(std::chrono::milliseconds(100));
    std::printf(tr("join(100ms) returned %s: the child is still working, is_alive=%s\n",
                   "join(100ms) devolvió %s: el hijo sigue trabajando, is_alive=%s\n"),
                ended ? "true" : "false", yes_no(p.is_alive()));
    std::fflush(stdout);
    p.join();
    std::printf(tr("joined:   is_alive=%s  exitcode=%d\n", "esperado: is_alive=%s  exitcode=%d\n"),
                yes_no(p.is_alive()), *p.exitcode());
    // tour:end main

    mp::Process stuck([] { std::this_thread::sleep_for(std::chrono::hours(1)); });
    stuck.start();
    stuck.terminate();
    stuck.join();
    std::printf(tr("terminated: exitcode=%d (minus the signal number: SIGTERM is 15)\n",
                   "terminado: exitcode=%d (menos el número de la señal: SIGTERM es 15)\n"),
                *stuck.exitcode());
    std::printf(tr("Process finished\n", "Proceso finalizado\n"));
}
