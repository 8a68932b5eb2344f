// The snippets in raw strings are shown to readers as written: Google style would
// reformat R"cpp(...)" contents, so this file is not formatted.
// clang-format off
// The lessons: texts, code and review questions (see lessons.hpp).
//
// Python code marked "the guide" is copied from the source guides as written;
// where the guides only state an exercise, the Python is our solution and the
// part's python_note says so.
#include "lessons.hpp"

#include <algorithm>

namespace tour {

namespace {

// ---- a) ------------------------------------------------------------------------------

Lesson lesson_a() {
    return {
        "a", "process",
        {"a) Fundamentals of processes and concurrent programming",
         "a) Fundamentos de procesos y programación concurrente"},
        {R"~(* A process is a running program with its own memory. A thread runs inside a process and shares that memory with the process's other threads.
* The life cycle of a process: creation → start (start()) → running → termination → the parent waits (join()).
* In Python the GIL lets only one thread run Python code at a time, so multiprocessing is how Python gets real parallelism. C++ has no GIL: std::thread already runs in parallel. What processes still give a C++ program is isolation — separate memory, and a crash that kills only the process it happens in.
* mp gives C++ the multiprocessing API with Python's names. A child is made by fork(): it starts as a copy of the parent, so it can run any function with any arguments.)~",
         R"~(* Un proceso es una instancia de programa en ejecución con memoria independiente. Un hilo es una unidad de ejecución dentro de un proceso que comparte memoria con los demás hilos.
* Ciclo de vida: creación → inicio (start()) → ejecución → terminación → espera del padre (join()).
* En Python el GIL deja ejecutar código Python a un solo hilo a la vez; por eso multiprocessing es la forma de lograr paralelismo real. C++ no tiene GIL: std::thread ya corre en paralelo. Lo que los procesos siguen dando a un programa C++ es aislamiento: memoria independiente, y un fallo que mata solo al proceso donde ocurre.
* mp trae a C++ la API de multiprocessing con los nombres de Python. Un hijo se crea con fork(): empieza como copia del padre, así que puede ejecutar cualquier función con cualquier argumento.)~"},
        {{{"Parent and child: two PIDs", "Padre e hijo: dos PID"},
          {},
          R"py(from multiprocessing import Process
import os

def worker():
    print(f"Hijo PID: {os.getpid()}")

if __name__ == "__main__":
    print(f"Padre PID: {os.getpid()}")
    p = Process(target=worker)
    p.start()
    p.join())py",
          R"cpp(#include <mp/mp.hpp>
#include <cstdio>

void worker() {
    std::printf("Hijo PID: %d\n",
                mp::current_process().pid());
}

int main() {
    std::printf("Padre PID: %d\n",
                mp::current_process().pid());
    mp::Process p(worker);
    p.start();
    p.join();
})cpp",
          {"01_process"},
          {"Two different PIDs: the operating system sees two processes.",
           "Dos PID distintos: el sistema operativo ve dos procesos."}}},
        {{{"Why can Python's multiprocessing run in real parallel while threading cannot?",
           "¿Por qué multiprocessing puede ejecutar en paralelo real y threading no?"},
          {{"Because of the GIL: in CPython one thread at a time runs Python code; each process has its own interpreter and its own GIL.",
            "Por el GIL: en CPython un solo hilo a la vez ejecuta código Python; cada proceso tiene su propio intérprete y su propio GIL."},
           {"Because processes are lighter than threads.", "Porque los procesos son más livianos que los hilos."},
           {"Because threads can never use more than one core, in any language.",
            "Porque los hilos nunca pueden usar más de un núcleo, en ningún lenguaje."}},
          0,
          {"The GIL is a CPython limit, not a limit of threads: in C++ std::thread runs in parallel (lesson k measures it). Processes are heavier than threads, not lighter.",
           "El GIL es un límite de CPython, no de los hilos: en C++ std::thread corre en paralelo (la lección k lo mide). Los procesos son más pesados que los hilos, no más livianos."}},
         {{"A parent sets a global variable after start(). Does the child see the new value?",
           "El padre cambia una variable global después de start(). ¿El hijo ve el valor nuevo?"},
          {{"Yes: parent and child share all memory.", "Sí: padre e hijo comparten toda la memoria."},
           {"No: the child has its own copy of memory, made at start(); sharing needs IPC (Pipe, Queue, Value…).",
            "No: el hijo tiene su propia copia de la memoria, hecha en start(); compartir requiere IPC (Pipe, Queue, Value…)."},
           {"Only if the variable is an int.", "Solo si la variable es un int."}},
          1,
          {"Processes have separate memory, so they need IPC mechanisms (lesson c). Threads, by contrast, would see the change.",
           "Los procesos tienen memoria separada → necesitan mecanismos IPC (lección c). Los hilos, en cambio, sí verían el cambio."}}}};
}

// ---- b) ------------------------------------------------------------------------------

Lesson lesson_b() {
    return {
        "b", "lifecycle",
        {"b) Creating and managing processes", "b) Creación y gestión de procesos con multiprocessing"},
        {R"~(* Create a process with Process(target=function) — in mp, mp::Process p(function, args...).
* Important methods: start() starts it, join() waits until it ends, is_alive() says whether it still runs; Python's p.pid is p.pid() in mp; current_process() gives name and PID.
* mp never leaves a zombie: join() reaps the child, and so does the destructor of mp::Process (it joins a child that is still running).
* Extra in mp: p.exitcode() is std::nullopt while the child runs, then its exit code (-N if a signal N killed it).)~",
         R"~(* Crear proceso con Process(target=funcion); en mp, mp::Process p(funcion, args...).
* Métodos importantes: start() inicia el proceso, join() espera que termine, is_alive() chequea si sigue vivo; el p.pid de Python es p.pid() en mp; current_process() da nombre y PID.
* mp nunca deja un zombi: join() recoge al hijo, y también el destructor de mp::Process (espera a un hijo que siga vivo).
* Extra de mp: p.exitcode() es std::nullopt mientras el hijo corre, luego su código de salida (-N si lo mató la señal N).)~"},
        {{{"start, is_alive, pid, join", "start, is_alive, pid, join"},
          {},
          R"py(from multiprocessing import Process
import time

def tarea():
    print("Inicio tarea")
    time.sleep(2)
    print("Fin tarea")

if __name__ == "__main__":
    p = Process(target=tarea)
    p.start()
    print(f"Proceso iniciado con PID {p.pid}")
    p.join()
    print("Proceso finalizado"))py",
          R"cpp(#include <mp/mp.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

void tarea() {
    std::puts("Inicio tarea");
    std::this_thread::sleep_for(
        std::chrono::seconds(2));
    std::puts("Fin tarea");
}

int main() {
    mp::Process p(tarea);
    p.start();
    std::printf("Proceso iniciado con PID %d\n",
                p.pid());
    p.join();
    std::puts("Proceso finalizado");
})cpp",
          {"02_lifecycle"},
          {}}},
        {{{"What does join() do?", "¿Qué hace join()?"},
          {{"It starts the process.", "Inicia el proceso."},
           {"It waits until the process ends (and reaps it).", "Espera a que el proceso termine (y lo recoge)."},
           {"It kills the process.", "Mata al proceso."}},
          1,
          {"start() starts it, join() waits; terminate() and kill() end it by force. join(timeout) waits at most that long and returns whether it ended.",
           "start() lo inicia, join() espera; terminate() y kill() lo terminan a la fuerza. join(timeout) espera como mucho ese tiempo y dice si terminó."}},
         {{"Right after p.start(), and again after p.join(), what does p.is_alive() return?",
           "Justo después de p.start(), y otra vez después de p.join(), ¿qué devuelve p.is_alive()?"},
          {{"true, then false.", "true, luego false."},
           {"false, then true.", "false, luego true."},
           {"true both times: a process stays alive until the program ends.",
            "true las dos veces: un proceso vive hasta que termina el programa."}},
          0,
          {"Alive from start() until the child ends; after join() it has certainly ended. (It may already be false before join() if the child was quick.)",
           "Vivo desde start() hasta que el hijo termina; después de join() seguro que terminó. (Puede ser false antes de join() si el hijo fue rápido.)"}}}};
}

