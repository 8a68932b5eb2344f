// 8-byte round trips parent -> child -> parent: mp::Pipe beside a raw socketpair
// (write/read) and Python's multiprocessing.Pipe, all measured in this run.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>

#include "bench_common.hpp"
#include "mp/connection.hpp"
#include "mp/process.hpp"

namespace {

constexpr int kN = 20000;

double raw_round_trip() {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        std::uint64_t x;
        while (read(sv[1], &x, sizeof x) == sizeof x) {
            if (write(sv[1], &x, sizeof x) != sizeof x) break;
        }
        _exit(0);
    }
    close(sv[1]);
    std::uint64_t x = 1;
    auto op = [&] {
        if (write(sv[0], &x, sizeof x) != sizeof x || read(sv[0], &x, sizeof x) != sizeof x)
            std::abort();
    };
    for (int i = 0; i < 1000; ++i) op();
    double s = bench::per_op_seconds(op, kN);
    close(sv[0]);
    waitpid(pid, nullptr, 0);
    return s;
}

double mp_round_trip() {
    auto [a, b] = mp::Pipe();
    mp::Process echo(
        [](mp::Connection c, mp::Connection parent_end) {
            parent_end.close();  // or this child would keep the parent's end open: no EOF
            try {
                for (;;) c.send(c.recv<std::uint64_t>());
            } catch (const mp::EOFError&) {
            }
        },
        b, a);
    echo.start();
    b.close();
    std::uint64_t x = 1;
    auto op = [&] {
        a.send(x);
        x = a.recv<std::uint64_t>();
    };
    for (int i = 0; i < 1000; ++i) op();
    double s = bench::per_op_seconds(op, kN);
    a.close();
    echo.join();
    return s;
}

}  // namespace

int main() {
    double raw_s = 1e9, mp_s = 1e9;
    for (int i = 0; i < 3; ++i) {  // interleaved, best of three
        raw_s = std::min(raw_s, raw_round_trip());
        mp_s = std::min(mp_s, mp_round_trip());
    }
    double py_us = bench::python_figure("py_peers.py", "pipe 20000");
    bench::header("8-byte round trip parent -> child -> parent (lower is better)");
    bench::row("mp::Pipe send/recv<uint64_t>", "raw socketpair write/read", mp_s * 1e6, raw_s * 1e6,
               "us");
    bench::row("mp::Pipe send/recv<uint64_t>", "Python Pipe send/recv", mp_s * 1e6, py_us, "us");
    std::printf("\ntargets: within 1.3x of raw -> %s (%.2fx); faster than Python -> %s (%.2fx)\n",
                mp_s <= 1.3 * raw_s ? "met" : "NOT met", mp_s / raw_s,
                mp_s * 1e6 < py_us ? "met" : "NOT met", py_us / (mp_s * 1e6));
}
