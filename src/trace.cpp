// The task tracer (see <mp/trace.hpp>): events kept in memory, written as a Chrome
// trace-event file through nlohmann-json when the program exits. Without nlohmann-json
// (an optional build dependency) this file still builds and tracing says it is absent.
#include "mp/trace.hpp"

#include <cxxabi.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mp/errors.hpp"
#include "trace_internal.hpp"

#if __has_include(<nlohmann/json.hpp>)
#include <nlohmann/json.hpp>
#define MP_HAVE_JSON 1
#else
#define MP_HAVE_JSON 0
#endif

namespace mp {
namespace detail {
namespace {

struct Tracer {
    std::mutex mutex;
    std::string path;
    std::vector<TraceTask> tasks;
    std::map<int, std::string> pools;
    int next_pool = 1;
    bool at_exit = false;
};

Tracer& tracer() {
    static Tracer* t = new Tracer;  // never destroyed: written from an atexit handler
    return *t;
}

std::atomic<int> g_state{-1};  // -1 unknown (MP_TRACE not read yet), 0 off, 1 on

void write_now();

void start(const std::string& path) {
    auto& t = tracer();
    std::lock_guard lk(t.mutex);
    t.path = path;
    if (!t.at_exit) {
        t.at_exit = true;
        std::atexit(write_now);
    }
    g_state.store(1, std::memory_order_release);
}

std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                             std::free);
    return status == 0 && d ? std::string(d.get()) : std::string(name);
}

#if MP_HAVE_JSON
void write_now() {
    auto& t = tracer();
    std::lock_guard lk(t.mutex);
    if (t.path.empty()) return;
    nlohmann::json events = nlohmann::json::array();
    std::uint64_t origin = UINT64_MAX;
    for (auto& task : t.tasks)
        origin = std::min(origin, task.queued_ns ? task.queued_ns : task.started_ns);
    if (origin == UINT64_MAX) origin = 0;
    auto us = [origin](std::uint64_t ns) { return static_cast<double>(ns - origin) / 1000.0; };
    for (auto& [id, kind] : t.pools) {
        events.push_back({{"ph", "M"},
                          {"name", "process_name"},
                          {"pid", id},
                          {"tid", 0},
                          {"args", {{"name", kind + " " + std::to_string(id)}}}});
    }
    std::map<std::pair<int, std::size_t>, std::string> named;
    for (auto& task : t.tasks) {
        auto key = std::make_pair(task.pool, task.worker);
        if (named.emplace(key, task.worker_name).second) {
            events.push_back({{"ph", "M"},
                              {"name", "thread_name"},
                              {"pid", task.pool},
                              {"tid", task.worker},
                              {"args", {{"name", task.worker_name}}}});
        }
        double start = us(task.started_ns);
        events.push_back(
            {{"ph", "X"},
             {"name", task.name},
             {"cat", task.failed ? "failed" : "task"},
             {"pid", task.pool},
             {"tid", task.worker},
             {"ts", start},
             {"dur", static_cast<double>(task.ended_ns - task.started_ns) / 1000.0},
             {"args",
              {{"queued_us_before_start",
                task.queued_ns ? static_cast<double>(task.started_ns - task.queued_ns) / 1000.0
                               : 0.0},
               {"bytes_in", task.bytes_in},
               {"bytes_out", task.bytes_out},
               {"failed", task.failed}}}});
    }
    nlohmann::json doc = {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
    std::ofstream out(t.path);
    out << doc.dump(1) << "\n";
    if (!out) std::fprintf(stderr, "mp: cannot write the trace to %s\n", t.path.c_str());
}
#else
void write_now() {}
#endif

}  // namespace

bool trace_enabled() noexcept {
    int s = g_state.load(std::memory_order_acquire);
    if (s >= 0) return s == 1;
    const char* env = std::getenv("MP_TRACE");
    if (env == nullptr || *env == '\0') {
        int expected = -1;
        g_state.compare_exchange_strong(expected, 0);
        return g_state.load() == 1;
    }
#if MP_HAVE_JSON
    start(env);
    return true;
#else
    std::fprintf(stderr,
                 "mp: MP_TRACE is set but mp was built without nlohmann-json "
                 "(Debian nlohmann-json3-dev): no trace is written\n");
    g_state.store(0);
    return false;
#endif
}

int trace_new_pool(const std::string& kind) {
    auto& t = tracer();
    std::lock_guard lk(t.mutex);
    int id = t.next_pool++;
    t.pools[id] = kind;
    return id;
}

void trace_task(TraceTask task) {
    auto& t = tracer();
    std::lock_guard lk(t.mutex);
    t.tasks.push_back(std::move(task));
}

std::string trace_task_name(const void* trampoline, const void* callable_code) {
    Dl_info info{};
    if (callable_code != nullptr && ::dladdr(callable_code, &info) != 0 &&
        info.dli_sname != nullptr && info.dli_saddr == callable_code) {
        return demangle(info.dli_sname);
    }
    if (trampoline != nullptr && ::dladdr(trampoline, &info) != 0 && info.dli_sname != nullptr) {
        // "void mp::detail::apply_trampoline<Fn, R, Args...>(…)": keep Fn.
        std::string full = demangle(info.dli_sname);
        auto open = full.find('<');
        if (open != std::string::npos) {
            int depth = 0;
            for (std::size_t i = open + 1; i < full.size(); ++i) {
                char c = full[i];
                if (c == '<' || c == '(') ++depth;
                if (c == '>' || c == ')') --depth;
                if ((c == ',' && depth == 0) || depth < 0)
                    return full.substr(open + 1, i - open - 1);
            }
        }
        return full;
    }
    return "task";
}

}  // namespace detail

void trace_to(const std::string& path) {
#if MP_HAVE_JSON
    if (path.empty()) throw ValueError("trace_to: the path is empty");
    detail::start(path);
#else
    (void)path;
    throw Error(
        "mp::trace_to: mp was built without nlohmann-json; install Debian's nlohmann-json3-dev "
        "and rebuild mp to write traces");
#endif
}

void trace_flush() {
    detail::write_now();
}

bool tracing() noexcept {
    return detail::trace_enabled();
}

}  // namespace mp
