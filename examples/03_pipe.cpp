// Lesson c) — communication: a Pipe joins two processes; each end can send and receive.
//
// Python (the guide's example):
//     def hijo(conn):
//         msg = conn.recv(); print(f"Hijo recibió: {msg}")
//         conn.send("Mensaje desde hijo"); conn.close()
//     parent_conn, child_conn = Pipe()
//     p = Process(target=hijo, args=(child_conn,)); p.start()
//     parent_conn.send("Hola desde padre"); print(parent_conn.recv()); p.join()
#include <mp/mp.hpp>

#include "lang.hpp"

#include <cstdio>
#include <string>
#include <vector>

using example::tr;

// tour:begin all
void child(mp::Connection conn) {
    auto msg = conn.recv<std::string>();
    std::printf(tr("Child received: %s\n", "El hijo recibió: %s\n"), msg.c_str());
    std::fflush(stdout);
    conn.send(std::string(tr("Message from the child", "Mensaje desde el hijo")));
    // Any serializable type can travel: here a vector of numbers.
    conn.send(std::vector<int>{1, 2, 3});
    conn.close();
}

int main() {
    auto [parent_conn, child_conn] = mp::Pipe();
    mp::Process p(child, child_conn);
    p.start();
    child_conn.close();  // the parent keeps only its own end

    parent_conn.send(std::string(tr("Hello from the parent", "Hola desde el padre")));
    std::printf(tr("Parent received: %s\n", "El padre recibió: %s\n"),
                parent_conn.recv<std::string>().c_str());
    auto v = parent_conn.recv<std::vector<int>>();
    std::printf(tr("Parent received a vector of %zu numbers, sum %d\n",
                   "El padre recibió un vector de %zu números, suma %d\n"),
                v.size(), v[0] + v[1] + v[2]);
    p.join();
    // tour:end all

    try {
        parent_conn.recv<std::string>();
    } catch (const mp::EOFError&) {
        std::printf(
            tr("recv() after the child closed its end: EOFError, as in Python\n",
               "recv() después de que el hijo cerró su extremo: EOFError, como en Python\n"));
    }
}
