// Lesson — a Manager: ordinary objects in a server process, shared through proxies.
//
// Python (the docs' "Server process" example):
//     def f(d, l):
//         d[1] = '1'
//         d['2'] = 2
//         l.reverse()
//     with Manager() as manager:
//         d = manager.dict()
//         l = manager.list(range(10))
//         p = Process(target=f, args=(d, l))
//         p.start(); p.join()
//         print(d, l)
//
// C++ proxies are typed: a dict<std::string, int>, a list<int>. Each call is a round trip
// to the manager's server process, so a Manager suits structures that grow and sharing
// between programs; for numbers shared inside one program, mp::Value is far faster.
#include <mp/mp.hpp>

#include <cstdio>
#include <mutex>
#include <string>
#include "lang.hpp"

using example::tr;

// Your own type, with the methods a client may call (Python's BaseManager.register).
struct Tally {
    int total = 0;
    int add(int n) { return total += n; }
};

int main() {
    mp::register_type<Tally>("Tally").method<&Tally::add>("add");  // before the Manager starts

    mp::Manager manager;
    auto d = manager.dict<std::string, int>();
    auto l = manager.list<int>();
    for (int i = 0; i < 10; ++i) l.append(i);
    auto lock = manager.Lock();
    auto tally = manager.make<Tally>("Tally");

    std::vector<mp::Process> workers;
    for (int w = 0; w < 4; ++w) {
        workers.emplace_back([d, l, lock, tally, w]() mutable {
            std::lock_guard guard(lock);  // the proxies' Lock: one worker at a time
            d.set("worker " + std::to_string(w), w * w);
            l.set(w, l.get(w) * 100);
            tally.call<&Tally::add>(w);
        });
        workers.back().start();
    }
    for (auto& p : workers) p.join();

    for (auto& [k, v] : d.copy()) std::printf("%s -> %d\n", k.c_str(), v);
    std::printf("list:");
    for (int x : l.copy()) std::printf(" %d", x);
    std::printf(tr("\ntally: %d\n", "\ncontador: %d\n"), tally.call<&Tally::add>(0));
    try {
        (void)d.get("nobody");
    } catch (const mp::ValueError& e) {
        std::printf(tr("missing key: %s\n", "clave ausente: %s\n"),
                    example::spanish() ? "mp::ValueError" : e.what());
    }
    manager.shutdown();  // the server ends; proxies now throw mp::Error
}
