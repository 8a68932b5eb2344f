// Solution of exercise j7 — procesar(13) threw between acquire() and release(), so
// release() never ran: the worker's next acquire() of a Lock it already held threw,
// and the other worker found the Lock abandoned. A std::lock_guard releases the Lock
// whatever way the block is left (Python: with lock:).
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
            std::lock_guard guard(lock);
            total.value() += procesar(i);
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
