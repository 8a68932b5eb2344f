// Runs an example program as a real child process and shows its output live,
// each line prefixed, with a spinner on a terminal while it is quiet.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "render.hpp"

namespace tour {

struct RunResult {
    bool started = false;
    int pid = 0;
    int exit_code = -1;  ///< -N if a signal N ended it
    bool timed_out = false;
    double seconds = 0;
    std::string output;  ///< stdout and stderr, interleaved as they came
};

/// Starts `path` (no arguments; its stdout and stderr go to one pipe) and
/// copies its output to `out` line by line as it arrives, indented with a bar.
/// `on_start(pid)` is called once the child exists. A run longer than
/// `timeout` is killed (SIGKILL) and reported as timed out.
template <class OnStart>
RunResult run_live(std::FILE* out, const Style& st, const std::string& path, OnStart on_start,
                   std::chrono::seconds timeout = std::chrono::seconds(30));

/// The non-template core of run_live.
RunResult run_live_impl(std::FILE* out, const Style& st, const std::string& path,
                        void (*on_start)(void*, int), void* ctx, std::chrono::seconds timeout);

template <class OnStart>
RunResult run_live(std::FILE* out, const Style& st, const std::string& path, OnStart on_start,
                   std::chrono::seconds timeout) {
    return run_live_impl(
        out, st, path, [](void* c, int pid) { (*static_cast<OnStart*>(c))(pid); }, &on_start,
        timeout);
}

}  // namespace tour
