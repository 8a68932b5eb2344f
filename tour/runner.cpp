#include "runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

extern char** environ;

namespace tour {

namespace {

using Clock = std::chrono::steady_clock;

/// Writes one line of the child's output behind the bar.
void emit_line(std::FILE* out, const Style& st, std::string_view line) {
    std::fprintf(out, "  %s %.*s\n", paint(st, "┃", ansi::green).c_str(),
                 static_cast<int>(line.size()), line.data());
}

}  // namespace

std::string fill(std::string_view pattern, std::initializer_list<std::string> values) {
    std::string out(pattern);
    std::size_t from = 0;
    for (const auto& v : values) {
        auto at = out.find("%s", from);
        if (at == std::string::npos) break;
        out.replace(at, 2, v);
        from = at + v.size();
    }
    return out;
}

RunResult run_live(std::FILE* out, const Style& st, const std::string& path,
                   const RunOptions& options, const std::function<void(int)>& on_start) {
    RunResult r;
    auto timeout = options.timeout;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        r.output = std::string("pipe: ") + std::strerror(errno);
        return r;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (options.own_group) {
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    }
    std::vector<std::string> argv_s{path};
    argv_s.insert(argv_s.end(), options.args.begin(), options.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view kv(*e);
        bool replaced = false;
        for (const auto& add : options.env) {
            auto eq = add.find('=');
            if (kv.substr(0, kv.find('=') + 1) == std::string_view(add).substr(0, eq + 1))
                replaced = true;
        }
        if (!replaced) env_s.emplace_back(kv);
    }
    env_s.insert(env_s.end(), options.env.begin(), options.env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    std::fflush(out);
    int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        r.output = "posix_spawn: " + std::string(std::strerror(rc));
        return r;
    }
    r.started = true;
    r.pid = pid;
    if (on_start) on_start(pid);
    // Kills what must die: the program alone, or its whole process group.
    auto kill_all = [&] { kill(options.own_group ? -pid : pid, SIGKILL); };
    std::fflush(out);

    auto t0 = Clock::now();
    auto deadline = t0 + timeout;
    std::string pending;  // a line not yet complete
    bool spinner_shown = false;
    static const char* const frames[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
    int frame = 0;
    auto clear_spinner = [&] {
        if (spinner_shown) std::fputs("\r\x1b[2K", out);
        spinner_shown = false;
    };
    while (true) {
        pollfd p{fds[0], POLLIN, 0};
        int n = poll(&p, 1, 100);
        auto now = Clock::now();
        if (n > 0) {
            char buf[4096];
            ssize_t k = read(fds[0], buf, sizeof buf);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;  // every copy of the write end is closed: output is complete
            r.output.append(buf, static_cast<std::size_t>(k));
            pending.append(buf, static_cast<std::size_t>(k));
            clear_spinner();
            if (!options.echo) pending.clear();
            for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
                emit_line(out, st, std::string_view(pending).substr(0, nl));
                pending.erase(0, nl + 1);
            }
            std::fflush(out);
        } else if (now > deadline && !r.timed_out) {
            kill_all();
            r.timed_out = true;
        } else if (r.timed_out && now > deadline + std::chrono::seconds(2)) {
            break;  // killed, but something it started still holds the pipe open
        } else if (st.color && options.echo && now - t0 > std::chrono::milliseconds(300)) {
            // Quiet for a moment: show that it is still working.
            double s = std::chrono::duration<double>(now - t0).count();
            std::fprintf(out, "\r\x1b[2K  %s %s %.1f s", frames[frame++ % 10],
                         options.running_word.c_str(), s);
            std::fflush(out);
            spinner_shown = true;
        }
    }
    clear_spinner();
    if (!pending.empty() && options.echo) emit_line(out, st, pending);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (options.own_group && kill(-pid, 0) == 0) {
        // Its group still has members: processes it started and did not wait for.
        r.left_processes = !r.timed_out;
        kill(-pid, SIGKILL);
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return r;
}

}  // namespace tour
