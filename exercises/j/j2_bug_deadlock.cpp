// Exercise j2 — a planted bug: it hangs. Find out why and fix it.
// Check it: mp-tour practice j2        A hint: mp-tour practice j2 --hint
//
// EN: Two processes move money between two accounts, each account with its own
//     Lock. The program never ends. Make it end, with the balances right.
// ES: Dos procesos mueven dinero entre dos cuentas, cada cuenta con su propio Lock.
//     El programa nunca termina. Haz que termine, con los saldos correctos.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

void transferir(mp::Lock desde_lock, mp::Value<int> desde, mp::Lock hacia_lock,
                mp::Value<int> hacia, int monto) {
    desde_lock.acquire();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // checking the balance takes time
    hacia_lock.acquire();
    desde.value() -= monto;
    hacia.value() += monto;
    hacia_lock.release();
    desde_lock.release();
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Lock lock_a, lock_b;
    mp::Value<int> a(100), b(100);
    mp::Process p1(transferir, lock_a, a, lock_b, b, 30);  // A → B
    mp::Process p2(transferir, lock_b, b, lock_a, a, 10);  // B → A
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    std::printf("a=%d\n", a.value());
    std::printf("b=%d\n", b.value());
}
