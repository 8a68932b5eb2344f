// The exercises' checkers and hints (see practice.hpp). Each checker reads the
// `key=value` lines the program printed and judges what happened: the results,
// nothing lost or counted twice, the processes it used, and — where the exercise
// is about running at the same time — whether the work really overlapped.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "practice.hpp"

namespace tour {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string str(long long n) {
    return std::to_string(n);
}

/// "expected key=want, got …" when `key` is not `want`.
std::optional<std::string> expect(const Observed& o, const Say& say, std::string_view key,
                                  long long want, std::string_view why_en,
                                  std::string_view why_es) {
    auto got = o.number(key);
    if (got && *got == want) return std::nullopt;
    std::string seen = got ? str(*got) : say("nothing", "nada");
    return say(std::string(key) + " should be " + str(want) + ", it printed " + seen + ". ",
               std::string(key) + " debería ser " + str(want) + ", imprimió " + seen + ". ") +
           say(why_en, why_es);
}

std::optional<std::string> expect_text(const Observed& o, const Say& say, std::string_view key,
                                       std::string_view want, std::string_view why_en,
                                       std::string_view why_es) {
    auto got = o.get(key);
    if (got && *got == want) return std::nullopt;
    std::string seen = got && !got->empty() ? *got : say("nothing", "nada");
    return say(std::string(key) + " should be " + std::string(want) + ", it printed " + seen + ". ",
               std::string(key) + " debería ser " + std::string(want) + ", imprimió " + seen +
                   ". ") +
           say(why_en, why_es);
}

/// The distinct PIDs printed under the keys `prefix<k>` for each k, other than the parent's.
std::set<long long> worker_pids(const Observed& o, const std::vector<std::string>& keys) {
    std::set<long long> pids;
    auto parent = o.number("padre");
    for (const auto& k : keys) {
        for (const auto& v : o.all(k)) {
            try {
                long long pid = std::stoll(v);
                if (!parent || pid != *parent) pids.insert(pid);
            } catch (const std::exception&) {
            }
        }
    }
    return pids;
}

std::vector<std::string> keys(std::string_view prefix, const std::vector<long>& ids) {
    std::vector<std::string> out;
    for (long i : ids) out.push_back(std::string(prefix) + std::to_string(i));
    return out;
}

std::optional<std::string> in_workers(const Observed& o, const Say& say,
                                      const std::vector<std::string>& ks, std::size_t at_least) {
    auto pids = worker_pids(o, ks);
    if (pids.size() >= at_least) return std::nullopt;
    return say("the work ran in " + str(static_cast<long long>(pids.size())) +
                   " process(es) other than main; it should run in at least " +
                   str(static_cast<long long>(at_least)) + ".",
               "el trabajo corrió en " + str(static_cast<long long>(pids.size())) +
                   " proceso(s) aparte de main; debería correr en al menos " +
                   str(static_cast<long long>(at_least)) + ".");
}

std::optional<std::string> faster_than(const Observed& o, const Say& say, double limit,
                                       double sequential) {
    if (o.run.seconds < limit) return std::nullopt;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%.2f", o.run.seconds);
    std::string took = buf;
    std::snprintf(buf, sizeof buf, "%.1f", sequential);
    std::string seq = buf;
    std::snprintf(buf, sizeof buf, "%.1f", limit);
    return say("it took " + took + " s, about as long as one after the other (" + seq +
                   " s): the work did not run at the same time. It should take less than " + buf +
                   " s.",
               "tardó " + took + " s, casi lo mismo que uno tras otro (" + seq +
                   " s): el trabajo no corrió a la vez. Debería tardar menos de " + buf + " s.");
}

template <class... C>
std::optional<std::string> first_problem(C&&... checks) {
    std::optional<std::string> out;
    ((out ? void() : void(out = checks())), ...);
    return out;
}

long long primes_below(long long n) {
    std::vector<bool> composite(static_cast<std::size_t>(n), false);
    long long count = 0;
    for (long long i = 2; i < n; ++i) {
        if (composite[static_cast<std::size_t>(i)]) continue;
        ++count;
        for (long long j = i * i; j < n; j += i) composite[static_cast<std::size_t>(j)] = true;
    }
    return count;
}

long long factorial_digits(long n) {
    long double lg = 0;
    for (long k = 2; k <= n; ++k) lg += std::log10(static_cast<long double>(k));
    return static_cast<long long>(std::floor(lg)) + 1;
}

long long factorial_zeros(long n) {
    long long z = 0;
    for (long p = 5; p <= n; p *= 5) z += n / p;
    return z;
}

/// The words of h3's input file, with how many times each appears.
const std::vector<std::pair<std::string, int>>& h3_words() {
    static const std::vector<std::pair<std::string, int>> w = {
        {"proceso", 311}, {"cola", 207}, {"hilo", 149}, {"lock", 97},
        {"pipe", 53},     {"pool", 31},  {"gil", 7},    {"centinela", 1}};
    return w;
}

Exercise ex(std::string_view id, Text title, Text task, std::vector<Text> hints, Check check,
            std::chrono::milliseconds timeout = 8s) {
    Exercise e;
    e.id = id;
    e.lesson = id.substr(0, 1);
    e.title = title;
    e.task = task;
    e.hints = std::move(hints);
    e.check = std::move(check);
    e.timeout = timeout;
    return e;
}

std::vector<Exercise> make_exercises() {
    std::vector<Exercise> all;

    all.push_back(ex(
        "a1", {"Parent and child: two PIDs", "Padre e hijo: dos PID"},
        {"Start a child process that prints its own PID.",
         "Inicia un proceso hijo que imprima su propio PID."},
        {{"mp::Process p(worker); creates it; nothing runs until p.start().",
          "mp::Process p(worker); lo crea; nada corre hasta p.start()."},
         {"After start(), call p.join() so main waits for the child to end.",
          "Después de start(), llama a p.join() para que main espere a que el hijo termine."},
         {"Three lines: mp::Process p(worker); p.start(); p.join();",
          "Tres líneas: mp::Process p(worker); p.start(); p.join();"}},
        [](const Observed& o, const Say& say) -> std::optional<std::string> {
            auto parent = o.number("padre"), child = o.number("hijo");
            if (!child)
                return say("no child printed hijo=…: was the Process created, started and joined?",
                           "ningún hijo imprimió hijo=…: ¿se creó, inició y esperó el Process?");
            if (parent && *child == *parent)
                return say(
                    "hijo= shows the parent's PID: worker() ran in the parent, not in a child.",
                    "hijo= muestra el PID del padre: worker() corrió en el padre, no en un hijo.");
            return std::nullopt;
        }));

    all.push_back(
        ex("a2", {"Processes A and B, args=(\"A\",)", "Procesos A y B, args=(\"A\",)"},
           {"Run tarea(\"A\") and tarea(\"B\") in two processes at the same time.",
            "Ejecuta tarea(\"A\") y tarea(\"B\") en dos procesos a la vez."},
           {{"Arguments follow the function: mp::Process p1(tarea, std::string(\"A\")); is "
             "args=(\"A\",).",
             "Los argumentos van después de la función: mp::Process p1(tarea, std::string(\"A\")); "
             "es args=(\"A\",)."},
            {"Start both before joining either: p1.start(); p2.start(); p1.join(); p2.join(); — a "
             "join() "
             "right after each start() would run them one after the other again.",
             "Inicia los dos antes de esperar a ninguno: p1.start(); p2.start(); p1.join(); "
             "p2.join(); — un "
             "join() justo después de cada start() volvería a ejecutarlos uno tras otro."},
            {"Remove the two direct calls tarea(\"A\"); tarea(\"B\"); from main.",
             "Quita de main las dos llamadas directas tarea(\"A\"); tarea(\"B\");."}},
           [](const Observed& o, const Say& say) -> std::optional<std::string> {
               return first_problem(
                   [&]() -> std::optional<std::string> {
                       if (!o.number("fin:A") || !o.number("fin:B"))
                           return say("A and B must both run to their end (fin:A=…, fin:B=…).",
                                      "A y B deben correr hasta su final (fin:A=…, fin:B=…).");
                       return std::nullopt;
                   },
                   [&] {
                       return in_workers(o, say, {"inicio:A", "inicio:B"}, 2);
                   },
                   [&] { return faster_than(o, say, 0.95, 1.0); });
           }));

    all.push_back(ex(
        "b1", {"start, is_alive, pid, join, exitcode", "start, is_alive, pid, join, exitcode"},
        {"Print what p.pid(), p.is_alive() and p.exitcode() really say, before and after join().",
         "Imprime lo que de verdad dicen p.pid(), p.is_alive() y p.exitcode(), antes y después de "
         "join()."},
        {{"is_alive() returns a bool: print it as p.is_alive() ? 1 : 0.",
          "is_alive() devuelve un bool: imprímelo como p.is_alive() ? 1 : 0."},
         {"p.exitcode() is std::nullopt while the child runs; after join() it holds the code: "
          "p.exitcode().value_or(-1).",
          "p.exitcode() es std::nullopt mientras el hijo corre; después de join() tiene el código: "
          "p.exitcode().value_or(-1)."}},
        [](const Observed& o, const Say& say) -> std::optional<std::string> {
            return first_problem(
                [&]() -> std::optional<std::string> {
                    auto pid = o.number("pid"), parent = o.number("padre");
                    if (!pid || *pid <= 0 || (parent && *pid == *parent))
                        return say(
                            "pid= should be the child's PID (p.pid()), a positive number other "
                            "than the parent's.",
                            "pid= debería ser el PID del hijo (p.pid()), un número positivo "
                            "distinto del del padre.");
                    return std::nullopt;
                },
                [&] {
                    return expect(
                        o, say, "vivo_tras_start", 1,
                        "Right after start() the child is running (it sleeps 0.3 s).",
                        "Justo después de start() el hijo está corriendo (duerme 0,3 s).");
                },
                [&] {
                    return expect(o, say, "vivo_tras_join", 0, "After join() the child has ended.",
                                  "Después de join() el hijo terminó.");
                },
                [&] {
                    return expect(o, say, "exitcode", 0,
                                  "A child that returns normally exits with 0.",
                                  "Un hijo que termina normalmente sale con 0.");
                });
        }));

    all.push_back(
        ex("c1", {"A conversation through a Pipe", "Una conversación por una Pipe"},
           {"Write the child: receive numbers until -1 and send back each one's square.",
            "Escribe el hijo: recibe números hasta el -1 y devuelve el cuadrado de cada uno."},
           {{"recv<int>() waits for the next number the parent sent.",
             "recv<int>() espera el próximo número que envió el padre."},
            {"A while (true) loop: int x = conn.recv<int>(); if (x == -1) break; conn.send(x * x);",
             "Un bucle while (true): int x = conn.recv<int>(); if (x == -1) break; conn.send(x * "
             "x);"}},
           [](const Observed& o, const Say& say) {
               return first_problem(
                   [&] {
                       return expect(o, say, "respuestas", 10,
                                     "The parent expects one answer per number.",
                                     "El padre espera una respuesta por número.");
                   },
                   [&] {
                       return expect(o, say, "suma", 385, "The answers are the squares of 1 … 10.",
                                     "Las respuestas son los cuadrados de 1 … 10.");
                   });
           }));

    all.push_back(ex(
        "d1",
        {"One process at a time: the critical section", "Un proceso a la vez: la sección crítica"},
        {"Protect the section with the Lock: each entra=i followed by its own sale=i.",
         "Protege la sección con el Lock: cada entra=i seguido de su propio sale=i."},
        {{"mp::Lock is Lockable, like std::mutex: std::lock_guard works with it.",
          "mp::Lock es Lockable, como std::mutex: std::lock_guard funciona con él."},
         {"std::lock_guard guard(lock); as the first line of tarea holds it until tarea returns "
          "(Python: with lock:).",
          "std::lock_guard guard(lock); como primera línea de tarea lo mantiene hasta que tarea "
          "termina "
          "(Python: with lock:)."}},
        [](const Observed& o, const Say& say) -> std::optional<std::string> {
            std::vector<std::pair<char, std::string>> events;  // 'e'ntra / 's'ale, in output order
            std::istringstream in(o.run.output);
            for (std::string line; std::getline(in, line);) {
                if (line.rfind("entra=", 0) == 0) events.emplace_back('e', line.substr(6));
                if (line.rfind("sale=", 0) == 0) events.emplace_back('s', line.substr(5));
            }
            if (events.size() != 6)
                return say("expected 3 entra= and 3 sale= lines, got " +
                               str(static_cast<long long>(events.size())) + " lines.",
                           "se esperaban 3 líneas entra= y 3 sale=, llegaron " +
                               str(static_cast<long long>(events.size())) + ".");
            for (std::size_t i = 0; i < 6; i += 2) {
                if (events[i].first != 'e' || events[i + 1].first != 's' ||
                    events[i].second != events[i + 1].second)
                    return say("two processes were inside the section at once (entra=" +
                                   events[i].second + " was followed by " +
                                   (events[i + 1].first == 'e' ? "entra=" : "sale=") +
                                   events[i + 1].second + ").",
                               "dos procesos estuvieron en la sección a la vez (a entra=" +
                                   events[i].second + " le siguió " +
                                   (events[i + 1].first == 'e' ? "entra=" : "sale=") +
                                   events[i + 1].second + ").");
            }
            return std::nullopt;
        }));

    all.push_back(
        ex("e1", {"map, apply, map_async, apply_async", "map, apply, map_async, apply_async"},
           {"Fill each result with the Pool method named beside it.",
            "Llena cada resultado con el método de Pool que lleva al lado."},
           {{"map and apply block until their results are back; the _async forms return an "
             "mp::AsyncResult at once, and .get() waits for it.",
             "map y apply bloquean hasta tener sus resultados; las formas _async devuelven un "
             "mp::AsyncResult enseguida, y .get() lo espera."},
            {"For apply_async: a std::vector<mp::AsyncResult<int>>; "
             "push_back(pool.apply_async(cuadrado, i)) "
             "three times, then get() each in order.",
             "Para apply_async: un std::vector<mp::AsyncResult<int>>; "
             "push_back(pool.apply_async(cuadrado, i)) "
             "tres veces, luego get() de cada uno en orden."}},
           [](const Observed& o, const Say& say) {
               return first_problem(
                   [&] { return expect_text(o, say, "map", "1,4,9,16", "", ""); },
                   [&] { return expect(o, say, "apply", 49, "", ""); },
                   [&] { return expect_text(o, say, "map_async", "25,36,49", "", ""); },
                   [&] { return expect_text(o, say, "apply_async", "1,4,9", "", ""); });
           }));

    all.push_back(
        ex("e2", {"Six tasks of 0.4 s on a Pool of 4", "Seis tareas de 0,4 s en un Pool de 4"},
           {"Use a Pool of 4 and its map. Predict first: how long will 6 tasks of 0.4 s take on 4 "
            "workers?",
            "Usa un Pool de 4 y su map. Predice primero: ¿cuánto tardarán 6 tareas de 0,4 s en 4 "
            "workers?"},
           {{"mp::Pool pool(4); then std::vector<int> resultados = pool.map(cuadrado, numeros);",
             "mp::Pool pool(4); luego std::vector<int> resultados = pool.map(cuadrado, numeros);"},
            {"Why about 0.8 s and not 0.4 s: 4 workers take 4 tasks at once; the last 2 wait for a "
             "free "
             "worker — two rounds. The guide's version (sleep(1), 6 items, Pool(4)) takes about 2 "
             "s for "
             "the same reason.",
             "Por qué unos 0,8 s y no 0,4 s: 4 workers toman 4 tareas a la vez; las 2 últimas "
             "esperan un "
             "worker libre — dos rondas. La versión de la guía (sleep(1), 6 elementos, Pool(4)) "
             "tarda unos "
             "2 s por lo mismo."}},
           [](const Observed& o, const Say& say) {
               return first_problem(
                   [&] {
                       return expect_text(o, say, "resultados", "1,4,9,16,25,36",
                                          "map keeps the order of the items.",
                                          "map conserva el orden de los elementos.");
                   },
                   [&] {
                       return in_workers(o, say, keys("tarea:", {1, 2, 3, 4, 5, 6}), 2);
                   },
                   [&] { return faster_than(o, say, 1.7, 2.4); });
           }));

    all.push_back(ex(
        "f1",
        {"A Value and an Array shared by 4 processes",
         "Un Value y un Array compartidos por 4 procesos"},
        {"Each process writes the squares of its two positions and adds 1 to hechos under its "
         "lock.",
         "Cada proceso escribe los cuadrados de sus dos posiciones y suma 1 a hechos con su lock."},
        {{"cuadrados[i] reads and writes the shared memory itself, in every process.",
          "cuadrados[i] lee y escribe la memoria compartida misma, en cada proceso."},
         {"for (int i = 2 * w; i < 2 * w + 2; ++i) cuadrados[i] = long{i} * i; then "
          "std::lock_guard g(hechos.get_lock()); hechos.value() += 1;",
          "for (int i = 2 * w; i < 2 * w + 2; ++i) cuadrados[i] = long{i} * i; luego "
          "std::lock_guard g(hechos.get_lock()); hechos.value() += 1;"}},
        [](const Observed& o, const Say& say) {
            return first_problem(
                [&] {
                    return expect_text(o, say, "cuadrados", "0,1,4,9,16,25,36,49",
                                       "Each position i holds i * i, written by its process.",
                                       "Cada posición i tiene i * i, escrito por su proceso.");
                },
                [&] {
                    return expect(o, say, "hechos", 4, "Each of the 4 processes adds 1.",
                                  "Cada uno de los 4 procesos suma 1.");
                });
        }));

    all.push_back(ex(
        "f2", {"A Value to a Pool through an initializer", "Un Value a un Pool con un initializer"},
        {"Give the Pool an initializer that hands each worker the Value; count every task in it.",
         "Dale al Pool un inicializador que entregue el Value a cada worker; cuenta cada tarea en "
         "él."},
        {{"A Value is a handle to shared memory: it cannot be a task's argument, but it can be an "
          "initializer's argument (it reaches the workers by fork, like a Process argument).",
          "Un Value es un handle a memoria compartida: no puede ser argumento de una tarea, pero "
          "sí de "
          "un inicializador (llega a los workers por fork, como un argumento de Process)."},
         {"mp::Pool pool(4, init, contador); is Pool(4, initializer=init, initargs=(contador,)).",
          "mp::Pool pool(4, init, contador); es Pool(4, initializer=init, initargs=(contador,))."},
         {"In tarea: std::lock_guard g(g_contador->get_lock()); g_contador->value() += 1;",
          "En tarea: std::lock_guard g(g_contador->get_lock()); g_contador->value() += 1;"}},
        [](const Observed& o, const Say& say) {
            return first_problem(
                [&] {
                    return expect(o, say, "suma", 420, "The tasks return 2x for x = 1 … 20.",
                                  "Las tareas devuelven 2x para x = 1 … 20.");
                },
                [&] {
                    return expect(o, say, "contador", 20,
                                  "Each of the 20 tasks adds 1 to the shared counter.",
                                  "Cada una de las 20 tareas suma 1 al contador compartido.");
                });
        }));

    all.push_back(ex(
        "g1", {"Make mp_worker parallel", "Haz paralelo mp_worker"},
        {"Run the four blocks in four processes at the same time; add their counts into one total.",
         "Ejecuta los cuatro bloques en cuatro procesos a la vez; suma sus cuentas en un total."},
        {{"A worker(int w, mp::Value<long> total) that calls trabajo(w) and adds the result to "
          "total.",
          "Un worker(int w, mp::Value<long> total) que llame a trabajo(w) y sume el resultado a "
          "total."},
         {"Adding to total is a read and a write: hold total.get_lock() around it, or two workers "
          "can "
          "lose each other's count (lesson d).",
          "Sumar a total es una lectura y una escritura: toma total.get_lock() alrededor, o dos "
          "workers "
          "pueden perder la cuenta del otro (lección d)."},
         {"Start all four, then join all four — not start and join one by one.",
          "Inicia los cuatro y luego espera los cuatro — no iniciar y esperar de a uno."}},
        [](const Observed& o, const Say& say) {
            static const long long expected = primes_below(200'000);
            return first_problem(
                [&] {
                    return expect(o, say, "primos", expected,
                                  "Every block's count must reach the total, once.",
                                  "La cuenta de cada bloque debe llegar al total, una vez.");
                },
                [&] {
                    return in_workers(o, say, keys("tramo:", {0, 1, 2, 3}), 2);
                },
                [&]() -> std::optional<std::string> {
                    for (long a = 0; a < 4; ++a) {
                        for (long b = a + 1; b < 4; ++b) {
                            auto sa = o.number("inicio:" + std::to_string(a)),
                                 ea = o.number("fin:" + std::to_string(a));
                            auto sb = o.number("inicio:" + std::to_string(b)),
                                 eb = o.number("fin:" + std::to_string(b));
                            if (sa && ea && sb && eb && std::max(*sa, *sb) < std::min(*ea, *eb))
                                return std::nullopt;
                        }
                    }
                    return say(
                        "no two blocks ran at the same time: each began after the previous one "
                        "ended.",
                        "ningún par de bloques corrió a la vez: cada uno empezó después de que "
                        "terminara el anterior.");
                },
                [&] { return faster_than(o, say, 1.0, 1.2); });
        }));

    all.push_back(ex(
        "h1",
        {"Mini-exercise 1: sums of ranges through a Queue",
         "Mini-ejercicio 1: sumas de rangos por una Queue"},
        {"Three processes sum three ranges and put their partial sums into the Queue; main adds "
         "them.",
         "Tres procesos suman tres rangos y ponen sus sumas parciales en la Queue; main las suma."},
        {{"In sumar: q.put(s);", "En sumar: q.put(s);"},
         {"mp::Process p(sumar, desde, hasta, q); — the Queue is passed like any argument and "
          "shared.",
          "mp::Process p(sumar, desde, hasta, q); — la Queue se pasa como cualquier argumento y se "
          "comparte."},
         {"Take the three partial sums with q.get() before the joins: each get() waits for one.",
          "Toma las tres sumas parciales con q.get() antes de los join: cada get() espera una."}},
        [](const Observed& o, const Say& say) {
            return first_problem(
                [&] {
                    return expect(
                        o, say, "total", 3'000'000LL * 3'000'001LL / 2,
                        "1 + 2 + … + 3 000 000 = n(n+1)/2; each number in exactly one range.",
                        "1 + 2 + … + 3 000 000 = n(n+1)/2; cada número en exactamente un rango.");
                },
                [&] { return in_workers(o, say, {"parcial"}, 3); });
        }));

    all.push_back(ex(
        "h2",
        {"Mini-exercise 2: factorials with a Pool of 4",
         "Mini-ejercicio 2: factoriales con un Pool de 4"},
        {"Compute the factorials in a Pool of 4 processes with map.",
         "Calcula los factoriales en un Pool de 4 procesos con map."},
        {{"mp::Pool pool(4); then pool.map(factorial_de, numeros, 1) returns a "
          "std::vector<Resumen>.",
          "mp::Pool pool(4); luego pool.map(factorial_de, numeros, 1) devuelve un "
          "std::vector<Resumen>."},
         {"Resumen is plain data (three longs), so it crosses back from the workers as bytes.",
          "Resumen son datos simples (tres long), así que vuelve de los workers como bytes."}},
        [](const Observed& o, const Say& say) -> std::optional<std::string> {
            std::vector<long> ns = {500, 1000, 2000, 5000, 10000, 20000};
            for (long n : ns) {
                if (auto p =
                        expect(o, say, "cifras:" + std::to_string(n), factorial_digits(n), "", ""))
                    return p;
                if (auto p =
                        expect(o, say, "ceros:" + std::to_string(n), factorial_zeros(n), "", ""))
                    return p;
            }
            return in_workers(o, say, keys("pid:", ns), 2);
        }));

    Exercise h3 = ex(
        "h3",
        {"Mini-exercise 3: count the words of a file",
         "Mini-ejercicio 3: contar las palabras de un archivo"},
        {"Write the producer: each word of the file into the Queue, then the sentinel.",
         "Escribe el productor: cada palabra del archivo a la Queue, y luego el centinela."},
        {{"for (std::string palabra; in >> palabra;) reads the file word by word.",
          "for (std::string palabra; in >> palabra;) lee el archivo palabra por palabra."},
         {"Put each word with q.put(palabra); the consumer stops at the std::nullopt put after the "
          "last.",
          "Pon cada palabra con q.put(palabra); el consumidor para en el std::nullopt puesto "
          "después de la última."}},
        [](const Observed& o, const Say& say) -> std::optional<std::string> {
            long long total = 0;
            for (const auto& [w, n] : h3_words()) total += n;
            if (auto p =
                    expect(o, say, "palabras", total,
                           "Every word of the file must be counted once: none lost, none twice.",
                           "Cada palabra del archivo debe contarse una vez: ninguna perdida, "
                           "ninguna dos veces."))
                return p;
            for (const auto& [w, n] : h3_words()) {
                if (auto p = expect(o, say, "cuenta:" + w, n, "", "")) return p;
            }
            return expect(o, say, "distintas", static_cast<long long>(h3_words().size()), "", "");
        });
    h3.setup = [](const fs::path& dir) {
        fs::path file = dir / "palabras.txt";
        std::ofstream out(file);
        // The words interleaved (not grouped), a few per line.
        auto left = h3_words();
        int col = 0;
        for (bool any = true; any;) {
            any = false;
            for (auto& [w, n] : left) {
                if (n == 0) continue;
                out << w << (++col % 9 == 0 ? "\n" : "  ");
                --n;
                any = true;
            }
        }
        return std::vector<std::string>{file.string()};
    };
    all.push_back(std::move(h3));

    all.push_back(ex(
        "i1",
        {"Combined exercise: Queue + Lock + Pool", "Ejercicio combinado: Queue + Lock + Pool"},
        {"Each task puts its result into the Queue and counts itself under the Lock; none may be "
         "lost.",
         "Cada tarea pone su resultado en la Queue y se cuenta con el Lock; no se puede perder "
         "ninguno."},
        {{"The initializer already stores the three handles in g: use g->resultados, g->lock, "
          "g->contador.",
          "El inicializador ya guarda los tres handles en g: usa g->resultados, g->lock, "
          "g->contador."},
         {"g->resultados.put(Par{item, long{item} * item}); then { std::lock_guard l(g->lock); "
          "g->contador.value() += 1; }",
          "g->resultados.put(Par{item, long{item} * item}); luego { std::lock_guard l(g->lock); "
          "g->contador.value() += 1; }"}},
        [](const Observed& o, const Say& say) {
            long long suma = 0;
            for (long long i = 1; i <= 40; ++i) suma += i * i;
            return first_problem(
                [&] {
                    return expect(o, say, "recibidos", 40,
                                  "One result per item must reach the Queue.",
                                  "Debe llegar a la Queue un resultado por elemento.");
                },
                [&] {
                    return expect(o, say, "suma", suma,
                                  "The results are the squares of 1 … 40, each once.",
                                  "Los resultados son los cuadrados de 1 … 40, cada uno una vez.");
                },
                [&] {
                    return expect(
                        o, say, "contador", 40,
                        "Each task adds 1 under the Lock; without it, increments are lost.",
                        "Cada tarea suma 1 con el Lock; sin él, se pierden incrementos.");
                });
        }));

    all.push_back(
        ex("j1", {"Planted bug: the race condition", "Error intencional: la condición de carrera"},
           {"The total should be 20000 and comes out lower. Find why and fix it.",
            "El total debería ser 20000 y sale menos. Encuentra por qué y corrígelo."},
           {{"Between reading n.value() and writing it back, another process may write: its update "
             "is lost.",
             "Entre leer n.value() y volver a escribirlo, otro proceso puede escribir: su "
             "actualización se pierde."},
            {"The read and the write must happen with no other process in between: a lock around "
             "both.",
             "La lectura y la escritura deben ocurrir sin otro proceso en medio: un lock alrededor "
             "de ambas."},
            {"std::lock_guard guard(n.get_lock()); at the top of the loop body (Python: with "
             "n.get_lock():).",
             "std::lock_guard guard(n.get_lock()); al principio del cuerpo del bucle (Python: with "
             "n.get_lock():)."}},
           [](const Observed& o, const Say& say) {
               return expect(o, say, "total", 20000, "Increments were lost: a race condition.",
                             "Se perdieron incrementos: una condición de carrera.");
           }));

    all.push_back(ex(
        "j2", {"Planted bug: the program hangs", "Error intencional: el programa se cuelga"},
        {"Two transfers between two accounts never end. Make them end with the right balances.",
         "Dos transferencias entre dos cuentas nunca terminan. Haz que terminen con los saldos "
         "correctos."},
        {{"Each process holds one Lock and waits for the other's: neither can go on — an "
          "interbloqueo (deadlock).",
          "Cada proceso tiene un Lock y espera el del otro: ninguno puede seguir — un interbloqueo "
          "(deadlock)."},
         {"If every process takes the locks in the same order, no one can hold the second while "
          "waiting for the first.",
          "Si todos los procesos toman los locks en el mismo orden, nadie puede tener el segundo "
          "mientras espera el primero."},
         {"Always lock account A's Lock first, whichever way the money goes (or "
          "std::scoped_lock(l1, l2), "
          "which takes both without deadlock).",
          "Toma siempre primero el Lock de la cuenta A, vaya el dinero hacia donde vaya (o "
          "std::scoped_lock(l1, l2), "
          "que toma ambos sin interbloqueo)."}},
        [](const Observed& o, const Say& say) {
            return first_problem(
                [&] { return expect(o, say, "a", 80, "A: 100 - 30 + 10.", "A: 100 - 30 + 10."); },
                [&] { return expect(o, say, "b", 120, "B: 100 + 30 - 10.", "B: 100 + 30 - 10."); });
        },
        5s));

    all.push_back(ex(
        "j3", {"Planted bug: trusting empty()", "Error intencional: confiar en empty()"},
        {"The consumer should consume all 50 items. Make it.",
         "El consumidor debería consumir los 50 elementos. Logra que lo haga."},
        {{"empty() is true when nothing has arrived *yet*: the producer may still be getting "
          "ready.",
          "empty() es true cuando todavía no llegó nada: el productor puede seguir preparándose."},
         {"Let the producer say when it is done: a sentinel, std::nullopt, as its last item.",
          "Que el productor diga cuándo termina: un centinela, std::nullopt, como último "
          "elemento."},
         {"Consumer: while (Item item = q.get()) { … } — get() waits, and the loop ends at the "
          "sentinel.",
          "Consumidor: while (Item item = q.get()) { … } — get() espera, y el bucle termina en el "
          "centinela."}},
        [](const Observed& o, const Say& say) {
            return first_problem(
                [&] {
                    return expect(o, say, "consumidos", 50, "Items were lost.",
                                  "Se perdieron elementos.");
                },
                [&] { return expect(o, say, "suma", 1275, "", ""); });
        }));

    all.push_back(ex(
        "j4", {"Planted bug: both ends recv()", "Error intencional: los dos extremos en recv()"},
        {"Parent and child should greet each other. Make the conversation happen.",
         "Padre e hijo deberían saludarse. Haz que la conversación ocurra."},
        {{"Who speaks first? Look at what each side does before sending.",
          "¿Quién habla primero? Mira qué hace cada lado antes de enviar."},
         {"Both wait in recv() for the other to speak first: one side must send before it "
          "receives.",
          "Los dos esperan en recv() a que el otro hable primero: un lado debe enviar antes de "
          "recibir."}},
        [](const Observed& o, const Say& say) {
            return first_problem(
                [&] { return expect_text(o, say, "hijo_recibio", "hola-del-padre", "", ""); },
                [&] { return expect_text(o, say, "padre_recibio", "hola-del-hijo", "", ""); });
        },
        5s));

    all.push_back(
        ex("j5", {"Planted bug: the forgotten join()", "Error intencional: el join() olvidado"},
           {"main should print the real total, 40.", "main debería imprimir el total real, 40."},
           {{"When main reads total, have the workers finished?",
             "Cuando main lee total, ¿terminaron los workers?"},
            {"join() waits for a process to end: everything it wrote is there after it.",
             "join() espera a que un proceso termine: todo lo que escribió está ahí después."}},
           [](const Observed& o, const Say& say) {
               return expect(o, say, "total", 40,
                             "main read the Value before the workers had written it.",
                             "main leyó el Value antes de que los workers lo escribieran.");
           }));

    all.push_back(ex(
        "j6",
        {"Planted bug: the Queue drained after join()",
         "Error intencional: la Queue vaciada después de join()"},
        {"main should take all 100 items from the Queue. Make it end.",
         "main debería tomar los 100 elementos de la Queue. Haz que termine."},
        {{"The queue holds 10 items: the child's 11th put() waits for room. Who makes room, and "
          "when?",
          "La cola admite 10 elementos: el put() número 11 del hijo espera lugar. ¿Quién hace "
          "lugar, y cuándo?"},
         {"main waits in join() for a child that waits in put() for main: take the items first, "
          "join() after.",
          "main espera en join() a un hijo que espera en put() a main: toma los elementos primero, "
          "join() después."}},
        [](const Observed& o, const Say& say) {
            return first_problem([&] { return expect(o, say, "recibidos", 100, "", ""); },
                                 [&] { return expect(o, say, "suma", 5050, "", ""); });
        },
        5s));

    all.push_back(ex(
        "j7",
        {"Planted bug: a Lock never released on an exception",
         "Error intencional: un Lock que una excepción deja tomado"},
        {"The item that throws should count as an error; the others reach the total; both workers "
         "end well.",
         "El elemento que lanza debería contar como error; los demás llegan al total; ambos "
         "workers terminan bien."},
        {{"Follow item 13: procesar throws between acquire() and release(). Which line never runs?",
          "Sigue al elemento 13: procesar lanza entre acquire() y release(). ¿Qué línea nunca se "
          "ejecuta?"},
         {"A guard object releases the Lock in its destructor, which runs however the block is "
          "left.",
          "Un objeto guardián libera el Lock en su destructor, que se ejecuta salga como salga el "
          "bloque."},
         {"Replace acquire()/release() by std::lock_guard guard(lock); (Python: with lock:).",
          "Reemplaza acquire()/release() por std::lock_guard guard(lock); (Python: with lock:)."}},
        [](const Observed& o, const Say& say) {
            return first_problem(
                [&] {
                    return expect(o, say, "salida_a", 0, "A worker died: look at its error above.",
                                  "Un worker murió: mira su error arriba.");
                },
                [&] {
                    return expect(o, say, "salida_b", 0, "A worker died: look at its error above.",
                                  "Un worker murió: mira su error arriba.");
                },
                [&] { return expect(o, say, "total", 177, "", ""); },
                [&] { return expect(o, say, "errores", 1, "", ""); });
        }));

    all.push_back(ex(
        "k1",
        {"Isolation: a crash kills only its process",
         "Aislamiento: un fallo mata solo a su proceso"},
        {"Run each item in its own process so that the crash of item 3 does not stop the others.",
         "Ejecuta cada elemento en su propio proceso para que el fallo del elemento 3 no detenga a "
         "los demás."},
        {{"A thread that crashes takes its whole process down; a child process that crashes only "
          "ends itself.",
          "Un hilo que falla derriba a todo su proceso; un proceso hijo que falla solo se termina "
          "a sí mismo."},
         {"mp::Process p(procesar, i); p.start(); p.join(); int codigo = "
          "p.exitcode().value_or(-1);",
          "mp::Process p(procesar, i); p.start(); p.join(); int codigo = "
          "p.exitcode().value_or(-1);"}},
        [](const Observed& o, const Say& say) -> std::optional<std::string> {
            if (auto p = expect(o, say, "fin", 1, "", "")) return p;
            for (long i = 0; i < 6; ++i) {
                auto c = o.number("salida:" + std::to_string(i));
                if (!c)
                    return say(
                        "item " + std::to_string(i) + " printed no exit code.",
                        "el elemento " + std::to_string(i) + " no imprimió código de salida.");
                if (i != 3 && *c != 0)
                    return say("item " + std::to_string(i) + " should end with 0.",
                               "el elemento " + std::to_string(i) + " debería terminar con 0.");
                if (i == 3 && *c == 0)
                    return say(
                        "item 3 crashes: its process's exit code is not 0 (-11: SIGSEGV). Print "
                        "p.exitcode().",
                        "el elemento 3 falla: el código de salida de su proceso no es 0 (-11: "
                        "SIGSEGV). Imprime p.exitcode().");
            }
            return std::nullopt;
        }));
    return all;
}

}  // namespace

const std::vector<Exercise>& exercises() {
    static const std::vector<Exercise> all = make_exercises();
    return all;
}

}  // namespace tour
