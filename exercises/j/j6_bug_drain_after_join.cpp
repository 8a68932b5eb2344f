// Exercise j6 — a planted bug: join() before taking the items out of the Queue.
// Check it: mp-tour practice j6        A hint: mp-tour practice j6 --hint
//
// EN: The child puts 100 numbers into a Queue that holds at most 10; main waits for
//     the child, then takes the numbers. It hangs. Make it take all 100.
// ES: El hijo pone 100 números en una Queue que admite como mucho 10; main espera al
//     hijo y luego toma los números. Se cuelga. Haz que tome los 100.
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
    p.join();
    int recibidos = 0;
    long suma = 0;
    for (int i = 0; i < 100; ++i) {
        suma += q.get();
        ++recibidos;
    }
    std::printf("recibidos=%d\n", recibidos);
    std::printf("suma=%ld\n", suma);
}