// ---- c) ------------------------------------------------------------------------------

Lesson lesson_c() {
    return {
        "c", "pipe",
        {"c) Communication between processes: Pipe and Queue", "c) Comunicación entre procesos: Pipe y Queue"},
        {R"~(* Processes have separate memory → they need IPC mechanisms to talk.
* Pipe: a duplex (two-way) channel between exactly 2 processes: conn1.send(), conn2.recv(). Pipe(false) is one-way.
* Queue: a safe queue for many producers and many consumers. Prefer Queue for systems with more than two processes.
* What crosses is serialized (Python pickles): in mp, plain structs travel as bytes, std::string, std::vector, std::map, std::optional… through cereal. recv<T>() checks the type: a message sent as another type throws mp::SerializationError.
* Create the Pipe or Queue before start(): the child inherits it through fork().)~",
         R"~(* Los procesos tienen memoria separada → necesitan mecanismos IPC para hablar.
* Pipes: canal de comunicación dúplex (bidireccional) entre 2 procesos: conn1.send(), conn2.recv(). Pipe(false) es de un solo sentido.
* Queues: cola segura para múltiples productores y consumidores. Preferir Queue para sistemas con más de dos procesos.
* Lo que cruza se serializa (Python usa pickle): en mp, los structs simples viajan como bytes; std::string, std::vector, std::map, std::optional… con cereal. recv<T>() verifica el tipo: un mensaje enviado como otro tipo lanza mp::SerializationError.
* Crea la Pipe o la Queue antes de start(): el hijo la hereda con fork().)~"},
        {{{"Pipe: parent and child talk", "Pipe: padre e hijo conversan"},
          {},
          R"py(from multiprocessing import Process, Pipe

def hijo(conn):
    msg = conn.recv()
    print(f"Hijo recibió: {msg}")
    conn.send("Mensaje desde hijo")
    conn.close()

if __name__ == "__main__":
    parent_conn, child_conn = Pipe()
    p = Process(target=hijo, args=(child_conn,))
    p.start()
    parent_conn.send("Hola desde padre")
    print(parent_conn.recv())
    p.join())py",
          R"cpp(#include <mp/mp.hpp>
#include <cstdio>
#include <string>

void hijo(mp::Connection conn) {
    auto msg = conn.recv<std::string>();
    std::printf("Hijo recibió: %s\n", msg.c_str());
    conn.send(std::string("Mensaje desde hijo"));
    conn.close();
}

int main() {
    auto [parent_conn, child_conn] = mp::Pipe();
    mp::Process p(hijo, child_conn);
    p.start();
    parent_conn.send(std::string("Hola desde padre"));
    std::puts(parent_conn.recv<std::string>().c_str());
    p.join();
})cpp",
          {"03_pipe"},
          {}},
         {{"Queue: producer and consumer, with a sentinel", "Queue: productor y consumidor, con centinela"},
          {"From the guide's session 8. Lesson c)'s own consumer loops `while not q.empty()`: that is a race — exercise 22 shows it.",
           "De la guía de la sesión 8. El consumidor de la lección c) hace `while not q.empty()`: es una condición de carrera — el ejercicio 22 lo muestra."},
          R"py(from multiprocessing import Process, Queue

def productor(q):
    for i in range(5):
        q.put(i)
    q.put(None)  # señal de terminación

def consumidor(q):
    while True:
        item = q.get()
        if item is None:
            break
        print(f"Consumido: {item}")

if __name__ == "__main__":
    q = Queue()
    p1 = Process(target=productor, args=(q,))
    p2 = Process(target=consumidor, args=(q,))
    p1.start(); p2.start()
    p1.join(); p2.join())py",
          R"cpp(#include <mp/mp.hpp>
#include <cstdio>
#include <optional>

using Item = std::optional<int>;  // None → nullopt

void productor(mp::Queue<Item> q) {
    for (int i = 0; i < 5; ++i) q.put(i);
    q.put(std::nullopt);  // señal de terminación
}

void consumidor(mp::Queue<Item> q) {
    while (true) {
        Item item = q.get();
        if (!item) break;
        std::printf("Consumido: %d\n", *item);
    }
}

int main() {
    mp::Queue<Item> q;
    mp::Process p1(productor, q);
    mp::Process p2(consumidor, q);
    p1.start(); p2.start();
    p1.join(); p2.join();
})cpp",
          {"04_queue"},
          {}}},
        {{{"What is the practical difference between Queue and Pipe?", "¿Cuál es la diferencia práctica entre Queue y Pipe?"},
          {{"A Pipe connects exactly two endpoints (duplex by default); a Queue is safe for many producers and many consumers.",
            "Una Pipe conecta exactamente dos extremos (dúplex por defecto); una Queue es segura para múltiples productores y consumidores."},
           {"A Queue works only between two processes; a Pipe between any number.",
            "Una Queue funciona solo entre dos procesos; una Pipe entre cualquier cantidad."},
           {"None: Queue is just another name for Pipe.", "Ninguna: Queue es otro nombre de Pipe."}},
          0,
          {"Direction, safety, common use: a Pipe is two ends — if several processes share one end they must take turns under a Lock. A Queue has its own locks inside, so any number of processes can put and get.",
           "Dirección, seguridad, uso común: una Pipe son dos extremos — si varios procesos comparten un extremo deben turnarse con un Lock. Una Queue tiene sus propios locks por dentro: cualquier cantidad de procesos puede hacer put y get."}},
         {{"In mp, when must the Queue be created for a child to use it?", "En mp, ¿cuándo hay que crear la Queue para que un hijo la use?"},
          {{"Any time: the child looks it up by name.", "En cualquier momento: el hijo la busca por nombre."},
           {"Before start(): the child inherits it through fork().", "Antes de start(): el hijo la hereda con fork()."},
           {"After join().", "Después de join()."}},
          1,
          {"The child begins as a copy of the parent at start(): what exists then (Queue, Pipe, Lock, Value) is shared; what the parent creates later is not.",
           "El hijo empieza como copia del padre en start(): lo que existe en ese momento (Queue, Pipe, Lock, Value) se comparte; lo que el padre cree después, no."}},
         {{"A consumer loops `while not q.empty(): q.get()` while the producer is still running. What can happen?",
           "Un consumidor hace `while not q.empty(): q.get()` mientras el productor sigue corriendo. ¿Qué puede pasar?"},
          {{"Nothing bad: empty() waits for the producer.", "Nada malo: empty() espera al productor."},
           {"It can stop early and leave items unconsumed: empty() only says \"empty right now\".",
            "Puede terminar antes de tiempo y dejar elementos sin consumir: empty() solo dice \"vacía ahora\"."},
           {"It raises an exception.", "Lanza una excepción."}},
          1,
          {"Use a sentinel (None / std::nullopt): the consumer blocks in get() until the producer says it is done. Exercise 22 shows the lost items.",
           "Usa un centinela (None / std::nullopt): el consumidor se bloquea en get() hasta que el productor avisa que terminó. El ejercicio 22 muestra los elementos perdidos."}}}};
}

// ---- d) ------------------------------------------------------------------------------

