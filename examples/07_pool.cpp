// Lesson e) — a Pool of processes: the seed's squares with map, apply, map_async,
// apply_async and imap.
//
// Python (the guide's example):
//     def cuadrado(x):
//         return x * x
//     with Pool(4) as pool:
//         resultados = pool.map(cuadrado, [1, 2, 3, 4])
//         print(resultados)
#include <mp/mp.hpp>

#include "lang.hpp"

#include <cstdio>
#include <string>
#include <vector>

using example::tr;

// tour:begin cuadrado
int cuadrado(int x) {
    return x * x;
}  // square
// tour:end cuadrado

std::string show(const std::vector<int>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}

int main() {
    // tour:begin map
    mp::Pool pool(4);  // with Pool(4) as pool:  (the destructor terminates and reaps the workers)

    // map: f over every item, results in the order of the items (blocks until all are done).
    std::vector<int> resultados = pool.map(cuadrado, {1, 2, 3, 4});
    std::printf("map:       %s\n", show(resultados).c_str());
    // tour:end map

    // apply: one call, in a worker; blocks until its result is back.
    std::printf("apply:     %d\n", pool.apply(cuadrado, 7));

    // map_async: returns at once; get() waits for the whole list.
    mp::AsyncResult<std::vector<int>> pendiente = pool.map_async(cuadrado, {1, 2, 3, 4, 5, 6});
    std::printf("map_async: %s\n", show(pendiente.get()).c_str());

    // apply_async: many independent calls in flight; collect them afterwards.
    std::vector<mp::AsyncResult<int>> calls;
    for (int i = 0; i < 5; ++i) calls.push_back(pool.apply_async(cuadrado, i));
    std::vector<int> values;
    for (auto& c : calls) values.push_back(c.get());
    std::printf("apply_async: %s\n", show(values).c_str());

    // imap: like map, but each result can be used as soon as it (and those before it) arrive.
    std::printf("imap:     ");
    for (int r : pool.imap(cuadrado, std::vector{1, 2, 3, 4, 5, 6})) std::printf(" %d", r);
    std::printf("\n");

    // A lambda without captures works too; so does a function object with plain data.
    std::printf("lambda:    %d\n", pool.apply([](int a, int b) { return a * b; }, 6, 7));
    std::printf(tr("Each result was computed in one of the %zu worker processes.\n",
                   "Cada resultado se calculó en uno de los %zu procesos worker.\n"),
                pool.processes());
}
