// Solution of exercise j2 — the deadlock (interbloqueo): each process held one Lock
// and waited for the other's. Both now take the locks in one fixed order (account A
// first), so neither can hold the second while waiting for the first.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

void transferir(mp::Lock primero, mp::Lock segundo, mp::Value<int> desde, mp::Value<int> hacia,
                int monto) {
    primero.acquire();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // checking the balance takes time
    segundo.acquire();
    desde.value() -= monto;
    hacia.value() += monto;
    segundo.release();
    primero.release();
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Lock lock_a, lock_b;
    mp::Value<int> a(100), b(100);
    mp::Process p1(transferir, lock_a, lock_b, a, b, 30);  // A → B: lock A, then B
    mp::Process p2(transferir, lock_a, lock_b, b, a, 10);  // B → A: also lock A, then B
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    std::printf("a=%d\n", a.value());
    std::printf("b=%d\n", b.value());
}
