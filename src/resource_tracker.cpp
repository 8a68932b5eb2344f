// The resource tracker (see resource_tracker.hpp).
//
// Protocol: a SOCK_SEQPACKET socket pair. The program keeps one end (close-on-exec, so
// exec'd programs do not hold it; forked children inherit and share it); each message is
// 'R' or 'U' followed by a segment name (at most 250 bytes: one message, sent whole). The
// tracker keeps the registered names; when recv() reports end-of-file — every process of
// the program has exited, however — it unlinks the names still registered and exits.
//
// How it is made: the program may run threads (the user's, or its own), so the tracker is
// forked but never returns into the program's code: the children run only
// async-signal-safe system calls (clone, sigaction, dup2, close, recv, send, mmap,
// unlink, _exit) and allocate nothing with malloc, so they cannot deadlock on a lock
// another thread held at fork time. The fork is doubled (the first child
// clones the tracker and exits at once, reaped here) so the tracker is not this program's child: it
// is adopted by init, is never a zombie of ours and outlives a SIGKILL of the program by only the
// moment needed to clean up. It ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT (a Ctrl-C to the
// terminal's process group must not kill the cleaner before the program), as Python's does.
#include "resource_tracker.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "system.hpp"

namespace mp::detail {
namespace {

constexpr std::size_t kMaxName = 250;
constexpr std::size_t kEntry = 256;  // one length byte, then the name

// ---- the tracker process: async-signal-safe code only ------------------------------------

struct Table {
    char* slots = nullptr;  // `capacity` entries of kEntry bytes
    std::size_t capacity = 0;
    std::size_t count = 0;
};

bool grow(Table& t) {
    std::size_t bytes = t.capacity * kEntry;
    std::size_t more = bytes == 0 ? 256 * kEntry : 2 * bytes;
    void* p = t.slots == nullptr ? ::mmap(nullptr, more, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                                 : ::mremap(t.slots, bytes, more, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) return false;
    t.slots = static_cast<char*>(p);
    t.capacity = more / kEntry;
    return true;
}

void add(Table& t, const char* name, std::size_t n) {
    if (t.count == t.capacity && !grow(t)) return;  // out of memory: cannot track more
    char* e = t.slots + t.count * kEntry;
    e[0] = static_cast<char>(n);
    std::memcpy(e + 1, name, n);
    ++t.count;
}

void remove(Table& t, const char* name, std::size_t n) {
    for (std::size_t i = 0; i < t.count; ++i) {
        char* e = t.slots + i * kEntry;
        if (static_cast<unsigned char>(e[0]) == n && std::memcmp(e + 1, name, n) == 0) {
            --t.count;
            if (i != t.count) std::memcpy(e, t.slots + t.count * kEntry, kEntry);
            return;
        }
    }
}

void close_all_but_0() {
    if (::syscall(SYS_close_range, 1u, ~0u, 0u) == 0) return;
    rlimit r{};
    rlim_t n = ::getrlimit(RLIMIT_NOFILE, &r) == 0 ? r.rlim_cur : 1024;
    if (n > 1 << 20) n = 1 << 20;
    for (rlim_t fd = 1; fd < n; ++fd) ::close(static_cast<int>(fd));
}

[[noreturn]] void tracker_main(int sock) {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::sigaction(s, &ign, nullptr);
    if (sock != 0) {
        ::dup2(sock, 0);
    }
    close_all_but_0();  // holds no pipe, socket or file of the program open
    if (::chdir("/") != 0) {
    }
    Table t;
    char msg[kEntry + 8];
    for (;;) {
        ssize_t n = ::recv(0, msg, sizeof msg, 0);
        if (n == 0) break;  // every process of the program has exited
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        std::size_t len = static_cast<std::size_t>(n) - 1;
        if (len == 0 || len > kMaxName) continue;
        if (msg[0] == 'R') add(t, msg + 1, len);
        if (msg[0] == 'U') remove(t, msg + 1, len);
    }
    char path[16 + kEntry] = "/dev/shm/";
    for (std::size_t i = 0; i < t.count; ++i) {
        const char* e = t.slots + i * kEntry;
        std::size_t len = static_cast<unsigned char>(e[0]);
        std::memcpy(path + 9, e + 1, len);
        path[9 + len] = '\0';
        ::unlink(path);  // ENOENT: unlinked by someone not of this program; fine
    }
    ::_exit(0);
}

// ---- in the program -------------------------------------------------------------------------

std::atomic<int> g_fd{-1};                   // our end of the socket, shared with forked children
std::atomic<int> g_pid{0};                   // the tracker started by this process
std::mutex* g_start_mutex = new std::mutex;  // never destroyed: used until exit

void after_fork_in_child() noexcept {
    // A thread of the parent may have held the mutex at fork time: this process has one.
    g_start_mutex = new (g_start_mutex) std::mutex;
    g_pid = 0;
}

int start_tracker() {
    static const int registered = pthread_atfork(nullptr, nullptr, after_fork_in_child);
    (void)registered;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        throw_errno("mp::SharedMemory: cannot start the resource tracker (socketpair)");
    pid_t mid = ::fork();  // fork(), as mp::Process does: sanitizers know about it
    if (mid < 0) {
        int err = errno;
        close_fd(sv[0]);
        close_fd(sv[1]);
        throw_errno("mp::SharedMemory: cannot start the resource tracker (fork)", err);
    }
    if (mid == 0) {
        // Async-signal-safe only from here (see the top of this file). This child has one
        // thread, so a raw clone (no pthread_atfork handlers again) is safe here.
        long tracker = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        if (tracker == 0) tracker_main(sv[0]);
        if (tracker > 0) {
            pid_t pid = static_cast<pid_t>(tracker);
            (void)::send(sv[0], &pid, sizeof pid, MSG_NOSIGNAL);  // arrives at sv[1]
        }
        ::_exit(tracker > 0 ? 0 : 1);
    }
    close_fd(sv[0]);
    int status = 0;
    while (::waitpid(mid, &status, 0) < 0 && errno == EINTR) {
    }
    pid_t pid = 0;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
        ::recv(sv[1], &pid, sizeof pid, MSG_DONTWAIT) != static_cast<ssize_t>(sizeof pid)) {
        close_fd(sv[1]);
        throw Error("mp::SharedMemory: the resource tracker could not be started");
    }
    g_pid = pid;
    return sv[1];
}

bool send_message(int fd, char op, std::string_view name) {
    char msg[kEntry];
    msg[0] = op;
    std::memcpy(msg + 1, name.data(), name.size());
    for (;;) {
        if (::send(fd, msg, name.size() + 1, MSG_NOSIGNAL) >= 0) return true;
        if (errno != EINTR) return false;
    }
}

}  // namespace

void tracker_register(std::string_view name) {
    if (name.size() > kMaxName) throw ValueError("mp::SharedMemory: name too long to track");
    for (int attempt = 0; attempt < 2; ++attempt) {
        int fd = g_fd.load();
        if (fd < 0 || attempt > 0) {
            std::lock_guard lock(*g_start_mutex);
            if (g_fd.load() == fd) {
                if (fd >= 0) close_fd(fd);  // its tracker is gone (someone killed it)
                g_fd = -1;
                g_fd = start_tracker();
            }
            fd = g_fd.load();
        }
        if (send_message(fd, 'R', name)) return;
    }
    throw_errno("mp::SharedMemory: cannot reach the resource tracker");
}

void tracker_unregister(std::string_view name) noexcept {
    int fd = g_fd.load();
    if (fd >= 0 && name.size() <= kMaxName) (void)send_message(fd, 'U', name);
}

int tracker_pid() noexcept {
    return g_pid.load();
}

}  // namespace mp::detail
