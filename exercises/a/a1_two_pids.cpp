// Exercise a1 — lesson a): parent and child, two PIDs.
// Check it: mp-tour practice a1        A hint: mp-tour practice a1 --hint
//
// EN: The parent prints its PID. Make a child process run worker(), so that the
//     child prints its own PID too: start it, then wait for it.
// ES: El padre imprime su PID. Haz que un proceso hijo ejecute worker(), para que el
//     hijo imprima también su PID: inícialo y luego espéralo.
#include <mp/mp.hpp>

#include <cstdio>

void worker() {
    std::printf("hijo=%d\n", mp::current_process().pid());
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    std::printf("padre=%d\n", mp::current_process().pid());
    // TODO (en): create an mp::Process that runs worker, start() it and join() it.
    // TODO (es): crea un mp::Process que ejecute worker, llama a start() y a join().
}