Lesson lesson_d() {
    return {
        "d", "lock",
        {"d) Basic synchronization with Lock", "d) Sincronización básica con Lock"},
        {R"~(* Race condition: processes access and modify the same data at the same time, and the result depends on luck.
* Lock() stops two processes from being in a critical section at the same time: lock.acquire() / lock.release(), or `with lock:` — in C++, std::lock_guard g(lock);
* mp's Lock works across processes and has timeouts: lock.acquire(1s) returns false instead of waiting forever.
* Something Python lacks: if a process dies while holding a Lock, the next acquire() throws mp::LockAbandoned (and holds the lock) instead of deadlocking.)~",
         R"~(* Condición de carrera: cuando procesos acceden/modifican datos simultáneamente y el resultado depende de la suerte.
* Lock() evita que dos procesos entren a una sección crítica al mismo tiempo: lock.acquire() / lock.release(), o `with lock:` — en C++, std::lock_guard g(lock);
* El Lock de mp funciona entre procesos y tiene timeouts: lock.acquire(1s) devuelve false en vez de esperar para siempre.
* Algo que Python no tiene: si un proceso muere con el Lock tomado, el siguiente acquire() lanza mp::LockAbandoned (y queda con el lock) en vez de quedar bloqueado.)~"},
        {{{"A critical section", "Una sección crítica"},
          {},
          R"py(from multiprocessing import Process, Lock

def tarea(lock, i):
    lock.acquire()
    print(f"Proceso {i} entrando a sección crítica")
    lock.release()

if __name__ == "__main__":
    lock = Lock()
    procesos = [Process(target=tarea, args=(lock, i))
                for i in range(3)]
    for p in procesos:
        p.start()
    for p in procesos:
        p.join())py",
          R"cpp(#include <mp/mp.hpp>
#include <cstdio>
#include <vector>

void tarea(mp::Lock lock, int i) {
    lock.acquire();
    std::printf("Proceso %d entrando a sección crítica\n", i);
    lock.release();
}

int main() {
    mp::Lock lock;
    std::vector<mp::Process> procesos;
    for (int i = 0; i < 3; ++i)
        procesos.emplace_back(tarea, lock, i);
    for (auto& p : procesos) p.start();
    for (auto& p : procesos) p.join();
})cpp",
          {"05_lock"},
          {}}},
        {{{"What problem does the Lock solve, and what happens without it?", "¿Qué problema soluciona el Lock y qué pasa si no se usa?"},
          {{"It makes the program faster; without it everything is slower.", "Hace el programa más rápido; sin él todo es más lento."},
           {"Race conditions: without it, two processes in the critical section can overwrite each other's updates (or mix their output).",
            "Las condiciones de carrera: sin él, dos procesos en la sección crítica pueden pisarse las actualizaciones (o mezclar su salida)."},
           {"It stops processes from crashing.", "Evita que los procesos fallen."}},
          1,
          {"A Lock makes a read-modify-write one step for everyone else. It costs time (processes wait their turn); exercise 20 shows updates lost without it.",
           "Un Lock hace que leer-modificar-escribir sea un solo paso para los demás. Cuesta tiempo (los procesos esperan su turno); el ejercicio 20 muestra actualizaciones perdidas sin él."}},
         {{"In mp, a process dies while holding a Lock. What does the next acquire() do?", "En mp, un proceso muere con el Lock tomado. ¿Qué hace el siguiente acquire()?"},
          {{"It waits forever, as in Python.", "Espera para siempre, como en Python."},
           {"It throws mp::LockAbandoned, and the caller now holds the lock.", "Lanza mp::LockAbandoned, y quien llamó queda con el lock."},
           {"It silently succeeds.", "Tiene éxito en silencio."}},
          1,
          {"The data the dead holder was changing may be half-updated: catch LockAbandoned, repair or check the data, then release.",
           "Los datos que el proceso muerto estaba cambiando pueden haber quedado a medias: captura LockAbandoned, revisa o repara los datos y luego libera."}}}};
}

// ---- e) ------------------------------------------------------------------------------

Lesson lesson_e() {
    return {
        "e", "pool",
        {"e) Process pools", "e) Pool de procesos"},
        {R"~(* A Pool manages a group of worker processes for parallel tasks: less repeated code, better management.
* Methods (the ones that needed clarification in the guides' sessions):
  - map(func, iterable) applies func to every element, in parallel, and returns the results in order.
  - apply(func, args) runs func once, like a normal call (it blocks).
  - map_async / apply_async return at once with an AsyncResult; .get() waits for the value.
* `with Pool(4) as pool:` is mp::Pool pool(4); — the destructor stops the workers, as leaving the `with` block does.
* mp's Pool takes plain functions (no pickling of the function); arguments and results are serialized. A task that throws comes back as mp::RemoteError; a worker that crashes makes its task throw mp::WorkerLost (Python would hang).)~",
         R"~(* Un Pool administra un grupo de procesos para tareas paralelas: menos código repetido, mejor gestión.
* Métodos importantes (sobre los que se pidió aclaración en las sesiones de las guías):
  - map(func, iterable) aplica la función a cada elemento, en paralelo, y devuelve los resultados en orden.
  - apply(func, args) ejecuta la función una vez, como una llamada normal (bloquea).
  - map_async / apply_async vuelven enseguida con un AsyncResult; .get() espera el valor.
* `with Pool(4) as pool:` es mp::Pool pool(4); — el destructor detiene a los workers, como al salir del bloque `with`.
* El Pool de mp recibe funciones comunes (la función no se serializa); argumentos y resultados sí. Una tarea que lanza una excepción vuelve como mp::RemoteError; un worker que falla hace que su tarea lance mp::WorkerLost (Python quedaría colgado).)~"},
        {{{"Squares with map", "Cuadrados con map"},
          {},
          R"py(from multiprocessing import Pool
import time

def cuadrado(x):
    return x * x

if __name__ == "__main__":
    with Pool(4) as pool:
        resultados = pool.map(cuadrado, [1, 2, 3, 4])
        print(resultados))py",
          R"cpp(#include <mp/mp.hpp>
#include <cstdio>
#include <vector>

int cuadrado(int x) { return x * x; }

int main() {
    mp::Pool pool(4);
    std::vector<int> resultados =
        pool.map(cuadrado, std::vector{1, 2, 3, 4});
    for (int r : resultados) std::printf("%d ", r);
    std::printf("\n");

    int uno = pool.apply(cuadrado, 5);
    auto futuro = pool.apply_async(cuadrado, 6);
    auto todos = pool.map_async(cuadrado,
                                std::vector{7, 8});
    std::printf("%d %d %zu\n", uno, futuro.get(),
                todos.get().size());
})cpp",
          {"07_pool"},
          {}}},
        {{{"When is a Pool better than creating Processes by hand?", "¿Cuándo conviene usar Pool en vez de Process manual?"},
          {{"When each process does something different and lives as long as the program.",
            "Cuando cada proceso hace algo distinto y vive tanto como el programa."},
           {"When there are many similar, independent tasks: a fixed number of workers takes them in turn and the results come back in order.",
            "Cuando hay muchas tareas parecidas e independientes: un número fijo de workers las va tomando y los resultados vuelven en orden."},
           {"Only when there is exactly one task.", "Solo cuando hay exactamente una tarea."}},
          1,
          {"A Pool reuses its workers (no fork per task) and gathers results for you. Distinct, long-lived roles (a producer and a consumer) are clearer as separate Processes.",
           "Un Pool reutiliza sus workers (sin fork por tarea) y junta los resultados por ti. Roles distintos y de larga vida (un productor y un consumidor) quedan más claros como Processes separados."}},
         {{"Which Pool call returns at once, before the task has run?", "¿Qué llamada del Pool vuelve enseguida, antes de que la tarea se ejecute?"},
          {{"pool.apply(f, x)", "pool.apply(f, x)"},
           {"pool.map(f, items)", "pool.map(f, items)"},
           {"pool.apply_async(f, x) — it returns an AsyncResult; .get() waits.",
            "pool.apply_async(f, x) — devuelve un AsyncResult; .get() espera."}},
          2,
          {"apply and map block until the results are there; the _async versions let the parent do other work meanwhile, and get(timeout) throws mp::TimeoutError if it runs out.",
           "apply y map bloquean hasta tener los resultados; las versiones _async dejan al padre hacer otra cosa mientras tanto, y get(timeout) lanza mp::TimeoutError si se acaba el tiempo."}}}};
}

