// Exercise f2 — lesson f): hand a Value to a Pool through an initializer.
// Check it: mp-tour practice f2        A hint: mp-tour practice f2 --hint
//
// A Value cannot travel as a task argument (it is a handle to shared memory, not
// data): in Python pool.map(f, [(v, x)]) fails for the same reason. The way is
// Pool(4, initializer=init, initargs=(contador,)): init runs once in each worker and
// keeps the handle in a global that every task of that worker uses.
//
// EN: Make each call of tarea add 1 to the shared counter, so that after the map
//     contador equals the number of items.
// ES: Haz que cada llamada a tarea sume 1 al contador compartido, de modo que después
//     del map contador sea igual al número de elementos.
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
    // TODO (en): holding g_contador->get_lock(), add 1 to g_contador->value().
    // TODO (es): con g_contador->get_lock(), suma 1 a g_contador->value().
    return 2 * x;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Value<int> contador(0);
    std::vector<int> items;
    for (int i = 1; i <= 20; ++i) items.push_back(i);
    // TODO (en): give the Pool its initializer: mp::Pool pool(4, init, contador);
    // TODO (es): dale al Pool su inicializador: mp::Pool pool(4, init, contador);
    mp::Pool pool(4);
    std::vector<int> r = pool.map(tarea, items);
    long suma = 0;
    for (int x : r) suma += x;
    std::printf("suma=%ld\n", suma);
    std::printf("contador=%d\n", contador.value());
}
