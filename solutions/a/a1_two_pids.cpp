// Solution of exercise a1 — lesson a): parent and child, two PIDs.
#include <mp/mp.hpp>

#include <cstdio>

void worker() {
    std::printf("hijo=%d\n", mp::current_process().pid());
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    mp::Process p(worker);
    p.start();
    p.join();
}