// ---- f) ------------------------------------------------------------------------------

Lesson lesson_f() {
    return {
        "f", "value",
        {"f) Basic shared memory: Value and Array", "f) Memoria compartida básica: Value y Array"},
        {R"~(* Value and Array share simple data between processes: Value for a single value (a counter), Array for a collection.
* Python asks for a type code ('i' for int, 'd' for float); C++ says the type: Value('i', 0) is mp::Value<int>(0), Array('d', 10) is mp::Array<double>(10).
* Synchronize with get_lock() or with your own Lock: `n.value += 1` is read, add, write — three steps that another process can interleave.
* Pool + Value: a Value cannot travel as a task argument (it is shared memory, not data). Create it before the Pool and hand it to the workers with an initializer — the point that needed clarification in the guides' session.
* mp::SharedMemory (Python's shared_memory.SharedMemory) is a named block of raw bytes that any process can attach by name.)~",
         R"~(* Value y Array permiten compartir datos simples entre procesos: Value es para un solo valor (un contador), Array para colecciones.
* Python pide un código de tipo ('i' para int, 'd' para float); C++ nombra el tipo: Value('i', 0) es mp::Value<int>(0), Array('d', 10) es mp::Array<double>(10).
* Pueden sincronizarse con get_lock() o manualmente con Lock: `n.value += 1` es leer, sumar, escribir — tres pasos que otro proceso puede intercalar.
* Pool + Value: un Value no puede viajar como argumento de una tarea (es memoria compartida, no un dato). Créalo antes del Pool y dáselo a los workers con un initializer — el punto que necesitó aclaración en la sesión de las guías.
* mp::SharedMemory (shared_memory.SharedMemory de Python) es un bloque de bytes con nombre al que cualquier proceso puede conectarse por su nombre.)~"},
        {{{"A shared counter", "Un contador compartido"},
          {"The guide's code; its `n.value += 1` has no lock — the mp version takes get_lock(), and exercise 20 shows what happens without it.",
           "El código de la guía; su `n.value += 1` no tiene lock — la versión mp toma get_lock(), y el ejercicio 20 muestra qué pasa sin él."},
          R"py(from multiprocessing import Process, Value

def tarea(n):
    n.value += 1

if __name__ == "__main__":
    num = Value('i', 0)
    procesos = [Process(target=tarea, args=(num,))
                for _ in range(5)]
    for p in procesos:
        p.start()
    for p in procesos:
        p.join()
    print(f"Valor final: {num.value}"))py",
          R"cpp(#include <mp/mp.hpp>
#include <cstdio>
#include <mutex>
#include <vector>

void tarea(mp::Value<int> n) {
    std::lock_guard g(n.get_lock());
    n.value() += 1;
}

int main() {
    mp::Value<int> num(0);
    std::vector<mp::Process> procesos;
    for (int i = 0; i < 5; ++i)
        procesos.emplace_back(tarea, num);
    for (auto& p : procesos) p.start();
    for (auto& p : procesos) p.join();
    std::printf("Valor final: %d\n", num.value());
})cpp",
          {"06_shared_memory"},
          {}}},
        {{{"What is Python's Value('d', 0.0) in mp?", "¿Qué es Value('d', 0.0) de Python en mp?"},
          {{"mp::Value<double> v(0.0);", "mp::Value<double> v(0.0);"},
           {"mp::Value v('d', 0.0);", "mp::Value v('d', 0.0);"},
           {"double v = 0.0; (every process sees globals)", "double v = 0.0; (todos los procesos ven las globales)"}},
          0,
          {"The type code becomes the template argument; any trivially copyable type works. A plain global is copied into each child and never shared.",
           "El código de tipo pasa a ser el argumento de plantilla; sirve cualquier tipo trivialmente copiable. Una global común se copia en cada hijo y nunca se comparte."}},
         {{"Five processes each run `n.value += 1` on one Value without get_lock(). The final value is…",
           "Cinco procesos hacen `n.value += 1` sobre un Value sin get_lock(). El valor final es…"},
          {{"always 5.", "siempre 5."},
           {"5 or less: an update can be lost when two processes interleave read and write.",
            "5 o menos: una actualización puede perderse cuando dos procesos intercalan lectura y escritura."},
           {"more than 5.", "más de 5."}},
          1,
          {"It is usually 5 with so few updates — which is why races hide. With many updates the loss shows every time (exercise 20).",
           "Con tan pocas actualizaciones suele dar 5 — por eso las carreras se esconden. Con muchas, la pérdida aparece siempre (ejercicio 20)."}},
         {{"How do Pool workers get a shared Value?", "¿Cómo reciben los workers de un Pool un Value compartido?"},
          {{"As an argument of pool.map, like any other value.", "Como argumento de pool.map, como cualquier otro valor."},
           {"Create it before the Pool and pass it to an initializer that stores it in each worker.",
            "Se crea antes del Pool y se pasa a un initializer que lo guarda en cada worker."},
           {"They cannot; use a file instead.", "No se puede; hay que usar un archivo."}},
          1,
          {"Task arguments are serialized (copied); a Value must be inherited. mp::Pool pool(4, init, counter) runs init(counter) once in each worker.",
           "Los argumentos de las tareas se serializan (se copian); un Value se hereda. mp::Pool pool(4, init, contador) ejecuta init(contador) una vez en cada worker."}}}};
}

// ---- g) ------------------------------------------------------------------------------

