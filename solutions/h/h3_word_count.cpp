// Solution of exercise h3 — mini-exercise 3: the producer reads words from a file, the consumer
// counts them.
#include <mp/mp.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>

using Palabra = std::optional<std::string>;  // nullopt: the sentinel (Python's None)
using Cuentas = std::map<std::string, int>;

void productor(std::string archivo, mp::Queue<Palabra> q) {
    std::ifstream in(archivo);
    for (std::string palabra; in >> palabra;) q.put(palabra);
    q.put(std::nullopt);
}

void consumidor(mp::Queue<Palabra> q, mp::Queue<Cuentas> resultado) {
    Cuentas cuentas;
    while (Palabra p = q.get()) ++cuentas[*p];
    resultado.put(cuentas);
}

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::string archivo = argc > 1 ? argv[1] : MP_EXERCISES_DIR "/../examples/data/texto.txt";
    mp::Queue<Palabra> q;
    mp::Queue<Cuentas> resultado;
    mp::Process p1(productor, archivo, q);
    mp::Process p2(consumidor, q, resultado);
    p1.start();
    p2.start();
    Cuentas cuentas = resultado.get();  // before join: take what the consumer sends
    p1.join();
    p2.join();
    long total = 0;
    for (const auto& [palabra, n] : cuentas) {
        std::printf("cuenta:%s=%d\n", palabra.c_str(), n);
        total += n;
    }
    std::printf("palabras=%ld\n", total);
    std::printf("distintas=%zu\n", cuentas.size());
}
