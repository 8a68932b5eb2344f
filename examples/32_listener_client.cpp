// Lesson — Listener and Client: processes that were not forked from each other meet at
// an address, and prove they know a shared key before anything else is read.
//
// Python (the docs' "Listeners and Clients" example):
//     with Listener(('localhost', 6000), authkey=b'secret password') as listener:
//         with listener.accept() as conn:
//             print('connection accepted from', listener.last_accepted)
//             conn.send([2.25, None, 'junk', float])
//     ...
//     with Client(('localhost', 6000), authkey=b'secret password') as conn:
//         print(conn.recv())
//
// Here the client is a child process for brevity; it could be another program, or a
// Python program using multiprocessing.connection with the same key (send_bytes and
// recv_bytes interoperate; typed send/recv are mp's frames).
#include <mp/mp.hpp>

#include <cstdio>
#include <string>
#include <vector>
#include "lang.hpp"

using example::tr;

int main() {
    const std::string key = "secret password";
    mp::Listener listener(mp::Address{"127.0.0.1", 0}, key);  // port 0: any free port
    std::printf(tr("listening on %s\n", "escuchando en %s\n"), listener.address().str().c_str());

    mp::Process client([address = listener.address(), key] {
        mp::Connection conn = mp::Client(address, key);
        auto v = conn.recv<std::vector<double>>();
        std::printf(tr("client got %zu numbers, the first %.2f\n",
                       "el cliente recibió %zu números, el primero %.2f\n"),
                    v.size(), v[0]);
        conn.send_bytes(std::string_view("thanks"));
    });
    client.start();

    mp::Connection conn = listener.accept();
    std::printf(
        tr("connection accepted from 127.0.0.1: %s\n", "conexión aceptada desde 127.0.0.1: %s\n"),
        listener.last_accepted()->host() == "127.0.0.1" ? tr("yes", "sí") : "no");
    conn.send(std::vector<double>{2.25, 3.5});
    auto reply = conn.recv_bytes();
    std::printf(tr("server got: %.*s\n", "el servidor recibió: %.*s\n"),
                static_cast<int>(reply.size()), reinterpret_cast<const char*>(reply.data()));
    client.join();

    // A peer with another key is refused, on both sides.
    mp::Process intruder([address = listener.address()] {
        try {
            (void)mp::Client(address, "a guess");
        } catch (const mp::AuthenticationError& e) {
            std::printf(tr("intruder: %s\n", "intruso: %s\n"),
                        example::spanish() ? "mp::AuthenticationError" : e.what());
        }
    });
    intruder.start();
    try {
        (void)listener.accept();
    } catch (const mp::AuthenticationError& e) {
        std::printf(tr("listener: %s\n", "listener: %s\n"),
                    example::spanish() ? "mp::AuthenticationError" : e.what());
    }
    intruder.join();
    listener.close();
}
