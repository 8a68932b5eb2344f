// Solution of exercise k1 — each item in its own process: the crash of item 3 ends
// only that process (exit code -11, SIGSEGV); the program goes on. A crashing thread,
// by contrast, takes its whole process with it.
#include <mp/mp.hpp>

#include <cstdio>

void procesar(int i) {
    if (i == 3) {
        volatile int* p = nullptr;
        *p = 1;  // the crash: SIGSEGV
    }
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    for (int i = 0; i < 6; ++i) {
        mp::Process p(procesar, i);
        p.start();
        p.join();
        int codigo = p.exitcode().value_or(-1);
        std::printf("salida:%d=%d\n", i, codigo);
    }
    std::printf("fin=1\n");
}
