// Managers and Listener/Client, each beside its peers measured in this run:
//   * a manager dict set (pipelined: no wait) + get (a round trip) beside Python's
//     Manager().dict() d[k] = v; d[k] (two round trips);
//   * an 8-byte Listener/Client round trip (Unix socket, with an authkey) beside a raw
//     Unix-socket write/read round trip and Python's multiprocessing.connection.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "mp/listener.hpp"
#include "mp/managers.hpp"
#include "mp/process.hpp"

namespace {

constexpr int kN = 20000;
const std::string kKey = "bench key";

std::string temp_dir() {
    char tmpl[] = "/tmp/mp-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    return tmpl;
}

double raw_round_trip(const std::string& path) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(l, 1) != 0)
        std::abort();
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) _exit(1);
        std::uint64_t x;
        while (read(c, &x, sizeof x) == sizeof x) {
            if (write(c, &x, sizeof x) != sizeof x) break;
        }
        _exit(0);
    }
    int c = accept(l, nullptr, nullptr);
    std::uint64_t x = 1;
    auto op = [&] {
        if (write(c, &x, sizeof x) != sizeof x || read(c, &x, sizeof x) != sizeof x) std::abort();
    };
    for (int i = 0; i < 1000; ++i) op();
    double s = bench::per_op_seconds(op, kN);
    close(c);
    close(l);
    unlink(path.c_str());
    waitpid(pid, nullptr, 0);
    return s;
}

double listener_round_trip(const std::string& path) {
    mp::Listener listener(mp::Address(path), kKey);
    mp::Process echo([address = listener.address()] {
        mp::Connection c = mp::Client(address, kKey);
        try {
            for (;;) c.send_bytes(c.recv_bytes());
        } catch (const mp::EOFError&) {
        }
    });
    echo.start();
    mp::Connection c = listener.accept();
    const char msg[8] = {'1', '2', '3', '4', '5', '6', '7', '8'};
    auto op = [&] {
        c.send_bytes(std::as_bytes(std::span(msg)));
        if (c.recv_bytes().size() != 8) std::abort();
    };
    for (int i = 0; i < 1000; ++i) op();
    double s = bench::per_op_seconds(op, kN);
    c.close();
    echo.join();
    return s;
}

double manager_dict_set_get() {
    mp::Manager manager;
    auto d = manager.dict<std::string, int>();
    int i = 0;
    auto op = [&] {
        d.set("k", ++i);
        if (d.get("k") != i) std::abort();
    };
    for (int k = 0; k < 1000; ++k) op();
    return bench::per_op_seconds(op, kN / 2);
}

}  // namespace

// Median of `v` (sorting it: front and back are then the spread).
static double median(std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int main() {
    std::string dir = temp_dir();
    std::vector<double> raw, lc, mgr;
    for (int i = 0; i < 5; ++i) {  // interleaved, so load changes hit all three alike
        raw.push_back(raw_round_trip(dir + "/raw.sock") * 1e6);
        lc.push_back(listener_round_trip(dir + "/mp.sock") * 1e6);
        mgr.push_back(manager_dict_set_get() * 1e6);
    }
    ::rmdir(dir.c_str());
    double raw_us = median(raw), lc_us = median(lc), mgr_us = median(mgr);
    double py_dict_us = bench::python_figure("py_managers.py", "dict 5000");
    double py_conn_us = bench::python_figure("py_managers.py", "conn 20000");

    bench::header("Managers and Listener/Client, round trips (lower is better)");
    bench::row("Manager dict set (pipelined) + get", "Python Manager().dict()", mgr_us, py_dict_us,
               "us");
    bench::row("Listener/Client 8-byte send/recv_bytes", "raw Unix socket write/read", lc_us,
               raw_us, "us");
    bench::row("Listener/Client 8-byte send/recv_bytes", "Python connection Listener/Client", lc_us,
               py_conn_us, "us");
    std::printf(
        "\nours: median of 5 interleaved runs (min..max): manager %.1f..%.1f us, Listener/Client "
        "%.1f..%.1f us, raw %.1f..%.1f us\n",
        mgr.front(), mgr.back(), lc.front(), lc.back(), raw.front(), raw.back());
    std::printf(
        "targets: manager >= 10x faster than Python's -> %s (%.1fx); Listener/Client "
        "within 1.3x of raw -> %s (%.2fx)\n",
        py_dict_us >= 10 * mgr_us ? "met" : "NOT met", py_dict_us / mgr_us,
        lc_us <= 1.3 * raw_us ? "met" : "NOT met", lc_us / raw_us);
}
