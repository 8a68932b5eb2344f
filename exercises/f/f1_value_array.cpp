// Exercise f1 — lesson f): a Value and an Array shared by four processes.
// Check it: mp-tour practice f1        A hint: mp-tour practice f1 --hint
//
// EN: Each of 4 processes must write the squares of its two positions of `cuadrados`
//     (process w: positions 2w and 2w+1) and add 1 to `hechos`, under the Value's lock.
// ES: Cada uno de 4 procesos debe escribir los cuadrados de sus dos posiciones de
//     `cuadrados` (el proceso w: posiciones 2w y 2w+1) y sumar 1 a `hechos`, con el
//     lock del Value.
#include <mp/mp.hpp>

#include <cstdio>
#include <string>
#include <vector>

void tarea(mp::Array<long> cuadrados, mp::Value<int> hechos, int w) {
    // TODO (en): cuadrados[i] = i * i for i = 2w and 2w + 1; then, holding hechos.get_lock(),
    // hechos.value() += 1.
    // TODO (es): cuadrados[i] = i * i para i = 2w y 2w + 1; luego, con hechos.get_lock(),
    // hechos.value() += 1.
    (void)cuadrados;
    (void)hechos;
    (void)w;
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
