// Internal: what the Pool's scheduler tells the tracer (src/trace.cpp). Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mp::detail {

/// Whether tasks should be recorded now (cheap; reads MP_TRACE once).
bool trace_enabled() noexcept;

/// A new track group (one per pool): its id.
int trace_new_pool(const std::string& kind);

struct TraceTask {
    int pool = 0;
    std::size_t worker = 0;
    std::string worker_name;
    std::string name;
    std::uint64_t queued_ns = 0;  // CLOCK_MONOTONIC
    std::uint64_t started_ns = 0;
    std::uint64_t ended_ns = 0;
    std::size_t bytes_in = 0;
    std::size_t bytes_out = 0;
    bool failed = false;
};
void trace_task(TraceTask t);

/// The demangled name of the function a task record calls (for its slice).
std::string trace_task_name(const void* trampoline, const void* callable_code);

}  // namespace mp::detail
