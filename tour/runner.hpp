// Runs a program as a real child process and shows its output live, each line
// prefixed, with a spinner on a terminal while it is quiet; bounded in time.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "render.hpp"

namespace tour {

struct RunResult {
    bool started = false;
    int pid = 0;
    int exit_code = -1;  ///< -N if a signal N ended it
    bool timed_out = false;
    bool left_processes = false;  ///< with own_group: processes it started outlived it
    double seconds = 0;
    std::string output;  ///< stdout and stderr, interleaved as they came
};

struct RunOptions {
    std::vector<std::string> args;  ///< after argv[0]
    std::vector<std::string> env;   ///< NAME=value added to (or replacing in) the environment
    std::chrono::milliseconds timeout = std::chrono::seconds(30);
    /// Its own process group: on timeout the whole group is killed, and processes
    /// still in it after it ends are reported (left_processes) and killed.
    bool own_group = false;
    bool echo = true;                       ///< copy the output to `out` as it arrives
    std::string cwd;                        ///< working directory (empty: ours)
    std::string running_word = "running…";  ///< the spinner's word
};

/// Starts `path` (stdout and stderr to one pipe, stdin from /dev/null) and, with
/// echo, copies its output to `out` line by line behind a bar. `on_start(pid)` is
/// called once the child exists. A run longer than the timeout is killed (SIGKILL).
RunResult run_live(std::FILE* out, const Style& st, const std::string& path,
                   const RunOptions& options, const std::function<void(int)>& on_start = {});

/// The pattern with each "%s" replaced by the next value, in order.
std::string fill(std::string_view pattern, std::initializer_list<std::string> values);

}  // namespace tour
