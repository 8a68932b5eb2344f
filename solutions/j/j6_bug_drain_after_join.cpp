// Solution of exercise j6 — the child could not end while its puts waited for room,
// and main made no room until the child ended. Take the items first, then join().
#include <mp/mp.hpp>

#include <cstdio>

void productor(mp::Queue<int> q) {
    for (int i = 1; i <= 100; ++i) q.put(i);  // waits while the queue is full
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Queue<int> q(10);                      // Queue(maxsize=10)
    mp::Process p(productor, q);
    p.start();
    int recibidos = 0;
    long suma = 0;
    for (int i = 0; i < 100; ++i) {
        suma += q.get();
        ++recibidos;
    }
    p.join();
    std::printf("recibidos=%d\n", recibidos);
    std::printf("suma=%ld\n", suma);
}
