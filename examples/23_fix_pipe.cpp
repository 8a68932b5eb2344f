// Debugging exercise 23 (FIXED) — the twin of 23_bug_pipe.cpp.
//
// Fix: agree on who speaks first. The parent sends, then receives; the child
// receives, then answers (the guide's order). poll(timeout) stays as a guard:
// it never fires now.
#include <mp/mp.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

void hijo(mp::Connection conn) {
    if (!conn.poll(5s)) {
        std::printf("child:  waited 5 s in recv(), nothing arrived\n");
        return;
    }
    std::printf("child received: %s\n", conn.recv<std::string>().c_str());
    conn.send(std::string("Mensaje desde hijo"));
}

int main() {
    auto [parent_conn, child_conn] = mp::Pipe();
    mp::Process p(hijo, child_conn);
    p.start();
    parent_conn.send(std::string("Hola desde padre"));  // FIX: the parent speaks first
    if (parent_conn.poll(5s)) {
        std::printf("parent received: %s\n", parent_conn.recv<std::string>().c_str());
        std::printf("Fixed: one end sends while the other receives; the conversation completes.\n");
    } else {
        std::printf("parent: waited 5 s in recv(), nothing arrived\n");
    }
    p.join();
}
