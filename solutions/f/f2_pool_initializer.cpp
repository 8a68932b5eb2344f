// Solution of exercise f2 — lesson f): hand a Value to a Pool through an initializer.
#include <mp/mp.hpp>

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

std::optional<mp::Value<int>> g_contador;  // set in each worker by init

void init(mp::Value<int> contador) {
    g_contador = contador;
}

int tarea(int x) {
    std::lock_guard guard(g_contador->get_lock());
    g_contador->value() += 1;
    return 2 * x;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Value<int> contador(0);
    std::vector<int> items;
    for (int i = 1; i <= 20; ++i) items.push_back(i);
    mp::Pool pool(4, init, contador);  // Pool(4, initializer=init, initargs=(contador,))
    std::vector<int> r = pool.map(tarea, items);
    long suma = 0;
    for (int x : r) suma += x;
    std::printf("suma=%ld\n", suma);
    std::printf("contador=%d\n", contador.value());
}
