// Exercise j5 — a planted bug: the total is read too soon.
// Check it: mp-tour practice j5        A hint: mp-tour practice j5 --hint
//
// EN: Four processes each add 10 to a shared Value; main prints the total, which
//     should be 40, but prints less. Make main print the real total.
// ES: Cuatro procesos suman 10 cada uno a un Value compartido; main imprime el
//     total, que debería ser 40, pero imprime menos. Haz que main imprima el total real.
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
    std::printf("total=%d\n", total.value());
}
