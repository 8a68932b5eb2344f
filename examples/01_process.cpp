// Lesson a) — processes: the parent and the child each print their PID.
//
// Python (the guide's example):
//     def worker():
//         print(f"Hijo PID: {os.getpid()}")
//     p = Process(target=worker); p.start(); p.join()
#include <mp/mp.hpp>

#include "lang.hpp"

#include <cstdio>

using example::tr;

// tour:begin main
void worker() {
    auto me = mp::current_process();
    std::printf(tr("Child  PID: %d (name %s, parent PID %d)\n",
                   "PID del hijo:  %d (nombre %s, PID del padre %d)\n"),
                me.pid(), me.name().c_str(), mp::parent_process()->pid());
}

int main() {
    std::printf(tr("Parent PID: %d (name %s)\n", "PID del padre: %d (nombre %s)\n"),
                mp::current_process().pid(), mp::current_process().name().c_str());
    mp::Process p(worker);
    p.start();
    p.join();
    std::printf(tr("The child's PID was %d and it ended with exit code %d.\n",
                   "El PID del hijo fue %d y terminó con código de salida %d.\n"),
                p.pid(), *p.exitcode());
    std::printf(tr("Two processes, two PIDs: each has its own memory.\n",
                   "Dos procesos, dos PID: cada uno tiene su propia memoria.\n"));
}
// tour:end main
