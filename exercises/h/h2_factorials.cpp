// Exercise h2 — mini-exercise 2: factorials of big numbers with a Pool of 4.
// Check it: mp-tour practice h2        A hint: mp-tour practice h2 --hint
//
// "Usa un Pool de 4 procesos para calcular los factoriales de una lista de números
// grandes (math.factorial)." GMP's mpz_class plays math.factorial's big integers.
//
// EN: Today main() computes every factorial itself. Compute them in a Pool of 4
//     processes with map (one number per task: they differ a lot in cost).
// ES: Hoy main() calcula cada factorial él mismo. Calcúlalos en un Pool de 4 procesos
//     con map (un número por tarea: su costo es muy distinto).
#include <mp/mp.hpp>

#include <gmpxx.h>

#include <cstdio>
#include <string>
#include <vector>

struct Resumen {  // plain data: it crosses between processes as bytes
    long n = 0;
    long cifras = 0;  // digits of n!
    long ceros = 0;   // zeros at its end
};

Resumen factorial_de(long n) {
    mpz_class f;
    mpz_fac_ui(f.get_mpz_t(), static_cast<unsigned long>(n));
    std::string s = f.get_str();
    Resumen r{n, static_cast<long>(s.size()), 0};
    while (r.ceros < r.cifras && s[s.size() - 1 - static_cast<std::size_t>(r.ceros)] == '0')
        ++r.ceros;
    std::printf("pid:%ld=%d\n", n, mp::current_process().pid());
    return r;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    std::vector<long> numeros = {500, 1000, 2000, 5000, 10000, 20000};
    // TODO (en): an mp::Pool of 4 and pool.map(factorial_de, numeros, 1) instead of this loop.
    // TODO (es): un mp::Pool de 4 y pool.map(factorial_de, numeros, 1) en lugar de este bucle.
    std::vector<Resumen> resultados;
    for (long n : numeros) resultados.push_back(factorial_de(n));
    for (const auto& r : resultados) {
        std::printf("cifras:%ld=%ld\n", r.n, r.cifras);
        std::printf("ceros:%ld=%ld\n", r.n, r.ceros);
    }
}
