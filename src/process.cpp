#include "mp/process.hpp"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <typeinfo>

#include "popen.hpp"

namespace mp {
namespace detail {

StartMethod default_start_method();                       // context.cpp
StartMethod parse_start_method(const std::string& name);  // context.cpp
const char* start_method_name(StartMethod m) noexcept;    // context.cpp

struct ProcessImpl {
    std::string name;
    bool daemon = false;
    std::vector<int> identity;     // "Process-1:2" is {1, 2}
    std::unique_ptr<Popen> popen;  // set by start()
    pid_t owner = 0;               // the process that started it
    std::optional<int> code;       // once reaped
    bool closed = false;
    bool dropped = false;  // its Process object is gone: the registry reaps it
    std::optional<StartMethod> method;

    [[nodiscard]] bool owned_here() const noexcept { return owner == ::getpid(); }
    void record(std::optional<int> c);  // reaped: remember the code, leave the registry
};

namespace {

// What this process knows about itself; replaced in each child when it starts.
struct Self {
    std::string name = "MainProcess";
    bool daemon = false;
    std::vector<int> identity;
    int children_started = 0;
    std::optional<ProcessInfo> parent;
    int parent_pidfd = -1;  // forkserver/spawn children: a pidfd of the parent
    pid_t parent_pid = 0;
};

// Children started by this process and not yet reaped.
struct Registry {
    std::mutex mutex;
    std::vector<std::shared_ptr<ProcessImpl>> children;
    bool atexit_installed = false;
};

Self& self() {
    static Self* s = new Self;  // never destroyed: used by atexit handlers and children
    return *s;
}

Registry*& registry_ptr() {
    static Registry* r = new Registry;  // never destroyed, replaced in each child
    return r;
}

Registry& registry() {
    return *registry_ptr();
}

void unregister(ProcessImpl* p) {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    std::erase_if(r.children, [p](const auto& c) { return c.get() == p; });
}

// Reaps the children whose Process objects were dropped and that have ended.
void reap_dropped() noexcept try {
    std::vector<std::shared_ptr<ProcessImpl>> dropped;
    {
        auto& r = registry();
        std::lock_guard lock(r.mutex);
        for (auto& c : r.children) {
            if (c->dropped) dropped.push_back(c);
        }
    }
    for (auto& p : dropped) p->record(p->popen->poll());
} catch (...) {
}

// At normal exit, as Python's util._exit_function: terminate daemons, join the rest.
void at_exit() noexcept try {
    std::vector<std::shared_ptr<ProcessImpl>> left;
    {
        auto& r = registry();
        std::lock_guard lock(r.mutex);
        left = r.children;
    }
    for (auto& p : left) {
        if (p->daemon && !p->code && p->popen) p->popen->send_signal(SIGTERM);
    }
    for (auto& p : left) {
        if (p->code || !p->popen) continue;
        std::optional<Clock::time_point> deadline;
        if (p->daemon) deadline = Clock::now() + std::chrono::seconds(1);
        auto code = p->popen->wait(deadline);
        if (!code) {  // a daemon that ignores SIGTERM
            p->popen->send_signal(SIGKILL);
            code = p->popen->wait(std::nullopt);
        }
        p->record(code);
    }
} catch (...) {
}

// Becomes the process `spec` describes (in a forked child, or a fresh image).
void become_child(const ChildSpec& spec, int parent_pidfd) {
    auto& s = self();
    s.parent.emplace(spec.parent_name, spec.parent_pid, spec.parent_daemon, 1);
    s.parent_pid = spec.parent_pid;
    s.parent_pidfd = parent_pidfd;
    s.name = spec.name;
    s.daemon = spec.daemon;
    s.identity = spec.identity;
    s.children_started = 0;
    // Another thread of the parent may have held the registry's mutex at fork: start afresh.
    // The old registry is abandoned on purpose (its mutex may be locked), but kept
    // reachable so leak checkers do not report it.
    static auto* abandoned = new std::vector<Registry*>;
    abandoned->push_back(registry_ptr());
    bool installed = registry().atexit_installed;
    registry_ptr() = new Registry;
    registry().atexit_installed = installed;
}

std::string current_exception_description() {
    try {
        throw;
    } catch (const std::exception& e) {
        return current_exception_type_name() + ": " + e.what();
    } catch (...) {
        return current_exception_type_name() + " (not a std::exception)";
    }
}

// What every child does around its target: print an exception, reap its own children.
template <class Run>
int child_body(const std::string& name, Run&& run) noexcept {
    int code = 0;
    try {
        run();
    } catch (...) {
        std::string what;
        try {
            what = current_exception_description();
        } catch (...) {
        }
        flush_std_streams();
        std::fprintf(stderr, "Process %s:\n%s\n", name.c_str(), what.c_str());
        code = 1;
    }
    at_exit();  // as Python's _bootstrap: reap this child's own children first
    flush_std_streams();
    return code;
}

void install_atexit() {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    if (!r.atexit_installed) {
        std::atexit(at_exit);
        r.atexit_installed = true;
    }
}

}  // namespace

void ProcessImpl::record(std::optional<int> c) {
    if (!c || code) return;
    code = c;
    unregister(this);
}

int run_child(ChildSpec& spec, std::vector<int> fds) noexcept {
    int parent_pidfd = fds.empty() ? -1 : fds.front();
    if (!fds.empty()) fds.erase(fds.begin());
    try {
        become_child(spec, parent_pidfd);
    } catch (...) {
        return 1;
    }
    FdSource source(std::move(fds));
    current_fd_source() = &source;
    int code = child_body(spec.name, [&] {
        if (spec.trampoline.module == 0 && spec.trampoline.offset == 0) return;  // no target
        const void* t = resolve_code(spec.trampoline);
        if (t == nullptr) throw Error("mp: the Process's code is not loaded in the child");
        Bytes none;
        reinterpret_cast<Trampoline>(const_cast<void*>(t))(spec.callable, spec.args, none);
    });
    current_fd_source() = nullptr;
    return code;
}

void set_process_start_method(Process& p, const std::string& method) {
    p.impl().method = parse_start_method(method);
}

}  // namespace detail

bool ProcessInfo::is_alive() const {
    if (kind_ == 1) {
        auto& s = detail::self();
        if (s.parent_pidfd >= 0)
            return detail::poll_fd(s.parent_pidfd, POLLIN, detail::Clock::now()) == 0;
        return ::getppid() == pid_;  // a direct parent: once it ends we are reparented
    }
    if (pid_ == ::getpid()) return true;
    return ::kill(pid_, 0) == 0 || errno == EPERM;
}

Process::Process() : impl_(std::make_shared<detail::ProcessImpl>()) {
    detail::reap_dropped();
    auto& s = detail::self();
    impl_->identity = s.identity;
    impl_->identity.push_back(++s.children_started);
    std::string name = "Process-";
    for (std::size_t i = 0; i < impl_->identity.size(); ++i) {
        if (i) name += ':';
        name += std::to_string(impl_->identity[i]);
    }
    impl_->name = std::move(name);
}

Process::Process(Process&& other) noexcept = default;

Process& Process::operator=(Process&& other) noexcept {
    if (this != &other) {
        Process old(std::move(*this));  // its destructor hands what this object had started to mp
        impl_ = std::move(other.impl_);
        target_ = std::move(other.target_);
    }
    return *this;
}

Process::~Process() {
    if (!impl_ || !impl_->popen || impl_->code || !impl_->owned_here()) return;
    // The child runs on (Python's Process(target=f).start()): the registry reaps it.
    auto& r = detail::registry();
    std::lock_guard lock(r.mutex);
    impl_->dropped = true;
}

detail::ProcessImpl& Process::impl() const {
    if (!impl_) throw ProcessError("Process: this object was moved from");
    if (impl_->closed) throw ValueError("Process: process " + impl_->name + " is closed");
    return *impl_;
}

void Process::run() {
    if (target_) target_->run();
}

void Process::start() {
    auto& p = impl();
    if (p.popen)
        throw ProcessError("Process.start: process " + p.name +
                           " was already started (a process object can only be started once)");
    auto& s = detail::self();
    if (s.daemon)
        throw ProcessError("Process.start: daemonic processes are not allowed to have children (" +
                           p.name + ")");
    detail::reap_dropped();
    detail::install_atexit();
    detail::StartMethod method = p.method ? *p.method : detail::default_start_method();
    detail::ChildSpec spec;
    spec.name = p.name;
    spec.daemon = p.daemon;
    spec.identity = p.identity;
    spec.parent_name = s.name;
    spec.parent_pid = ::getpid();
    spec.parent_daemon = s.daemon;
    detail::TaskValue task;
    if (method == detail::StartMethod::fork) {
        spec.fork_main = [&]() -> int {
            detail::become_child(spec, -1);
            return detail::child_body(spec.name, [this] { run(); });
        };
    } else {
        const char* mname = detail::start_method_name(method);
        if (!target_ && typeid(*this) != typeid(Process)) {
            throw ValueError("Process.start: process " + p.name +
                             " is a Process subclass overriding run(); under start method '" +
                             mname +
                             "' only a target can be sent. Pass the work as a target "
                             "(mp::Process(f, args...)) or use mp::get_context(\"fork\")");
        }
        if (target_) {
            if (const char* why = target_->not_sendable()) {
                throw ValueError("Process.start: process " + p.name + ": under start method '" +
                                 mname + "' the target must be sendable, but " + why +
                                 "; or use mp::get_context(\"fork\").Process(...)");
            }
            target_->encode(task);
            spec.trampoline = task.trampoline;
            spec.callable = std::move(task.callable);
            spec.args = std::move(task.args);
            spec.fds = task.fds.fds;
        }
    }
    p.popen = detail::launch(method, spec);
    p.owner = ::getpid();
    target_.reset();  // the parent keeps no copy of the target or its arguments
    auto& r = detail::registry();
    std::lock_guard lock(r.mutex);
    r.children.push_back(impl_);
}

bool Process::join() {
    return join_until(std::nullopt);
}

bool Process::join_until(std::optional<clock::time_point> deadline) {
    auto& p = impl();
    if (!p.popen) throw ProcessError("Process.join: process " + p.name + " was never started");
    if (!p.owned_here())
        throw ProcessError("Process.join: can only join a child process (" + p.name +
                           " was started by pid " + std::to_string(p.owner) + ")");
    if (p.code) return true;
    p.record(p.popen->wait(deadline));
    return p.code.has_value();
}

bool Process::is_alive() {
    auto& p = impl();
    if (!p.popen || p.code) return false;
    if (!p.owned_here()) return false;
    p.record(p.popen->poll());
    return !p.code;
}

pid_t Process::pid() const noexcept {
    return impl_ && impl_->popen ? impl_->popen->pid() : 0;
}

std::optional<int> Process::exitcode() {
    auto& p = impl();
    if (p.popen && !p.code && p.owned_here()) p.record(p.popen->poll());
    return p.code;
}

void Process::terminate() {
    auto& p = impl();
    if (!p.popen) throw ProcessError("Process.terminate: process " + p.name + " was never started");
    p.popen->send_signal(SIGTERM);
}

void Process::kill() {
    auto& p = impl();
    if (!p.popen) throw ProcessError("Process.kill: process " + p.name + " was never started");
    p.popen->send_signal(SIGKILL);
}

void Process::close() {
    auto& p = impl();
    if (p.popen && !p.code && is_alive()) {
        throw ValueError("Process.close: process " + p.name +
                         " is still running; join() or terminate() it first");
    }
    p.popen.reset();  // closes the pidfd
    p.closed = true;
}

bool Process::closed() const noexcept {
    return impl_ && impl_->closed;
}

const std::string& Process::name() const noexcept {
    static const std::string moved = "<moved-from Process>";
    return impl_ ? impl_->name : moved;
}

void Process::set_name(std::string name) {
    impl().name = std::move(name);
}

bool Process::daemon() const noexcept {
    return impl_ && impl_->daemon;
}

void Process::set_daemon(bool daemon) {
    auto& p = impl();
    if (p.popen)
        throw ProcessError("Process.set_daemon: process " + p.name + " has already started");
    p.daemon = daemon;
}

int Process::sentinel() const noexcept {
    return impl_ && impl_->popen ? impl_->popen->sentinel() : -1;
}

std::string Process::start_method() const {
    auto& p = impl();
    return detail::start_method_name(p.method ? *p.method : detail::default_start_method());
}

ProcessInfo current_process() {
    auto& s = detail::self();
    return ProcessInfo(s.name, ::getpid(), s.daemon);
}

std::optional<ProcessInfo> parent_process() {
    return detail::self().parent;
}

std::vector<ProcessInfo> active_children() {
    std::vector<std::shared_ptr<detail::ProcessImpl>> children;
    {
        auto& r = detail::registry();
        std::lock_guard lock(r.mutex);
        children = r.children;
    }
    std::vector<ProcessInfo> alive;
    for (auto& p : children) {
        p->record(p->popen->poll());
        if (!p->code) alive.emplace_back(p->name, p->popen->pid(), p->daemon);
    }
    return alive;
}

int cpu_count() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace mp