Lesson lesson_g() {
    return {
        "g", "mp_worker",
        {"g) Final exercise: mp_worker", "g) Ejercicio final: mp_worker"},
        {R"~(The guides' final exercise: take a sequential program and make it really parallel, "to show that several processes run at the same time" — then add a shared counter under get_lock().
* Watch the times: the parallel version is faster only up to the number of CPUs; on 2 CPUs, about 2x.
* Each worker prints its PID and when it ran: intervals that overlap are the proof that the processes really ran at the same time.)~",
         R"~(El ejercicio final de las guías: pasar un código secuencial a uno paralelo real, "para demostrar que varios procesos corren simultáneamente" — y luego agregar un contador compartido con get_lock().
* Mira los tiempos: la versión paralela es más rápida solo hasta el número de CPUs; con 2 CPUs, cerca de 2x.
* Cada worker imprime su PID y cuándo trabajó: intervalos que se superponen son la prueba de que los procesos corrieron realmente a la vez.)~"},
        {{{"From sequential to parallel, then a shared counter", "De secuencial a paralelo, luego un contador compartido"},
          {"The guides describe mp_worker.py but do not print it; this Python is the exercise's final form as the example reconstructs it.",
           "Las guías describen mp_worker.py pero no lo imprimen; este Python es la forma final del ejercicio tal como la reconstruye el ejemplo."},
          R"py(from multiprocessing import Process, Value
import time

def worker(lo, hi, total):
    n = count_primes(lo, hi)
    with total.get_lock():
        total.value += n

if __name__ == "__main__":
    t0 = time.time()
    seq = count_primes(0, LIMIT)
    t_seq = time.time() - t0

    total = Value('i', 0)
    procs = [Process(target=worker,
                     args=(lo, hi, total))
             for lo, hi in chunks]
    t0 = time.time()
    for p in procs: p.start()
    for p in procs: p.join()
    t_par = time.time() - t0
    print(f"speedup {t_seq / t_par:.2f}x"))py",
          R"cpp(void worker(long lo, long hi, mp::Value<long> total) {
    long n = count_primes(lo, hi);
    std::lock_guard g(total.get_lock());
    total.value() += n;
}

int main() {
    auto t0 = Clock::now();
    long seq = count_primes(0, kLimit);
    double t_seq = seconds_since(t0);

    mp::Value<long> total(0);
    std::vector<mp::Process> procs;
    for (auto [lo, hi] : chunks)
        procs.emplace_back(worker, lo, hi, total);
    t0 = Clock::now();
    for (auto& p : procs) p.start();
    for (auto& p : procs) p.join();
    double t_par = seconds_since(t0);
    std::printf("speedup %.2fx\n", t_seq / t_par);
})cpp",
          {"08_mp_worker"},
          {}}},
        {{{"On a machine with 2 CPUs, a CPU-bound job goes from 1 process to 4. The best speedup to expect is about…",
           "En una máquina con 2 CPUs, un trabajo CPU-bound pasa de 1 proceso a 4. La mejor aceleración esperable es cerca de…"},
          {{"4x: one per process.", "4x: uno por proceso."},
           {"2x: two processes can compute at once; the other two wait for a CPU.",
            "2x: dos procesos pueden calcular a la vez; los otros dos esperan una CPU."},
           {"1x: processes cannot run in parallel.", "1x: los procesos no pueden correr en paralelo."}},
          1,
          {"Parallelism is bounded by the CPUs (mp::cpu_count()). More workers than CPUs helps only when tasks wait (I/O).",
           "El paralelismo está limitado por las CPUs (mp::cpu_count()). Más workers que CPUs solo ayuda cuando las tareas esperan (I/O)."}},
         {{"How does the exercise show that several processes run at the same time?", "¿Cómo muestra el ejercicio que varios procesos corren simultáneamente?"},
          {{"The results are printed in order.", "Los resultados salen en orden."},
           {"Workers with different PIDs report time intervals that overlap, and the total time drops below the sequential time.",
            "Workers con distintos PID informan intervalos de tiempo que se superponen, y el tiempo total baja del tiempo secuencial."},
           {"The program uses more memory.", "El programa usa más memoria."}},
          1,
          {"Several PIDs prove several processes; overlapping intervals and a shorter wall time prove they ran at once.",
           "Varios PID prueban varios procesos; los intervalos superpuestos y el menor tiempo total prueban que corrieron a la vez."}}}};
}

// ---- h) ------------------------------------------------------------------------------

Lesson lesson_h() {
    return {
        "h", "mini",
        {"h) Mini-exercises", "h) Mini-ejercicios rápidos"},
        {R"~(The three mini-exercises of session 8:
1. Three processes add up different ranges of numbers and put their partial sums on a Queue; the main process adds the partial sums.
2. A Pool of 4 processes computes the factorials of a list of big numbers (math.factorial) — in C++ the numbers need GMP (mpz_class): they do not fit in 64 bits.
3. The producer-consumer example, changed so that the producer reads the words of a text file and the consumer counts them.)~",
         R"~(Los tres mini-ejercicios de la sesión 8:
1. Escribe un programa con 3 procesos que calculen la suma de distintos rangos de números y pasen el resultado a un Queue. El proceso principal debe sumar los resultados parciales.
2. Usa un Pool de 4 procesos para calcular los factoriales de una lista de números grandes (math.factorial) — en C++ hace falta GMP (mpz_class): no caben en 64 bits.
3. Modifica el ejemplo del productor-consumidor para que el productor genere palabras desde un archivo de texto y el consumidor las cuente.)~"},
        {{{"1. Sum of ranges through a Queue", "1. Suma de rangos con una Queue"},
          {"The guide states the exercise; this Python is a solution.", "La guía da el enunciado; este Python es una solución."},
          R"py(from multiprocessing import Process, Queue

def suma(q, a, b):
    q.put(sum(range(a, b)))

if __name__ == "__main__":
    q = Queue()
    n = 10_000_000
    rangos = [(1, n + 1), (n + 1, 2 * n + 1),
              (2 * n + 1, 3 * n + 1)]
    ps = [Process(target=suma, args=(q, a, b))
          for a, b in rangos]
    for p in ps: p.start()
    total = sum(q.get() for _ in ps)
    for p in ps: p.join()
    print(total))py",
          R"cpp(#include <mp/mp.hpp>
#include <cstdio>
#include <vector>

void suma(mp::Queue<long> q, long a, long b) {
    long s = 0;
    for (long i = a; i < b; ++i) s += i;
    q.put(s);
}

int main() {
    mp::Queue<long> q;
    std::vector<mp::Process> ps;
    const long n = 10'000'000;
    for (long a : {1L, n + 1, 2 * n + 1})
        ps.emplace_back(suma, q, a, a + n);
    for (auto& p : ps) p.start();
    long total = 0;
    for (std::size_t i = 0; i < ps.size(); ++i)
        total += q.get();
    for (auto& p : ps) p.join();
    std::printf("%ld\n", total);
})cpp",
          {"09_sum_ranges"},
          {}},
         {{"2. Factorials of big numbers with a Pool of 4", "2. Factoriales de números grandes con un Pool de 4"},
          {"The guide states the exercise; this Python is a solution.", "La guía da el enunciado; este Python es una solución."},
          R"py(from multiprocessing import Pool
import math

if __name__ == "__main__":
    numeros = [100, 1000, 5000, 10000]
    with Pool(4) as pool:
        fs = pool.map(math.factorial, numeros)
    for n, f in zip(numeros, fs):
        print(n, len(str(f)), "dígitos"))py",
          R"cpp(#include <mp/mp.hpp>
#include <gmpxx.h>
#include <cstdio>
#include <string>
#include <vector>

// mpz_class is not trivially copyable: send digits
std::string factorial_str(unsigned long n) {
    mpz_class f;
    mpz_fac_ui(f.get_mpz_t(), n);
    return f.get_str();
}

int main() {
    std::vector<unsigned long> numeros{100, 1000,
                                       5000, 10000};
    mp::Pool pool(4);
    auto fs = pool.map(factorial_str, numeros);
    for (std::size_t i = 0; i < fs.size(); ++i)
        std::printf("%lu %zu dígitos\n", numeros[i],
                    fs[i].size());
})cpp",
          {"10_factorials"},
          {}},
         {{"3. Words of a text file, counted by a consumer", "3. Palabras de un archivo, contadas por un consumidor"},
          {"The guide states the exercise; this Python is a solution.", "La guía da el enunciado; este Python es una solución."},
          R"py(from multiprocessing import Process, Queue
from collections import Counter

def productor(q, ruta):
    for palabra in open(ruta).read().lower().split():
        q.put(palabra)
    q.put(None)  # señal de terminación

def consumidor(q, resultados):
    cuenta = Counter()
    while (palabra := q.get()) is not None:
        cuenta[palabra] += 1
    resultados.put(cuenta)

if __name__ == "__main__":
    q, resultados = Queue(), Queue()
    p1 = Process(target=productor, args=(q, "texto.txt"))
    p2 = Process(target=consumidor, args=(q, resultados))
    p1.start(); p2.start()
    print(resultados.get().most_common(10))
    p1.join(); p2.join())py",
          R"cpp(#include <mp/mp.hpp>
