// Solution of exercise a2 — lesson a): the guide's processes A and B.
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
    mp::Process p1(tarea, std::string("A"));  // Process(target=tarea, args=("A",))
    mp::Process p2(tarea, std::string("B"));
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    std::printf("Todos los procesos han finalizado\n");
}
