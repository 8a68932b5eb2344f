// Solution of exercise j5 — the forgotten join(): main read the Value while the
// workers were still sleeping. join() each one before reading what they wrote.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

void tarea(mp::Value<int> total) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the work takes a while
    std::lock_guard guard(total.get_lock());
    total.value() += 10;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Value<int> total(0);
    std::vector<mp::Process> procesos;
    for (int i = 0; i < 4; ++i) procesos.emplace_back(tarea, total);
    for (auto& p : procesos) p.start();
    for (auto& p : procesos) p.join();
    std::printf("total=%d\n", total.value());
}