#include <map>
#include <optional>
#include <string>

using Word = std::optional<std::string>;
using Counts = std::map<std::string, long>;
// words_of() and read_file(): see examples/11_word_count.cpp

void productor(mp::Queue<Word> q, std::string ruta) {
    for (auto& palabra : words_of(read_file(ruta)))
        q.put(palabra);
    q.put(std::nullopt);  // señal de terminación
}

void consumidor(mp::Queue<Word> q,
                mp::Queue<Counts> resultados) {
    Counts cuenta;
    while (Word palabra = q.get()) ++cuenta[*palabra];
    resultados.put(cuenta);
}

int main() {
    mp::Queue<Word> q;
    mp::Queue<Counts> resultados;
    mp::Process p1(productor, q, "texto.txt");
    mp::Process p2(consumidor, q, resultados);
    p1.start(); p2.start();
    Counts cuenta = resultados.get();
    p1.join(); p2.join();
})cpp",
          {"11_word_count"},
          {"The consumer's counts match a direct count done in the parent: no word was lost on the way.",
           "Las cuentas del consumidor coinciden con un conteo directo hecho en el padre: no se perdió ninguna palabra en el camino."}}},
        {{{"In mini-exercise 1, how does the main process know that all partial sums have arrived?",
           "En el mini-ejercicio 1, ¿cómo sabe el proceso principal que llegaron todas las sumas parciales?"},
          {{"It checks q.empty() after joining.", "Revisa q.empty() después del join."},
           {"It calls q.get() exactly once per process it started: get() blocks until each sum is there.",
            "Llama a q.get() exactamente una vez por proceso iniciado: get() bloquea hasta que llega cada suma."},
           {"It sleeps one second.", "Duerme un segundo."}},
          1,
          {"Knowing how many items will come is as good as a sentinel. Get them before join(): a child may not end until what it put has been taken.",
           "Saber cuántos elementos vendrán equivale a un centinela. Tómalos antes de join(): un hijo puede no terminar hasta que se retire lo que puso."}},
         {{"Factorials of different sizes: which Pool call hands you each result as soon as it is ready, in any order?",
           "Factoriales de distintos tamaños: ¿qué llamada del Pool entrega cada resultado apenas está listo, en cualquier orden?"},
          {{"pool.map", "pool.map"},
           {"pool.imap_unordered", "pool.imap_unordered"},
           {"pool.apply", "pool.apply"}},
          1,
          {"map waits for all and keeps the order; imap keeps the order but yields as it goes; imap_unordered yields in completion order.",
           "map espera todos y mantiene el orden; imap mantiene el orden pero entrega a medida que avanza; imap_unordered entrega en orden de finalización."}},
         {{"Why does the word-count consumer wait for a sentinel instead of stopping when the queue is empty?",
           "¿Por qué el consumidor del conteo de palabras espera un centinela en vez de parar cuando la cola está vacía?"},
          {{"Because the queue may be empty for a moment while the producer is still reading the file.",
            "Porque la cola puede estar vacía un momento mientras el productor sigue leyendo el archivo."},
           {"Because empty() is not available in mp.", "Porque empty() no existe en mp."},
           {"Because sentinels make the queue faster.", "Porque los centinelas hacen la cola más rápida."}},
          0,
          {"\"Empty now\" is not \"finished\". Only the producer knows when it is done, so it says so with the sentinel.",
           "\"Vacía ahora\" no es \"terminado\". Solo el productor sabe cuándo termina, y lo avisa con el centinela."}}}};
}

// ---- i) ------------------------------------------------------------------------------

Lesson lesson_i() {
    return {
        "i", "combined",
        {"i) Combined exercise: Queue + Lock + Pool", "i) Ejercicio combinado: Queue + Lock + Pool"},
        {R"~(The guides' session report suggests "challenges that combine several concurrency mechanisms, for example Queue, Lock and Pool in one solution". Here a Pool of 4 counts primes in 12 jobs; each worker, under one shared Lock, counts the job as done in a shared Value and puts a numbered log line on a Queue, which the parent prints while the work goes on. The Queue, Lock and Value reach the workers through an initializer.
* Queue: many writers (the workers), one reader (the parent).
* Lock: keeps the counter and its log line together, even though several workers update them.
* Pool: distributes the tasks and gathers the results.)~",
         R"~(El informe de la sesión de las guías sugiere "desafíos que integren múltiples mecanismos concurrentes (por ejemplo, combinar Queue, Lock y Pool en una misma solución)". Aquí un Pool de 4 cuenta primos en 12 trabajos; cada worker, bajo un mismo Lock, cuenta el trabajo como hecho en un Value compartido y pone una línea de registro numerada en una Queue, que el padre imprime mientras el trabajo avanza. La Queue, el Lock y el Value llegan a los workers con un initializer.
* Queue: muchos escritores (los workers), un lector (el padre).
* Lock: mantiene juntos el contador y su línea de registro, aunque varios workers los actualicen.
* Pool: reparte las tareas y junta los resultados.)~"},
        {{{"Queue + Lock + Pool", "Queue + Lock + Pool"},
          {"The exercise is a suggestion of the guides' report; this Python is the example's own sketch.",
           "El ejercicio es una sugerencia del informe de las guías; este Python es el esquema del propio ejemplo."},
          R"py(from multiprocessing import Pool, Queue, Lock, Value

def init(q, l, d):
    global log, console, done
    log, console, done = q, l, d

def job(r):
    n = count_primes(*r)
    with console:
        done.value += 1
        log.put(f"[{done.value}/12] {r}: {n} primes")
    return n

if __name__ == "__main__":
    q, lock, done = Queue(), Lock(), Value('i', 0)
    ranges = [(i * 10_000, (i + 1) * 10_000)
              for i in range(12)]
    with Pool(4, initializer=init,
              initargs=(q, lock, done)) as pool:
        result = pool.map_async(job, ranges)
        for _ in ranges:
            print(q.get())
        print(sum(result.get())))py",
          R"cpp(#include <mp/mp.hpp>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

int count_primes(int from, int to);

struct Shared {  // each worker's "globals"
    mp::Queue<std::string> log;
    mp::Lock lock;
    mp::Value<int> done;
};
std::optional<Shared> shared;

void init(mp::Queue<std::string> q, mp::Lock l,
          mp::Value<int> d) {
    shared.emplace(Shared{q, l, d});
}

int job(std::pair<int, int> r) {
    int n = count_primes(r.first, r.second);
    std::lock_guard g(shared->lock);
    int k = ++shared->done.value();
    shared->log.put("[" + std::to_string(k) + "/12] " +
                    std::to_string(n) + " primes");
    return n;
}

int main() {
    mp::Queue<std::string> log;
    mp::Lock lock;
    mp::Value<int> done(0);
    std::vector<std::pair<int, int>> ranges;
    for (int i = 0; i < 12; ++i)
        ranges.emplace_back(i * 10'000, (i + 1) * 10'000);
    mp::Pool pool(4, init, log, lock, done);
    auto result = pool.map_async(job, ranges);
    for (std::size_t i = 0; i < ranges.size(); ++i)
        std::puts(log.get().c_str());
    int total = 0;
    for (int c : result.get()) total += c;
    std::printf("%d\n", total);
})cpp",
          {"12_queue_lock_pool"},
          {}}},
        {{{"Several Pool workers add to one shared total. What must protect it?", "Varios workers del Pool suman a un total compartido. ¿Qué debe protegerlo?"},
          {{"Nothing: the Pool runs one task at a time.", "Nada: el Pool ejecuta una tarea a la vez."},
           {"A Lock (or the Value's get_lock()) around the read-add-write.", "Un Lock (o el get_lock() del Value) alrededor de leer-sumar-escribir."},
           {"A Queue.", "Una Queue."}},
          1,
          {"The workers run at the same time: the same race as lesson d) and exercise 20. A Queue protects its own items, not your other data.",
           "Los workers corren a la vez: la misma carrera de la lección d) y del ejercicio 20. Una Queue protege sus propios elementos, no tus otros datos."}},
         {{"The parent reads progress messages from the workers' Queue while the Pool runs. Which call lets it do that?",
           "El padre lee mensajes de avance de la Queue de los workers mientras el Pool trabaja. ¿Qué llamada se lo permite?"},
          {{"pool.map — the parent waits inside it.", "pool.map — el padre espera dentro."},
           {"pool.map_async — it returns at once; the parent reads the Queue, then calls get().",
            "pool.map_async — vuelve enseguida; el padre lee la Queue y luego llama a get()."},
           {"pool.close", "pool.close"}},
          1,
          {"With map the parent would be stuck until everything ended, and could not read the messages as they come.",
           "Con map el padre quedaría esperando hasta que todo termine, y no podría leer los mensajes a medida que llegan."}}}};
}

