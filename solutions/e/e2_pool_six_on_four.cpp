// Solution of exercise e2 — lesson e): six tasks of 0.4 s on a Pool of 4 workers.
// Four tasks run at once, then the last two: two rounds, about 0.8 s (the guide's
// version with sleep(1) takes about 2 s for the same reason).
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
    mp::Pool pool(4);
    std::vector<int> resultados = pool.map(cuadrado, numeros, 1);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string r;
    for (int x : resultados) r += (r.empty() ? "" : ",") + std::to_string(x);
    std::printf("resultados=%s\n", r.c_str());
    std::printf("segundos=%.2f\n", s);
}
