// Solution of exercise f1 — lesson f): a Value and an Array shared by four processes.
#include <mp/mp.hpp>

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

void tarea(mp::Array<long> cuadrados, mp::Value<int> hechos, int w) {
    for (int i = 2 * w; i < 2 * w + 2; ++i) cuadrados[static_cast<std::size_t>(i)] = long{i} * i;
    std::lock_guard guard(hechos.get_lock());  // with hechos.get_lock():
    hechos.value() += 1;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Array<long> cuadrados(8);              // Array('l', 8): eight zeros
    mp::Value<int> hechos(0);                  // Value('i', 0)
    std::vector<mp::Process> procesos;
    for (int w = 0; w < 4; ++w) procesos.emplace_back(tarea, cuadrados, hechos, w);
    for (auto& p : procesos) p.start();
    for (auto& p : procesos) p.join();
    std::string s;
    for (long x : cuadrados) s += (s.empty() ? "" : ",") + std::to_string(x);
    std::printf("cuadrados=%s\n", s.c_str());
    std::printf("hechos=%d\n", hechos.value());
}