// ---- j) ------------------------------------------------------------------------------

Lesson lesson_j() {
    return {
        "j", "debug",
        {"j) Debugging exercises: planted bugs", "j) Ejercicios de depuración: errores intencionales"},
        {R"~(The guides' report suggests "debugging exercises with planted bugs". Each program below has a bug and a fixed twin. Run the buggy one, read the symptom it prints, find the bug in its source (examples/2N_bug_*.cpp), then compare with the fix.
* A concurrency bug may show only sometimes. These programs make the unlucky timing happen every time, and turn a hang into a message with a timeout.)~",
         R"~(El informe de las guías sugiere "ejercicios de depuración de código con errores intencionales". Cada programa tiene un error y un gemelo corregido. Ejecuta el que tiene el error, lee el síntoma que imprime, busca el error en su código (examples/2N_bug_*.cpp) y compáralo con la corrección.
* Un error de concurrencia puede aparecer solo a veces. Estos programas hacen que el momento desafortunado ocurra siempre, y convierten un cuelgue en un mensaje gracias a un timeout.)~"},
        {{{"20 · A race: no lock", "20 · Una condición de carrera: sin lock"},
          {},
          R"py(# bug
def tarea(n):
    for _ in range(5000):
        n.value += 1

# fix
def tarea(n):
    for _ in range(5000):
        with n.get_lock():
            n.value += 1)py",
          R"cpp(// 20_bug_race
for (int i = 0; i < 5000; ++i) {
    int seen = n.value();
    std::this_thread::yield();
    n.value() = seen + 1;
}
// 20_fix_race
for (int i = 0; i < 5000; ++i) {
    std::lock_guard g(n.get_lock());
    n.value() += 1;
})cpp",
          {"20_bug_race", "20_fix_race"},
          {}},
         {{"21 · A deadlock: two locks, opposite orders", "21 · Un interbloqueo (deadlock): dos locks en orden opuesto"},
          {},
          R"py(# bug: opposite orders
def w1(a, b):
    with a:
        with b: ...
def w2(a, b):
    with b:
        with a: ...

# detect instead of hanging
if not b.acquire(timeout=1):
    print("deadlock?")

# fix: always a, then b)py",
          R"cpp(// 21_bug_deadlock
a.acquire();  b.acquire();   // worker 1
b.acquire();  a.acquire();   // worker 2

// detect instead of hanging
if (!b.acquire(1s))
    std::puts("deadlock?");

// 21_fix_deadlock: always a, then b
a.acquire();  b.acquire();   // both workers
std::scoped_lock both(a, b); // or this)cpp",
          {"21_bug_deadlock", "21_fix_deadlock"},
          {}},
         {{"22 · Trusting empty()", "22 · Confiar en empty()"},
          {"The bug is lesson c)'s own consumer, run at the same time as the producer.",
           "El error es el propio consumidor de la lección c), ejecutado a la vez que el productor."},
          R"py(# bug
def consumidor(q):
    while not q.empty():
        item = q.get()

# fix
def consumidor(q):
    while True:
        item = q.get()
        if item is None:
            break)py",
          R"cpp(// 22_bug_empty
while (!q.empty()) {
    int item = q.get();
}
// 22_fix_empty
while (true) {
    std::optional<int> item = q.get();
    if (!item) break;
})cpp",
          {"22_bug_empty", "22_fix_empty"},
          {}},
         {{"23 · A Pipe where both ends wait to receive", "23 · Una Pipe donde ambos extremos esperan recibir"},
          {},
          R"py(# bug: both ends recv() first
msg = conn.recv()          # child
print(parent_conn.recv())  # parent

# detect instead of hanging
if not parent_conn.poll(1):
    print("nothing arrived")

# fix: the parent sends first
parent_conn.send("Hola desde padre"))py",
          R"cpp(// 23_bug_pipe: both ends recv() first
auto msg = conn.recv<std::string>();
auto r = parent_conn.recv<std::string>();

// detect instead of hanging
if (!parent_conn.poll(1s))
    std::puts("nothing arrived");

// 23_fix_pipe: the parent sends first
parent_conn.send(std::string("Hola desde padre"));)cpp",
          {"23_bug_pipe", "23_fix_pipe"},
          {}}},
        {{{"Two workers take locks A and B. Which rule prevents the deadlock of exercise 21?",
           "Dos workers toman los locks A y B. ¿Qué regla evita el interbloqueo del ejercicio 21?"},
          {{"Take the locks faster.", "Tomar los locks más rápido."},
           {"Everyone takes the locks in the same order (or takes both at once with std::scoped_lock).",
            "Todos toman los locks en el mismo orden (o toman ambos a la vez con std::scoped_lock)."},
           {"Use more locks.", "Usar más locks."}},
          1,
          {"A deadlock needs a cycle: each holds one and waits for the other's. One global order makes a cycle impossible; a timeout only detects it.",
           "Un interbloqueo necesita un ciclo: cada uno tiene uno y espera el del otro. Un orden global hace imposible el ciclo; un timeout solo lo detecta."}},
         {{"Why does the race of exercise 20 lose updates?", "¿Por qué la carrera del ejercicio 20 pierde actualizaciones?"},
          {{"Because n.value += 1 is a read and a write; another process can write in between, and our write erases it.",
            "Porque n.value += 1 es una lectura y una escritura; otro proceso puede escribir en el medio, y nuestra escritura lo borra."},
           {"Because shared memory is slow.", "Porque la memoria compartida es lenta."},
           {"Because the processes end before they finish.", "Porque los procesos terminan antes de acabar."}},
          0,
          {"The lock makes read-add-write one step as far as the others can see.",
           "El lock hace que leer-sumar-escribir sea un solo paso para los demás."}},
         {{"How do exercises 21 and 23 report a deadlock instead of hanging?", "¿Cómo informan los ejercicios 21 y 23 un interbloqueo en vez de colgarse?"},
          {{"They catch SIGSEGV.", "Capturan SIGSEGV."},
           {"With timeouts: lock.acquire(1s) and conn.poll(1s) return false when nothing happens in time.",
            "Con timeouts: lock.acquire(1s) y conn.poll(1s) devuelven false si no pasa nada a tiempo."},
           {"The operating system detects it.", "El sistema operativo lo detecta."}},
          1,
          {"A timeout turns \"hangs forever\" into a value you can test and report. Use one whenever a wait might never end.",
           "Un timeout convierte \"se cuelga para siempre\" en un valor que puedes probar e informar. Úsalo cuando una espera pueda no terminar nunca."}}}};
}

