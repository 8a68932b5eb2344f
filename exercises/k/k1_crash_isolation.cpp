// Exercise k1 — lesson k): what processes give that threads do not — isolation.
// Check it: mp-tour practice k1        A hint: mp-tour practice k1 --hint
//
// EN: procesar(3) crashes (a bad memory access). Today the crash kills the whole
//     program, and the items after it are never done. Run each item in its own
//     mp::Process, so that a crash kills only that process: print "ok" for the good
//     items, the exit code for the one that crashed, and reach the end.
// ES: procesar(3) falla (un acceso inválido a memoria). Hoy el fallo mata al programa
//     entero y los elementos que siguen nunca se hacen. Ejecuta cada elemento en su
//     propio mp::Process, para que un fallo mate solo a ese proceso: imprime "ok" para
//     los elementos buenos, el código de salida del que falló, y llega al final.
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
        // TODO (en): run procesar(i) in an mp::Process p; after p.join(), print p.exitcode()
        // instead of 0.
        // TODO (es): ejecuta procesar(i) en un mp::Process p; después de p.join(), imprime
        // p.exitcode() en vez de 0.
        procesar(i);
        int codigo = 0;
        std::printf("salida:%d=%d\n", i, codigo);
    }
    std::printf("fin=1\n");
}
