// Exercise j1 — a planted bug: the race condition. Find it and fix it.
// Check it: mp-tour practice j1        A hint: mp-tour practice j1 --hint
//
// EN: Four processes add 1 to a shared Value 5000 times each: the total should be
//     20000, but it comes out lower. Make it exact, keeping the four processes.
// ES: Cuatro procesos suman 1 a un Value compartido 5000 veces cada uno: el total
//     debería ser 20000, pero sale menos. Haz que sea exacto, sin quitar los cuatro
//     procesos.
#include <mp/mp.hpp>

#include <cstdio>
#include <thread>
#include <vector>

void tarea(mp::Value<int> n) {
    for (int i = 0; i < 5000; ++i) {
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
