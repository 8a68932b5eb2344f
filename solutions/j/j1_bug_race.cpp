// Solution of exercise j1 — the race condition: the read and the write of each
// increment happen under the Value's lock, so no process writes between them.
#include <mp/mp.hpp>

#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

void tarea(mp::Value<int> n) {
    for (int i = 0; i < 5000; ++i) {
        std::lock_guard guard(n.get_lock());  // with n.get_lock():
        int visto = n.value();
        std::this_thread::yield();
        n.value() = visto + 1;
    }
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Value<int> num(0);
    std::vector<mp::Process> procesos;
    for (int i = 0; i < 4; ++i) procesos.emplace_back(tarea, num);
    for (auto& p : procesos) p.start();
    for (auto& p : procesos) p.join();
    std::printf("total=%d\n", num.value());
}
