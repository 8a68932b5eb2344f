// Exercise j4 — a planted bug: a Pipe conversation that never starts.
// Check it: mp-tour practice j4        A hint: mp-tour practice j4 --hint
//
// EN: Parent and child should greet each other through the Pipe, but the program
//     hangs. Make the conversation happen: each side receives the other's greeting.
// ES: Padre e hijo deberían saludarse por la Pipe, pero el programa se cuelga. Haz
//     que la conversación ocurra: cada lado recibe el saludo del otro.
#include <mp/mp.hpp>

#include <cstdio>
#include <string>

void hijo(mp::Connection conn) {
    auto msg = conn.recv<std::string>();
    std::printf("hijo_recibio=%s\n", msg.c_str());
    conn.send(std::string("hola-del-hijo"));
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    auto [parent_conn, child_conn] = mp::Pipe();
    mp::Process p(hijo, child_conn);
    p.start();
    auto respuesta = parent_conn.recv<std::string>();
    parent_conn.send(std::string("hola-del-padre"));
    std::printf("padre_recibio=%s\n", respuesta.c_str());
    p.join();
}
