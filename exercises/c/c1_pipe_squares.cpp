// Exercise c1 — lesson c): a conversation through a Pipe.
// Check it: mp-tour practice c1        A hint: mp-tour practice c1 --hint
//
// EN: The parent sends 1 … 10 and then -1 ("no more") through the Pipe, and reads one
//     answer per number. Write the child: receive numbers until -1, and send back
//     the square of each.
// ES: El padre envía 1 … 10 y luego -1 ("no hay más") por la Pipe, y lee una respuesta
//     por número. Escribe el hijo: recibe números hasta el -1 y devuelve el cuadrado
//     de cada uno.
#include <mp/mp.hpp>

#include <cstdio>

void hijo(mp::Connection conn) {
    // TODO (en): loop: int x = conn.recv<int>(); stop at -1; otherwise conn.send(x * x).
    // TODO (es): bucle: int x = conn.recv<int>(); para en -1; si no, conn.send(x * x).
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
