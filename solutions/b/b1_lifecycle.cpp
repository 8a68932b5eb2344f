// Solution of exercise b1 — lesson b): start, is_alive, pid, join, exitcode.
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
    std::printf("pid=%d\n", p.pid());
    std::printf("vivo_tras_start=%d\n", p.is_alive() ? 1 : 0);
    p.join();
    std::printf("vivo_tras_join=%d\n", p.is_alive() ? 1 : 0);
    std::printf("exitcode=%d\n", p.exitcode().value_or(-1));
}
