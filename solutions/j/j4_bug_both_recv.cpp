// Solution of exercise j4 — both ends waited in recv(), each for the other to speak
// first. One side must send first: here the parent, as in the guide's Pipe example.
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
    parent_conn.send(std::string("hola-del-padre"));
    auto respuesta = parent_conn.recv<std::string>();
    std::printf("padre_recibio=%s\n", respuesta.c_str());
    p.join();
}
