// Solution of exercise d1 — lesson d): one process at a time in the critical section.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

void tarea(mp::Lock lock, int i) {
    std::lock_guard guard(lock);  // Python: with lock:
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
