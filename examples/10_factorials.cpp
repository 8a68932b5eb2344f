// Mini-exercise 2 — factorials of big numbers with a Pool of 4 processes.
//
// Python (the guide's exercise):
//     with Pool(4) as pool:
//         resultados = pool.map(math.factorial, [20, 1000, 5000, 20000])
//
// Each worker computes n! with GMP (mpz_class). An mpz_class cannot cross a process
// boundary (it holds a pointer to its digits), so a worker sends back what the parent
// needs: the number of digits, their sum (a checksum), the trailing zeros, the first
// digits — or the whole number when it is short.
#include <mp/mp.hpp>

#include "lang.hpp"

#include <gmpxx.h>

#include <cstdio>
#include <string>
#include <vector>

using example::tr;

struct Summary {
    unsigned long n = 0;
    std::size_t digits = 0;
    unsigned long digit_sum = 0;
    std::size_t trailing_zeros = 0;
    std::string head;  // the whole number if it has at most 30 digits, else its first 20 digits

    template <class Archive>
    void serialize(Archive& ar) {
        ar(n, digits, digit_sum, trailing_zeros, head);
    }
    bool operator==(const Summary&) const = default;
};

Summary factorial_summary(unsigned long n) {
    mpz_class f;
    mpz_fac_ui(f.get_mpz_t(), n);
    std::string s = f.get_str();
    Summary r;
    r.n = n;
    r.digits = s.size();
    for (char c : s) r.digit_sum += static_cast<unsigned long>(c - '0');
    while (r.trailing_zeros < s.size() && s[s.size() - 1 - r.trailing_zeros] == '0')
        ++r.trailing_zeros;
    r.head = s.size() <= 30 ? s : s.substr(0, 20);
    return r;
}

// tour:begin map
int main() {
    std::vector<unsigned long> numbers = {20, 100, 1000, 5000, 10000, 20000, 50000, 100000};

    std::vector<Summary> results;
    {
        mp::Pool pool(4);
        results = pool.map(factorial_summary, numbers,
                           1);  // one number per task: they differ a lot in cost
    }
    // tour:end map

    std::printf(tr("Factorials with a Pool of 4 processes (GMP in each worker):\n",
                   "Factoriales con un Pool de 4 procesos (GMP en cada worker):\n"));
    for (const auto& r : results) {
        if (r.digits <= 30) {
            std::printf("%lu! = %s\n", r.n, r.head.c_str());
        } else {
            std::printf(tr("%lu! has %zu digits, digit sum %lu, %zu trailing zeros, starts %s...\n",
                           "%lu! tiene %zu cifras, suma de cifras %lu, %zu ceros al final, empieza "
                           "%s...\n"),
                        r.n, r.digits, r.digit_sum, r.trailing_zeros, r.head.c_str());
        }
    }

    // The parent checks every answer by computing it itself.
    bool ok = true;
    for (std::size_t i = 0; i < numbers.size(); ++i)
        ok = ok && results[i] == factorial_summary(numbers[i]);
    std::printf(
        tr("all checked against the parent: %s\n", "todos verificados contra el padre: %s\n"),
        ok ? "OK" : tr("MISMATCH", "NO COINCIDEN"));
    return ok ? 0 : 1;
}
