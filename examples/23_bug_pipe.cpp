// Debugging exercise 23 (BUGGY) — a Pipe where both ends wait to receive.
//
// The guide's Pipe example: the child does recv() then send(); the parent must
// send() first. Here the parent waits for the child's greeting first, while the
// child waits for the parent's message: both block in recv() forever.
//
// Symptom: nothing ever arrives. A plain recv() would hang; we detect it with
// poll(timeout) — "is there something to read within 1 s?" — and report it.
// The fix is in 23_fix_pipe.cpp.
#include <mp/mp.hpp>

#include "lang.hpp"

#include <chrono>
#include <cstdio>
#include <string>

using example::tr;

using namespace std::chrono_literals;

// tour:begin child
void hijo(mp::Connection conn) {
    if (!conn.poll(1s)) {  // BUG (its half): waits for the parent, which waits for us
        std::printf(tr("child:  waited 1 s in recv(), nothing arrived\n",
                       "hijo:  esperó 1 s en recv(), no llegó nada\n"));
        return;
    }
    std::printf(tr("child received: %s\n", "el hijo recibió: %s\n"),
                conn.recv<std::string>().c_str());
    conn.send(std::string("Mensaje desde hijo"));
}
// tour:end child

int main() {
    // tour:begin parent
    auto [parent_conn, child_conn] = mp::Pipe();
    mp::Process p(hijo, child_conn);
    p.start();
    // BUG: the parent receives before it sends; the child does the same.
    if (parent_conn.poll(1s)) {
        // tour:end parent
        std::printf(tr("parent received: %s\n", "el padre recibió: %s\n"),
                    parent_conn.recv<std::string>().c_str());
    } else {
        std::printf(tr("parent: waited 1 s in recv(), nothing arrived\n",
                       "padre: esperó 1 s en recv(), no llegó nada\n"));
        std::printf(
            tr("Symptom: DEADLOCK — both ends of the Pipe are waiting to receive, so neither\n"
               "ever sends. Without the timeout this program would hang forever.\n",
               "Síntoma: INTERBLOQUEO (deadlock) — los dos extremos de la Pipe esperan recibir, "
               "así que\n"
               "ninguno envía nunca. Sin el timeout este programa se colgaría para siempre.\n"));
    }
    p.join();
}
