// Solution of exercise h2 — mini-exercise 2: factorials of big numbers with a Pool of 4.
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
    mp::Pool pool(4);
    std::vector<Resumen> resultados = pool.map(factorial_de, numeros, 1);
    for (const auto& r : resultados) {
        std::printf("cifras:%ld=%ld\n", r.n, r.cifras);
        std::printf("ceros:%ld=%ld\n", r.n, r.ceros);
    }
}
