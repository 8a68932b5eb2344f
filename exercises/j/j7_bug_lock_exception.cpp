// Exercise j7 — a planted bug: a Lock that an exception leaves taken.
// Check it: mp-tour practice j7        A hint: mp-tour practice j7 --hint
//
// EN: Two processes add procesar(i) for i = 0 … 19 into a shared total, under a
//     Lock. procesar(13) throws; that item should be counted as an error and the
//     others added: total = 190 - 13 = 177 and errores = 1. Both workers should end
//     with exit code 0. Make it so.
// ES: Dos procesos suman procesar(i) para i = 0 … 19 en un total compartido, con un
//     Lock. procesar(13) lanza una excepción; ese elemento debería contarse como error
//     y los demás sumarse: total = 190 - 13 = 177 y errores = 1. Ambos workers deberían
//     terminar con código de salida 0. Haz que así sea.
#include <mp/mp.hpp>

#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <vector>

int procesar(int i) {
    if (i == 13) throw std::runtime_error("dato dañado");
    return i;
}

void worker(mp::Lock lock, mp::Value<long> total, mp::Value<int> errores, int w) {
    for (int i = w; i < 20; i += 2) {
        try {
            lock.acquire();
            total.value() += procesar(i);
            lock.release();
        } catch (const std::runtime_error&) {
            std::lock_guard guard(errores.get_lock());
            errores.value() += 1;
        }
    }
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Lock lock;
    mp::Value<long> total(0);
    mp::Value<int> errores(0);
    mp::Process a(worker, lock, total, errores, 0), b(worker, lock, total, errores, 1);
    a.start();
    b.start();
    a.join();
    b.join();
    std::printf("total=%ld\n", total.value());
    std::printf("errores=%d\n", errores.value());
    std::printf("salida_a=%d\n", a.exitcode().value_or(-1));
    std::printf("salida_b=%d\n", b.exitcode().value_or(-1));
}
