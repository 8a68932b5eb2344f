// Debugging exercise 23 (FIXED) — the twin of 23_bug_pipe.cpp.
//
// Fix: agree on who speaks first. The parent sends, then receives; the child
// receives, then answers (the guide's order). poll(timeout) stays as a guard:
// it never fires now.
#include <mp/mp.hpp>

#include "lang.hpp"

#include <chrono>
#include <cstdio>
#include <string>

using example::tr;

using namespace std::chrono_literals;

void hijo(mp::Connection conn) {
    if (!conn.poll(5s)) {
        std::printf(tr("child:  waited 5 s in recv(), nothing arrived\n",
                       "hijo:  esperó 5 s en recv(), no llegó nada\n"));
        return;
    }
    std::printf(tr("child received: %s\n", "el hijo recibió: %s\n"),
                conn.recv<std::string>().c_str());
    conn.send(std::string("Mensaje desde hijo"));
}

int main() {
    auto [parent_conn, child_conn] = mp::Pipe();
    mp::Process p(hijo, child_conn);
    p.start();
    // tour:begin parent
    parent_conn.send(std::string("Hola desde padre"));  // FIX: the parent speaks first
    // tour:end parent
    if (parent_conn.poll(5s)) {
        std::printf(tr("parent received: %s\n", "el padre recibió: %s\n"),
                    parent_conn.recv<std::string>().c_str());
        std::printf(tr(
            "Fixed: one end sends while the other receives; the conversation completes.\n",
            "Corregido: un extremo envía mientras el otro recibe; la conversación se completa.\n"));
    } else {
        std::printf(tr("parent: waited 5 s in recv(), nothing arrived\n",
                       "padre: esperó 5 s en recv(), no llegó nada\n"));
    }
    p.join();
}
