// How a fresh image of the program knows its role before main.
//
// The spawn and forkserver start methods exec /proc/self/exe with MP_BOOT in the
// environment: "spawn:<fd>:<pdeath>" or "forkserver:<fd>:0", fd being one end of a
// socket pair the parent sends the boot message through. A constructor of priority 101
// (before every default-priority static initializer of the program) reads it:
//
//  * without MP_BOOT it returns at once: the program runs as usual;
//  * with it, it removes MP_BOOT from the environment, then runs the rest of the
//    program's static initializers itself (the main program's DT_INIT_ARRAY entries
//    after its own, so the program's globals are built as Python's spawn imports the
//    main module), then runs the child (or the server) and ends with _exit: main never
//    runs, and neither do atexit handlers or static destructors.
//
// What runs in a spawned image, then: the shared libraries' initializers (libstdc++,
// libc, GoogleTest if linked as .so), every static initializer of the program, and the
// task. What does not: main, and anything the parent did after its own start-up.
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "popen.hpp"

extern char** environ;

namespace mp::detail {

int forkserver_main(int fd) noexcept;  // forkserver.cpp

namespace {

using InitFn = void (*)(int, char**, char**);

bool g_booted_normally = true;

struct InitArray {
    InitFn* begin = nullptr;
    std::size_t count = 0;
};

// The main program's DT_INIT_ARRAY, found through its dynamic section.
InitArray main_init_array() {
    InitArray out;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
            auto& arr = *static_cast<InitArray*>(data);
            const ElfW(Dyn)* dyn = nullptr;
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
                    dyn = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr +
                                                             info->dlpi_phdr[i].p_vaddr);
            }
            if (dyn == nullptr) return 1;
            std::uintptr_t addr = 0;
            std::size_t size = 0;
            for (; dyn->d_tag != DT_NULL; ++dyn) {
                if (dyn->d_tag == DT_INIT_ARRAY) addr = dyn->d_un.d_ptr;
                if (dyn->d_tag == DT_INIT_ARRAYSZ) size = dyn->d_un.d_val;
            }
            if (addr == 0) return 1;
            // glibc leaves DT_INIT_ARRAY unrelocated: add the load address unless the
            // value already lies in one of the module's segments.
            auto in_module = [info](std::uintptr_t a) {
                for (int i = 0; i < info->dlpi_phnum; ++i) {
                    const auto& ph = info->dlpi_phdr[i];
                    std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
                    if (ph.p_type == PT_LOAD && a >= lo && a < lo + ph.p_memsz) return true;
                }
                return false;
            };
            if (!in_module(addr)) addr += info->dlpi_addr;
            arr.begin = reinterpret_cast<InitFn*>(addr);
            arr.count = size / sizeof(InitFn);
            return 1;  // the first module is the main program
        },
        &out);
    return out;
}

void boot(int argc, char** argv, char** envp);

// Runs the program's initializers that come after boot() (all of them if boot() is
// not among them, i.e. when mp is a shared library).
void run_remaining_initializers(int argc, char** argv, char** envp) {
    InitArray arr = main_init_array();
    std::size_t start = 0;
    for (std::size_t i = 0; i < arr.count; ++i) {
        if (arr.begin[i] == &boot) start = i + 1;
    }
    for (std::size_t i = start; i < arr.count; ++i) {
        InitFn f = arr.begin[i];
        if (f != nullptr && reinterpret_cast<std::uintptr_t>(f) != std::uintptr_t(-1))
            f(argc, argv, envp);
    }
}

__attribute__((constructor(101))) void boot(int argc, char** argv, char** envp) {
    const char* marker = std::getenv("MP_BOOT");
    if (marker == nullptr) return;
    std::string m = marker;
    ::unsetenv("MP_BOOT");
    g_booted_normally = false;
    auto c1 = m.find(':');
    auto c2 = m.find(':', c1 == std::string::npos ? c1 : c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) ::_exit(121);
    std::string role = m.substr(0, c1);
    int fd = std::atoi(m.c_str() + c1 + 1);
    pid_t pdeath = static_cast<pid_t>(std::atol(m.c_str() + c2 + 1));
    // The loader has bound every symbol already (spawn_image asked it to); what the
    // children of this image run or exec does not inherit the request.
    if (m.find(":bound", c2) != std::string::npos) ::unsetenv("LD_BIND_NOW");
    if (pdeath != 0) {  // a daemon: end with the process that spawned it
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != pdeath) ::_exit(1);
    }
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    run_remaining_initializers(argc, argv, envp);
    if (role == "forkserver") ::_exit(forkserver_main(fd));
    if (role != "spawn") ::_exit(121);
    int code = 1;
    try {
        std::vector<int> fds;
        Bytes msg = recv_with_fds(fd, fds);
        close_fd(fd);
        ChildSpec spec = decode_spec(msg);
        code = run_child(spec, std::move(fds));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mp: a spawned child could not start: %s\n", e.what());
        code = 1;
    }
    flush_std_streams();
    ::_exit(code);
}

}  // namespace

bool booted_normally() noexcept {
    return g_booted_normally;
}

pid_t spawn_image(const char* role, int fd, bool die_with_parent) {
    // A daemon spawned from the main thread dies with its parent (PR_SET_PDEATHSIG
    // follows the thread that created the child, so only the main thread can rely on it).
    pid_t pdeath = die_with_parent && ::gettid() == ::getpid() ? ::getpid() : 0;
    std::string marker =
        std::string("MP_BOOT=") + role + ":" + std::to_string(fd) + ":" + std::to_string(pdeath);
    // The fork server's loader binds every symbol at start-up (LD_BIND_NOW), once: else each
    // of its children would bind, page by copied page, each library function it calls
    // first (~20 page faults and symbol lookups per child; its parent never calls them).
    char bind_now[] = "LD_BIND_NOW=1";
    const bool bind = std::strcmp(role, "forkserver") == 0 && std::getenv("LD_BIND_NOW") == nullptr;
    if (bind) marker += ":bound";
    pid_t pid = 0;
    std::vector<char*> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        if (std::strncmp(*e, "MP_BOOT=", 8) != 0) env.push_back(*e);
    }
    if (bind) env.push_back(bind_now);
    env.push_back(marker.data());
    env.push_back(nullptr);
    char* argv[] = {program_invocation_name, nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, fd);  // clears FD_CLOEXEC on fd in the child
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    int r = ::posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, env.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0) throw_errno("Process.start: posix_spawn of /proc/self/exe", r);
    return pid;
}

}  // namespace mp::detail
