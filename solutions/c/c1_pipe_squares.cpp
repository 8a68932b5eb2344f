// Solution of exercise c1 — lesson c): a conversation through a Pipe.
#include <mp/mp.hpp>

#include <cstdio>

void hijo(mp::Connection conn) {
    while (true) {
        int x = conn.recv<int>();
        if (x == -1) break;
        conn.send(x * x);
    }
    conn.close();
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    auto [parent_conn, child_conn] = mp::Pipe();
    mp::Process p(hijo, child_conn);
    p.start();
    child_conn.close();  // the child's end is the child's: so a recv here ends if the child ends
    long suma = 0;
    int respuestas = 0;
    try {
        for (int x = 1; x <= 10; ++x) {
            parent_conn.send(x);
            suma += parent_conn.recv<int>();
            ++respuestas;
        }
        parent_conn.send(-1);
    } catch (const mp::EOFError&) {
        std::printf("el hijo cerró su extremo sin responder\n");
    }
    p.join();
    std::printf("respuestas=%d\n", respuestas);
    std::printf("suma=%ld\n", suma);
}
