// Start methods by name (<mp/context.hpp>).
#include "mp/context.hpp"

#include <atomic>
#include <mutex>

#include "popen.hpp"

namespace mp {
namespace detail {

namespace {

struct Default {
    std::mutex mutex;
    StartMethod method = StartMethod::fork;
    bool set = false;
};

Default& default_method() {
    static Default* d = new Default;  // never destroyed: read by atexit handlers
    return *d;
}

}  // namespace

const char* start_method_name(StartMethod m) noexcept {
    switch (m) {
        case StartMethod::fork:
            return "fork";
        case StartMethod::forkserver:
            return "forkserver";
        case StartMethod::spawn:
            return "spawn";
    }
    return "fork";
}

StartMethod parse_start_method(const std::string& name) {
    if (name == "fork") return StartMethod::fork;
    if (name == "forkserver") return StartMethod::forkserver;
    if (name == "spawn") return StartMethod::spawn;
    throw ValueError("cannot find context for '" + name +
                     "': the start methods are 'fork', 'forkserver' and 'spawn'");
}

StartMethod default_start_method() {
    auto& d = default_method();
    std::lock_guard lock(d.mutex);
    return d.method;
}

}  // namespace detail

Context get_context(const std::string& method) {
    if (method.empty()) return Context(get_start_method());
    return Context(detail::start_method_name(detail::parse_start_method(method)));
}

void set_start_method(const std::string& method, bool force) {
    detail::StartMethod m = detail::parse_start_method(method);
    auto& d = detail::default_method();
    std::lock_guard lock(d.mutex);
    if (d.set && !force)
        throw ProcessError("set_start_method: the start method was already set (to '" +
                           std::string(detail::start_method_name(d.method)) +
                           "'); pass force=true to change it");
    d.method = m;
    d.set = true;
}

std::string get_start_method() {
    return detail::start_method_name(detail::default_start_method());
}

std::vector<std::string> get_all_start_methods() {
    return {"fork", "forkserver", "spawn"};
}

}  // namespace mp
