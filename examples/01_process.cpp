// Lesson a) — processes: the parent and the child each print their PID.
//
// Python (the guide's example):
//     def worker():
//         print(f"Hijo PID: {os.getpid()}")
//     p = Process(target=worker); p.start(); p.join()
#include <mp/mp.hpp>

#include <cstdio>

void worker() {
    auto me = mp::current_process();
    std::printf("Child  PID: %d (name %s, parent PID %d)\n", me.pid(), me.name().c_str(),
                mp::parent_process()->pid());
}

int main() {
    std::printf("Parent PID: %d (name %s)\n", mp::current_process().pid(),
                mp::current_process().name().c_str());
    mp::Process p(worker);
    p.start();
    p.join();
    std::printf("The child's PID was %d and it ended with exit code %d.\n", p.pid(), *p.exitcode());
    std::printf("Two processes, two PIDs: each has its own memory.\n");
}
