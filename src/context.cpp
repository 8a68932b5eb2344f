// Start methods by name (<mp/context.hpp>).
#include "mp/context.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "mp/pool.hpp"
#include "pool_transport.hpp"
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

// Contexts whose Pools run on other machines ("mpi"), filled by their init functions,
// so that the core does not depend on them.
struct Registry {
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<const TransportFactory>> factories;
};

Registry& registry() {
    static Registry* r = new Registry;  // never destroyed
    return *r;
}

std::string known_names() {
    std::string out = "'fork', 'forkserver', 'spawn'";
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    for (auto& [name, f] : r.factories) out += ", '" + name + "'";
    return out;
}

}  // namespace

void register_pool_context(const std::string& name,
                           std::shared_ptr<const TransportFactory> factory) {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    r.factories[name] = std::move(factory);
}

std::shared_ptr<const TransportFactory> pool_context_transport(const std::string& name) {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.factories.find(name);
    return it == r.factories.end() ? nullptr : it->second;
}

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
    if (name == "mpi") {
        throw ValueError(
            "the 'mpi' context runs Pools (and executors) on MPI ranks, not Processes: use "
            "mp::Pool pool(mp::get_context(\"mpi\")) after mp::mpi::init(argc, argv)");
    }
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
    if (detail::pool_context_transport(method)) return Context(method);
    if (method == "mpi") {
        throw ValueError(
            "cannot find context for 'mpi': call mp::mpi::init(argc, argv) at the top of main "
            "first (<mp/mpi.hpp>, CMake target mp::mpi; run the program under mpirun)");
    }
    if (method != "fork" && method != "forkserver" && method != "spawn") {
        throw ValueError("cannot find context for '" + method + "': the contexts are " +
                         detail::known_names());
    }
    return Context(method);
}

mp::Pool Context::Pool(int processes) const {
    if (processes < 0) {
        throw ValueError("Pool: processes must be at least 1 (got " + std::to_string(processes) +
                         ")");
    }
    PoolOptions o;
    o.processes = processes;
    o.context = *this;
    return mp::Pool(std::move(o));
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
    std::vector<std::string> out{"fork", "forkserver", "spawn"};
    auto& r = detail::registry();
    std::lock_guard lock(r.mutex);
    for (auto& [name, f] : r.factories) out.push_back(name);
    return out;
}

}  // namespace mp
