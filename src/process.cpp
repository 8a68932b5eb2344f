#include "mp/process.hpp"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "popen.hpp"

namespace mp {
namespace detail {

struct ProcessImpl {
    std::string name;
    bool daemon = false;
    std::vector<int> identity;     // "Process-1:2" is {1, 2}
    std::unique_ptr<Popen> popen;  // set by start()
    pid_t owner = 0;               // the process that started it
    std::optional<int> code;       // once reaped
    bool closed = false;

    [[nodiscard]] bool started() const noexcept { return popen != nullptr || closed; }
    [[nodiscard]] bool owned_here() const noexcept { return owner == ::getpid(); }
    void record(std::optional<int> c);  // reaped: remember the code, leave the registry
};

namespace {

// What this process knows about itself; replaced in each child right after fork.
struct Self {
    std::string name = "MainProcess";
    bool daemon = false;
    std::vector<int> identity;
    int children_started = 0;
    std::optional<ProcessInfo> parent;
};

// Children started by this process and not yet reaped.
struct Registry {
    std::mutex mutex;
    std::vector<ProcessImpl*> children;
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
    std::erase(r.children, p);
}

// At normal exit, as Python's util._exit_function: terminate daemons, join the rest.
void at_exit() noexcept try {
    std::vector<ProcessImpl*> left;
    {
        auto& r = registry();
        std::lock_guard lock(r.mutex);
        left = r.children;
    }
    for (ProcessImpl* p : left) {
        if (p->daemon && !p->code) p->popen->send_signal(SIGTERM);
    }
    for (ProcessImpl* p : left) {
        if (p->code) continue;
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

// Runs in the child right after fork: become the new process.
void become_child(const ProcessImpl& impl, const std::string& parent_name, pid_t parent_pid,
                  bool parent_daemon) {
    auto& s = self();
    s.parent.emplace(parent_name, parent_pid, parent_daemon);
    s.name = impl.name;
    s.daemon = impl.daemon;
    s.identity = impl.identity;
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

}  // namespace

void ProcessImpl::record(std::optional<int> c) {
    if (!c || code) return;
    code = c;
    unregister(this);
}

}  // namespace detail

namespace {

std::string current_exception_description() {
    try {
        throw;
    } catch (const std::exception& e) {
        return detail::current_exception_type_name() + ": " + e.what();
    } catch (...) {
        return detail::current_exception_type_name() + " (not a std::exception)";
    }
}

}  // namespace

Process::Process() : impl_(std::make_unique<detail::ProcessImpl>()) {
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
        Process old(std::move(*this));  // its destructor reaps what this object had started
        impl_ = std::move(other.impl_);
        target_ = std::move(other.target_);
    }
    return *this;
}

Process::~Process() {
    if (!impl_ || !impl_->popen || impl_->code || !impl_->owned_here()) return;
    try {
        if (impl_->daemon) {
            impl_->popen->send_signal(SIGTERM);
            auto code = impl_->popen->wait(detail::Clock::now() + std::chrono::seconds(1));
            if (!code) {
                impl_->popen->send_signal(SIGKILL);
                code = impl_->popen->wait(std::nullopt);
            }
            impl_->record(code);
        } else {
            impl_->record(impl_->popen->wait(std::nullopt));
        }
    } catch (...) {
        detail::unregister(impl_.get());  // a destructor must not throw; the child is gone anyway
    }
}

detail::ProcessImpl& Process::impl() const {
    if (!impl_) throw ProcessError("Process: this object was moved from");
    return *impl_;
}

void Process::run() {
    if (target_) target_();
}

void Process::start() {
    auto& p = impl();
    if (p.closed) throw ValueError("Process.start: process " + p.name + " is closed");
    if (p.popen)
        throw ProcessError("Process.start: process " + p.name +
                           " was already started (a process object can only be started once)");
    auto& s = detail::self();
    if (s.daemon)
        throw ProcessError("Process.start: daemonic processes are not allowed to have children (" +
                           p.name + ")");
    {
        auto& r = detail::registry();
        std::lock_guard lock(r.mutex);
        if (!r.atexit_installed) {
            std::atexit(detail::at_exit);
            r.atexit_installed = true;
        }
    }
    std::string parent_name = s.name;
    pid_t parent_pid = ::getpid();
    bool parent_daemon = s.daemon;
    std::function<int()> child_main = [&]() -> int {
        detail::become_child(p, parent_name, parent_pid, parent_daemon);
        int code = 0;
        try {
            run();
        } catch (...) {
            std::string what = current_exception_description();
            detail::flush_std_streams();
            std::fprintf(stderr, "Process %s:\n%s\n", p.name.c_str(), what.c_str());
            code = 1;
        }
        detail::at_exit();  // as Python's _bootstrap: reap this child's own children first
        detail::flush_std_streams();
        return code;
    };
    p.popen = detail::launch(child_main);
    p.owner = parent_pid;
    auto& r = detail::registry();
    std::lock_guard lock(r.mutex);
    r.children.push_back(&p);
}

bool Process::join() {
    return join_until(std::nullopt);
}

bool Process::join_until(std::optional<clock::time_point> deadline) {
    auto& p = impl();
    if (p.closed) throw ValueError("Process.join: process " + p.name + " is closed");
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
    p.closed = true;
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

ProcessInfo current_process() {
    auto& s = detail::self();
    return ProcessInfo(s.name, ::getpid(), s.daemon);
}

std::optional<ProcessInfo> parent_process() {
    return detail::self().parent;
}

std::vector<ProcessInfo> active_children() {
    std::vector<detail::ProcessImpl*> children;
    {
        auto& r = detail::registry();
        std::lock_guard lock(r.mutex);
        children = r.children;
    }
    std::vector<ProcessInfo> alive;
    for (auto* p : children) {
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
