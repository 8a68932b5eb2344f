// The snippets in raw strings are shown to readers as written; the long bilingual
// phrases read better unwrapped, so this file is not formatted.
// clang-format off
// The tour's fixed phrases (see lessons.hpp); the lessons themselves are in tour/lessons/.
#include "lessons.hpp"

namespace tour {

const Phrases& phrases() {
    static const Phrases p{
        .welcome = {"mp-tour — Python's multiprocessing, in C++ with mp",
                    "mp-tour — el multiprocessing de Python, en C++ con mp"},
        .welcome_body =
            {"This tour follows the study guides' order: lessons a) to f), the final exercise, the mini-exercises, then a combined exercise, debugging exercises and a comparison of threads, processes and async. Each lesson shows the Python code beside the mp code, runs the example program live (real processes, real PIDs) and ends with a checkpoint. By default it runs straight through and shows the answers; with --interactive it goes at your pace, asks you to predict what a program will print before it runs, asks the checkpoint questions and, at the end of each lesson, the ones you missed once more.",
             "Este recorrido sigue el orden de las guías de estudio: lecciones a) a f), el ejercicio final, los mini-ejercicios, y luego un ejercicio combinado, ejercicios de depuración y una comparación de hilos, procesos y async. Cada lección muestra el código Python junto al código mp, ejecuta el programa de ejemplo en vivo (procesos reales, PID reales) y termina con un alto para puesta en común. Por defecto corre de principio a fin y muestra las respuestas; con --interactive va a tu ritmo, te pide predecir qué imprimirá un programa antes de ejecutarlo, te hace las preguntas de cada alto y, al final de cada lección, otra vez las que fallaste."},
        .python_heading = {"Python (the guides)", "Python (las guías)"},
        .mp_heading = {"C++ with mp", "C++ con mp"},
        .live_run = {"Live run", "Ejecución en vivo"},
        .not_built = {"NOT BUILT YET:", "TODAVÍA NO COMPILADO:"},
        .not_built_hint = {"its live run is skipped; build it with `make -C build` once that part of mp is merged.",
                           "se omite su ejecución en vivo; compílalo con `make -C build` cuando esa parte de mp esté integrada."},
        .exit_code = {"exit code", "código de salida"},
        .killed_by = {"killed by signal", "terminado por la señal"},
        .timed_out = {"did not finish in time and was stopped", "no terminó a tiempo y fue detenido"},
        .checkpoint = {"Checkpoint — alto para puesta en común", "Alto para puesta en común"},
        .answer_prompt = {"Your answer (letter; q = save and quit): ", "Tu respuesta (letra; q = guardar y salir): "},
        .answer_invalid = {"Please answer with one of the letters shown.", "Responde con una de las letras indicadas."},
        .correct = {"Correct.", "Correcto."},
        .not_quite = {"Not quite.", "No exactamente."},
        .the_answer_is = {"Answer", "Respuesta"},
        .saved_and_quit = {"Progress saved in %s. Run `mp-tour --interactive` again to resume at lesson %s.",
                           "Progreso guardado en %s. Ejecuta `mp-tour --interactive --lang es` otra vez para seguir en la lección %s."},
        .resume = {"Welcome back: resuming at lesson %s (%s of %s done). Start over with --restart.",
                   "Bienvenido de nuevo: seguimos en la lección %s (%s de %s hechas). Para empezar de cero, --restart."},
        .finished = {"End of the tour.", "Fin del recorrido."},
        .report_written = {"Session report written to %s", "Informe de la sesión escrito en %s"},
        .end_body =
            {"The guides' self-check (checklist de dominio) — can you say yes to each? The exercise that proves it is beside it:\n  [ ] Do I understand the difference between threads and processes? (a) and k): mp-tour practice k1)\n  [ ] Can I create processes by hand with Process? (b): a2, b1)\n  [ ] Can I make processes communicate with a Queue? (c): h1, h3, j3, j6)\n  [ ] Can I use a Pool to map functions in parallel? (e): e1, e2, h2)\n  [ ] Is it clear when to use processes (CPU-bound) and when threads (I/O-bound)? (k): g1, k1)\n\nNow practise: the exercises are files you edit, and the tour checks what your program does.\n    mp-tour practice          the list, with what is done\n    mp-tour practice a1       build, run and check one (--hint: a hint; --watch: check on save)\nTo change an example and run it again: mp-tour run 11 (it rebuilds examples/11_word_count.cpp). docs/python-to-mp.md lists every Python call of the guides beside its mp form; mp-tour --interactive asks you the checkpoint questions and writes a report of your session.",
             "La autoevaluación de las guías (checklist de dominio) — ¿puedes decir que sí a cada punto? Al lado, el ejercicio que lo demuestra:\n  [ ] ¿Entiendo la diferencia entre hilos y procesos en Python? (a) y k): mp-tour practice k1)\n  [ ] ¿Sé crear procesos manualmente con Process? (b): a2, b1)\n  [ ] ¿Sé comunicar procesos con Queue? (c): h1, h3, j3, j6)\n  [ ] ¿Sé usar un Pool para mapear funciones en paralelo? (e): e1, e2, h2)\n  [ ] ¿Tengo claro cuándo usar multiprocesamiento (CPU-bound) frente a multihilos (I/O-bound)? (k): g1, k1)\n\nAhora practica: los ejercicios son archivos que editas, y el recorrido verifica lo que hace tu programa.\n    mp-tour practice --lang es          la lista, con lo que ya hiciste\n    mp-tour practice a1 --lang es       compila, ejecuta y verifica uno (--hint: una pista; --watch: verifica al guardar)\nPara cambiar un ejemplo y volver a ejecutarlo: mp-tour run 11 --lang es (recompila examples/11_word_count.cpp). docs/python-a-mp.es.md lista cada llamada Python de las guías junto a su forma en mp; mp-tour --interactive --lang es te hace las preguntas de cada alto y escribe un informe de tu sesión."},
        .programs_in_english = {"", ""},
        .lesson_word = {"lesson", "lección"},
        .list_heading = {"Lessons (use --lesson ID or its alias):", "Lecciones (usa --lesson ID o su alias):"},
        .total_time = {"total time", "tiempo total"},
        .only_done = {"Lesson %s done. Next: mp-tour --lesson %s", "Lección %s terminada. Siguiente: mp-tour --lesson %s"},
        .predict = {"Predict before it runs", "Predice antes de ejecutar"},
        .again = {"Once more — the questions you missed in this block", "Otra vez — las preguntas que fallaste en este bloque"},
        .pause = {"[Enter: go on · q: save and quit] ", "[Enter: seguir · q: guardar y salir] "},
    };
    return p;
}

std::string_view owner_of(std::string_view program) {
    std::string_view n = program.substr(0, 2);
    if (n == "01" || n == "02" || n == "03") return "mp: Process/Pipe";
    if (n == "04" || n == "09") return "mp: Queue";
    if (n == "05" || n == "06" || n == "08") return "mp: Lock/Value/Array";
    if (n == "07" || n == "10" || n == "12") return "mp: Pool";
    return "mp: learning path";
}

}  // namespace tour
// clang-format on
