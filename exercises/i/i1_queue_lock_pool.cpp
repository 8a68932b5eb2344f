// Exercise i1 — combined exercise: Queue + Lock + Pool in one program.
// Check it: mp-tour practice i1        A hint: mp-tour practice i1 --hint
//
// EN: A Pool of 4 processes handles the items 1 … 40. Each task must
//       * put the pair (item, item * item) into the results Queue, and
//       * add 1 to the shared counter, holding the Lock.
//     The Queue, the Lock and the counter reach the workers through the Pool's
//     initializer (they are handles, not data). main() takes every result from
//     the Queue: none may be lost.
// ES: Un Pool de 4 procesos atiende los elementos 1 … 40. Cada tarea debe
//       * poner el par (elemento, elemento * elemento) en la Queue de resultados, y
//       * sumar 1 al contador compartido, con el Lock tomado.
//     La Queue, el Lock y el contador llegan a los workers por el inicializador del
//     Pool (son handles, no datos). main() toma cada resultado de la Queue: no se
//     puede perder ninguno.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <vector>

struct Par {
    int item = 0;
    long cuadrado = 0;
};

struct Compartido {
    mp::Queue<Par> resultados;
    mp::Lock lock;
    mp::Value<int> contador{0};
};
std::optional<Compartido> g;  // in each worker: set by init

void init(mp::Queue<Par> resultados, mp::Lock lock, mp::Value<int> contador) {
    g = Compartido{resultados, lock, contador};
}

int tarea(int item) {
    // TODO (en): g->resultados.put(Par{item, long{item} * item}); then, holding g->lock,
    // g->contador.value() += 1.
    // TODO (es): g->resultados.put(Par{item, long{item} * item}); luego, con g->lock tomado,
    // g->contador.value() += 1.
    return item;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Queue<Par> resultados;
    mp::Lock lock;
    mp::Value<int> contador(0);
    std::vector<int> items;
    for (int i = 1; i <= 40; ++i) items.push_back(i);
    {
        mp::Pool pool(4, init, resultados, lock, contador);
        pool.map(tarea, items);
    }
    int recibidos = 0;
    long suma = 0;
    try {
        for (int i = 0; i < 40; ++i) {
            Par p = resultados.get(std::chrono::seconds(2));
            ++recibidos;
            suma += p.cuadrado;
        }
    } catch (const mp::Empty&) {
        std::printf("la cola quedó vacía antes de tiempo\n");
    }
    std::printf("recibidos=%d\n", recibidos);
    std::printf("suma=%ld\n", suma);
    std::printf("contador=%d\n", contador.value());
}
