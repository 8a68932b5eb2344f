// Exercise e2 — lesson e): six tasks of 0.4 s on a Pool of 4 workers.
// Check it: mp-tour practice e2        A hint: mp-tour practice e2 --hint
//
// Python (the guide of session 8, with time.sleep(1)):
//     with Pool(processes=4) as pool:
//         resultados = pool.map(cuadrado, [1, 2, 3, 4, 5, 6])
//
// EN: Today main() squares the six numbers one after the other: 6 x 0.4 s = 2.4 s.
//     Use a Pool of 4 processes and its map. Before you run it: how long will it take?
// ES: Hoy main() calcula los seis cuadrados uno tras otro: 6 x 0,4 s = 2,4 s. Usa un
//     Pool de 4 procesos y su map. Antes de ejecutarlo: ¿cuánto tardará?
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

int cuadrado(int x) {
    std::printf("tarea:%d=%d\n", x, mp::current_process().pid());
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return x * x;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    auto t0 = std::chrono::steady_clock::now();
    std::vector<int> numeros = {1, 2, 3, 4, 5, 6};
    // TODO (en): replace this loop by an mp::Pool of 4 processes and pool.map(cuadrado, numeros).
    // TODO (es): reemplaza este bucle por un mp::Pool de 4 procesos y pool.map(cuadrado, numeros).
    std::vector<int> resultados;
    for (int x : numeros) resultados.push_back(cuadrado(x));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string r;
    for (int x : resultados) r += (r.empty() ? "" : ",") + std::to_string(x);
    std::printf("resultados=%s\n", r.c_str());
    std::printf("segundos=%.2f\n", s);
}
