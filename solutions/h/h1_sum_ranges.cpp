// Solution of exercise h1 — mini-exercise 1: three processes sum ranges through a Queue.
#include <mp/mp.hpp>

#include <cstdio>
#include <vector>

constexpr long kN = 3'000'000;

void sumar(long desde, long hasta, mp::Queue<long> q) {  // the range [desde, hasta]
    long s = 0;
    for (long x = desde; x <= hasta; ++x) s += x;
    std::printf("parcial=%d\n", mp::current_process().pid());
    q.put(s);
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    mp::Queue<long> q;
    long total = 0;
    std::vector<mp::Process> procesos;
    for (long k = 0; k < 3; ++k) procesos.emplace_back(sumar, k * kN / 3 + 1, (k + 1) * kN / 3, q);
    for (auto& p : procesos) p.start();
    for (int k = 0; k < 3; ++k) total += q.get();
    for (auto& p : procesos) p.join();
    std::printf("total=%ld\n", total);
}
