// Debugging exercise 21 (BUGGY) — a deadlock: two locks taken in opposite orders.
//
// Worker 1 takes lock A, then B; worker 2 takes lock B, then A. If each gets
// its first lock before the other gets its second, each waits forever for the
// lock the other holds. (A Barrier after the first lock makes that unlucky
// timing happen every time; in real programs it happens "only sometimes".)
//
// Symptom: a plain acquire() would hang forever; here the second acquire has a
// timeout — lock.acquire(timeout) — so the program detects it and reports it.
// Fix: 21_fix_deadlock.cpp.
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

void worker(int id, NamedLock first, NamedLock second, mp::Barrier both_hold_one,
            mp::Value<int> timeouts) {
    first.lock.acquire();
    std::printf(tr("worker %d: holds lock %c, now wants lock %c\n",
                   "worker %d: tiene el lock %c, ahora quiere el lock %c\n"),
                id, first.name, second.name);
    std::fflush(stdout);
    both_hold_one.wait(5s);  // the unlucky timing, every time
    // tour:begin timeout
    bool got = second.lock.acquire(1s);  // BUG: the other worker holds it and waits for ours
    // tour:end timeout
    if (got) {
        std::printf(tr("worker %d: got lock %c too\n", "worker %d: obtuvo también el lock %c\n"),
                    id, second.name);
        second.lock.release();
    } else {
        std::printf(tr("worker %d: waited 1 s for lock %c while holding %c — giving up\n",
                       "worker %d: esperó 1 s el lock %c mientras tenía %c — se rinde\n"),
                    id, second.name, first.name);
        std::lock_guard g(timeouts.get_lock());
        timeouts.value() += 1;
    }
    std::fflush(stdout);
    both_hold_one.wait(5s);  // both have timed out before either lets go
    first.lock.release();
}

int main() {
    NamedLock a{mp::Lock(), 'A'}, b{mp::Lock(), 'B'};
    mp::Barrier both_hold_one(2);
    mp::Value<int> timeouts(0);
    // tour:begin orders
    mp::Process w1(worker, 1, a, b, both_hold_one, timeouts);  // A, then B
    mp::Process w2(worker, 2, b, a, both_hold_one, timeouts);  // B, then A  (BUG: opposite order)
    // tour:end orders
    w1.start();
    w2.start();
    w1.join();
    w2.join();
    if (timeouts.value() > 0) {
        std::printf(
            tr("Symptom: DEADLOCK — %d of 2 workers timed out: each held one lock and waited\n"
               "for the other's. Without the timeout this program would hang forever.\n",
               "Síntoma: INTERBLOQUEO (deadlock) — a %d de 2 workers se les acabó el tiempo: cada "
               "uno\n"
               "tenía un lock y esperaba el del otro. Sin el timeout este programa se colgaría "
               "para siempre.\n"),
            timeouts.value());
    } else {
        std::printf(tr("No deadlock this time (lucky timing) — the bug is still there.\n",
                       "Esta vez no hubo interbloqueo (suerte) — el error sigue ahí.\n"));
    }
}
