// Lesson b) — the life of a process: created, started, running, ended, joined.
//
// Python (the guide's example):
//     def tarea():
//         print("Inicio tarea"); time.sleep(2); print("Fin tarea")
//     p = Process(target=tarea)
//     p.start(); print(f"Proceso iniciado con PID {p.pid}"); p.join(); print("Proceso finalizado")
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

void task() {
    std::printf("  [child] task starts\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::printf("  [child] task ends\n");
}

const char* yes_no(bool b) {
    return b ? "yes" : "no";
}

int main() {
    mp::Process p(task);
    std::printf("created:  pid=%d  is_alive=%s  (nothing runs before start)\n", p.pid(),
                yes_no(p.is_alive()));
    p.start();
    std::printf("started:  pid=%d  is_alive=%s\n", p.pid(), yes_no(p.is_alive()));
    std::fflush(stdout);
    bool ended = p.join(std::chrono::milliseconds(100));
    std::printf("join(100ms) returned %s: the child is still working, is_alive=%s\n",
                ended ? "true" : "false", yes_no(p.is_alive()));
    std::fflush(stdout);
    p.join();
    std::printf("joined:   is_alive=%s  exitcode=%d\n", yes_no(p.is_alive()), *p.exitcode());

    mp::Process stuck([] { std::this_thread::sleep_for(std::chrono::hours(1)); });
    stuck.start();
    stuck.terminate();
    stuck.join();
    std::printf("terminated: exitcode=%d (minus the signal number: SIGTERM is 15)\n",
                *stuck.exitcode());
    std::printf("Process finished\n");
}