// ---- k) ------------------------------------------------------------------------------

Lesson lesson_k() {
    return {
        "k", "compare",
        {"k) Threads vs processes vs async", "k) Hilos vs procesos vs async"},
        {R"~(The guides' reports ask to compare concurrency models (multiprocessing vs threading vs asyncio). In Python: threads for I/O-bound work (limited by the GIL), processes for CPU-bound work (they avoid it).
The program runs the same CPU-bound job and the same I/O-bound job with std::thread, with mp processes and with a single-threaded event loop (C++20 coroutines over timerfd + poll, what asyncio does), then makes a worker crash.
* C++ has no GIL: threads speed up the CPU job too — unlike Python.
* Waiting (I/O) overlaps in all three models; an event loop does it with one thread.
* Processes give isolation: a crash kills only its own process.)~",
         R"~(Los informes de las guías piden comparar modelos de concurrencia (multiprocessing vs threading vs asyncio). En Python: hilos para tareas de I/O (limitados por el GIL), procesos para tareas intensivas en CPU (evitan el GIL).
El programa ejecuta el mismo trabajo CPU-bound y el mismo trabajo I/O-bound con std::thread, con procesos mp y con un bucle de eventos de un solo hilo (corrutinas de C++20 sobre timerfd + poll, lo que hace asyncio), y luego hace fallar a un worker.
* C++ no tiene GIL: los hilos también aceleran el trabajo de CPU, a diferencia de Python.
* La espera (I/O) se superpone en los tres modelos; un bucle de eventos lo hace con un solo hilo.
* Los procesos dan aislamiento: un fallo mata solo a su propio proceso.)~"},
        {{{"The same jobs, four ways", "Los mismos trabajos, de cuatro formas"},
          {"A sketch of the Python equivalent; it is not in the guides.", "Un esquema del equivalente en Python; no está en las guías."},
          R"py(import threading, multiprocessing, asyncio

# CPU-bound: threads do not help (GIL)
ts = [threading.Thread(target=cuenta, args=(i,))
      for i in range(4)]
ps = [multiprocessing.Process(target=cuenta,
                              args=(i,))
      for i in range(4)]

# I/O-bound: all three overlap the waiting
async def pedido():
    await asyncio.sleep(0.1)
async def main():
    await asyncio.gather(*(pedido()
                           for _ in range(8)))
asyncio.run(main()))py",
          R"cpp(// CPU-bound: threads help too (no GIL)
std::vector<std::thread> ts;
for (int i = 0; i < 4; ++i)
    ts.emplace_back(cuenta, i);
std::vector<mp::Process> ps;
for (int i = 0; i < 4; ++i)
    ps.emplace_back(cuenta, i);

// I/O-bound: a coroutine on an event loop
EventLoop::Task pedido(EventLoop& loop) {
    co_await loop.sleep(100ms);
}
for (int i = 0; i < 8; ++i)
    loop.spawn(pedido(loop));
loop.run();

// isolation: the parent survives this
mp::Process p([] { std::raise(SIGSEGV); });)cpp",
          {"13_threads_vs_processes"},
          {}}},
        {{{"When should a Python program use multiprocessing (CPU-bound) and when threading (I/O-bound)?",
           "¿Cuándo conviene en Python multiprocesamiento (CPU-bound) y cuándo multihilos (I/O-bound)?"},
          {{"Processes for computation, threads (or asyncio) for waiting on I/O.", "Procesos para cálculo, hilos (o asyncio) para esperar I/O."},
           {"Threads for computation, processes for I/O.", "Hilos para cálculo, procesos para I/O."},
           {"Always processes.", "Siempre procesos."}},
          0,
          {"The GIL serializes Python computation across threads but is released while waiting, so threads suit I/O. In C++ threads also suit computation.",
           "El GIL serializa el cálculo de Python entre hilos pero se libera mientras se espera, así que los hilos sirven para I/O. En C++ los hilos también sirven para cálculo."}},
         {{"C++ threads already run in parallel. What do processes still give you?", "Los hilos de C++ ya corren en paralelo. ¿Qué te siguen dando los procesos?"},
          {{"Nothing: they are just slower.", "Nada: solo son más lentos."},
           {"Isolation: separate memory, and a crash (SIGSEGV) kills only that process — the parent goes on.",
            "Aislamiento: memoria separada, y un fallo (SIGSEGV) mata solo a ese proceso — el padre sigue."},
           {"A larger stack.", "Una pila más grande."}},
          1,
          {"The program showed it: the crashing worker ended with exitcode -11 and the parent kept running. A crash in a std::thread ends the whole process.",
           "El programa lo mostró: el worker que falló terminó con exitcode -11 y el padre siguió. Un fallo en un std::thread termina todo el proceso."}},
         {{"Can a single-threaded event loop speed up a CPU-bound job?", "¿Un bucle de eventos de un solo hilo puede acelerar un trabajo CPU-bound?"},
          {{"Yes, coroutines run in parallel.", "Sí, las corrutinas corren en paralelo."},
           {"No: it runs one task at a time on one thread; it only overlaps waiting.",
            "No: ejecuta una tarea a la vez en un solo hilo; solo superpone las esperas."},
           {"Only with more than 4 tasks.", "Solo con más de 4 tareas."}},
          1,
          {"Its CPU time equals the sequential time; its I/O time equals the threads'.",
           "Su tiempo de CPU es igual al secuencial; su tiempo de I/O, igual al de los hilos."}}}};
}

/// The questions are written with the right option wherever it reads best; to
/// keep "always b)" from being an answer, each is moved to a varying position.
std::vector<Lesson> with_spread_answers(std::vector<Lesson> all) {
    for (std::size_t li = 0; li < all.size(); ++li) {
        auto& qs = all[li].checkpoint;
        for (std::size_t qi = 0; qi < qs.size(); ++qi) {
            auto& q = qs[qi];
            auto n = q.options.size();
            auto target = (li + 2 * qi) % n;
            auto from = static_cast<std::size_t>(q.correct);
            // rotate right by (target - from) so the right option lands on `target`
            std::rotate(q.options.rbegin(), q.options.rbegin() + static_cast<std::ptrdiff_t>((target + n - from) % n),
                        q.options.rend());
            q.correct = static_cast<int>(target);
        }
    }
    return all;
}

}  // namespace

const std::vector<Lesson>& lessons() {
    static const std::vector<Lesson> all = with_spread_answers(
        {lesson_a(), lesson_b(), lesson_c(), lesson_d(), lesson_e(), lesson_f(), lesson_g(), lesson_h(),
         lesson_i(), lesson_j(), lesson_k()});
    return all;
}

const Phrases& phrases() {
    static const Phrases p{
        .welcome = {"mp-tour — Python's multiprocessing, in C++ with mp",
                    "mp-tour — el multiprocessing de Python, en C++ con mp"},
        .welcome_body =
            {"This tour follows the study guides' order: lessons a) to f), the final exercise, the mini-exercises, then a combined exercise, debugging exercises and a comparison of threads, processes and async. Each lesson shows the Python code beside the mp code, runs the example program live (real processes, real PIDs) and ends with a checkpoint. By default it runs straight through and shows the answers; with --interactive it stops at each checkpoint and asks you.",
             "Este recorrido sigue el orden de las guías de estudio: lecciones a) a f), el ejercicio final, los mini-ejercicios, y luego un ejercicio combinado, ejercicios de depuración y una comparación de hilos, procesos y async. Cada lección muestra el código Python junto al código mp, ejecuta el programa de ejemplo en vivo (procesos reales, PID reales) y termina con un alto para puesta en común. Por defecto corre de principio a fin y muestra las respuestas; con --interactive se detiene en cada alto y te pregunta."},
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
