// Exercise b1 — lesson b): start, is_alive, pid, join, exitcode.
// Check it: mp-tour practice b1        A hint: mp-tour practice b1 --hint
//
// EN: Replace each -1 with the real call on p, at the place where it is printed.
// ES: Reemplaza cada -1 por la llamada real sobre p, en el lugar donde se imprime.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

void tarea() {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    mp::Process p(tarea);
    p.start();
    // TODO (en): p.pid() and p.is_alive() right after start().
    // TODO (es): p.pid() y p.is_alive() justo después de start().
    std::printf("pid=%d\n", -1);
    std::printf("vivo_tras_start=%d\n", -1);
    p.join();
    // TODO (en): p.is_alive() after join(), and the exit code (p.exitcode() is a
    // std::optional<int>).
    // TODO (es): p.is_alive() después de join(), y el código de salida (p.exitcode() es un
    // std::optional<int>).
    std::printf("vivo_tras_join=%d\n", -1);
    std::printf("exitcode=%d\n", -1);
}
