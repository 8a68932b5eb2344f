// Debugging exercise 21 (FIXED) — the twin of 21_bug_deadlock.cpp.
//
// Fix: every worker takes the locks in the same order, A before B. Then the
// one that gets A first also gets B; the other waits for A and no one holds a
// lock while waiting for one held by a waiter. (std::scoped_lock(a, b) is
// another fix: it takes both without deadlock, whatever the order you name them.)
#include <mp/mp.hpp>

#include "lang.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>

using example::tr;

using namespace std::chrono_literals;

struct NamedLock {
    mp::Lock lock;
    char name;
};

void worker(int id, NamedLock first, NamedLock second, mp::Barrier start_together,
            mp::Value<int> timeouts) {
    start_together.wait(5s);
    bool got_first = first.lock.acquire(5s);
    bool got_second = got_first && second.lock.acquire(5s);
    if (got_second) {
        std::printf(tr("worker %d: holds lock %c and lock %c — working\n",
                       "worker %d: tiene el lock %c y el lock %c — trabajando\n"),
                    id, first.name, second.name);
        std::fflush(stdout);
        second.lock.release();
    } else {
        std::lock_guard g(timeouts.get_lock());
        timeouts.value() += 1;
    }
    if (got_first) first.lock.release();
}

int main() {
    NamedLock a{mp::Lock(), 'A'}, b{mp::Lock(), 'B'};
    mp::Barrier start_together(2);
    mp::Value<int> timeouts(0);
    // tour:begin orders
    mp::Process w1(worker, 1, a, b, start_together, timeouts);  // A, then B
    mp::Process w2(worker, 2, a, b, start_together, timeouts);  // A, then B  (FIX: same order)
    // tour:end orders
    w1.start();
    w2.start();
    w1.join();
    w2.join();
    if (timeouts.value() == 0) {
        std::printf(
            tr("Fixed: both workers took A before B; one waited its turn, no one timed out.\n",
               "Corregido: los dos workers tomaron A antes que B; uno esperó su turno, a nadie se "
               "le acabó el tiempo.\n"));
    } else {
        std::printf(tr("Unexpected: %d workers timed out.\n",
                       "Inesperado: a %d workers se les acabó el tiempo.\n"),
                    timeouts.value());
    }
    return timeouts.value() == 0 ? 0 : 1;
}
