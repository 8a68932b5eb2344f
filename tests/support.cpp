#include "support.hpp"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace mp::test {

std::set<int> open_fds() {
    std::set<int> fds;
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) return fds;
    int self_fd = dirfd(d);
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        int fd = std::atoi(e->d_name);
        if (fd != self_fd) fds.insert(fd);
    }
    closedir(d);
    return fds;
}

std::vector<pid_t> child_pids() {
    std::vector<pid_t> kids;
    // /proc/<pid>/task/<tid>/children lists one thread's children only: scan /proc.
    DIR* d = opendir("/proc");
    if (d == nullptr) return kids;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        char state = 0;
        long ppid = 0;
        rest >> state >> ppid;
        if (ppid == getpid()) kids.push_back(static_cast<pid_t>(std::atol(e->d_name)));
    }
    closedir(d);
    return kids;
}

char process_state(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return 0;
    auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : 0;
}

std::set<std::string> dev_shm_entries() {
    std::set<std::string> names;
    DIR* d = opendir("/dev/shm");
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') names.insert(e->d_name);
    }
    closedir(d);
    return names;
}

FdLeakCheck::FdLeakCheck() : before_(open_fds()) {}

std::vector<int> FdLeakCheck::leaked() const {
    std::vector<int> out;
    for (int fd : open_fds()) {
        if (!before_.count(fd)) out.push_back(fd);
    }
    return out;
}

namespace {

// mp::SharedMemory's generated names are "mp-<creator pid>-<hex>": an entry made by another
// test process still running beside this one (ctest -j) is not this process's leak.
bool owned_by_another_live_process(const std::string& name) {
    // Open MPI's shared-memory transport (an MPI test job running beside this one) names
    // its segments without a pid; mp never makes such names, and the job removes them.
    if (name.starts_with("vader_segment.") || name.starts_with("sm_segment.")) return true;
    long pid = 0;
    if (std::sscanf(name.c_str(), "mp-%ld-", &pid) != 1 || pid <= 0 || pid == getpid())
        return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

class LeakEnvironment : public ::testing::Environment {
  public:
    void SetUp() override { shm_before_ = dev_shm_entries(); }
    void TearDown() override {
        // Children may take a moment to be reaped by destructors that already ran.
        bool clean = eventually([] { return child_pids().empty(); }, std::chrono::seconds(2));
        if (!clean) {
            std::string pids;
            for (pid_t p : child_pids()) pids += " " + std::to_string(p);
            ADD_FAILURE() << "children left behind (alive or zombie):" << pids;
        }
        // A segment whose creator has just died is removed by its program's resource tracker
        // a moment later: one of another test process beside this one (ctest -j) may still
        // be there. A leak of this process stays (its tracker runs until this process ends).
        std::string leaked;
        eventually(
            [&] {
                leaked.clear();
                for (const auto& n : dev_shm_entries()) {
                    if (!shm_before_.count(n) && !owned_by_another_live_process(n))
                        leaked += " " + n;
                }
                return leaked.empty();
            },
            std::chrono::seconds(2));
        if (!leaked.empty()) ADD_FAILURE() << "/dev/shm entries left behind:" << leaked;
    }

  private:
    std::set<std::string> shm_before_;
};

const auto* const kLeakEnvironment = ::testing::AddGlobalTestEnvironment(new LeakEnvironment);

}  // namespace
}  // namespace mp::test

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

extern char** environ;

namespace mp::test {

std::string binary(const std::string& relative) {
#ifdef MP_BINARY_DIR
    return std::string(MP_BINARY_DIR) + "/" + relative;
#else
    return relative;
#endif
}

std::optional<double> number_after(const std::string& text, const std::string& prefix,
                                   std::size_t from) {
    auto at = text.find(prefix, from);
    if (at == std::string::npos) return std::nullopt;
    const char* start = text.c_str() + at + prefix.size();
    char* end = nullptr;
    double v = std::strtod(start, &end);
    if (end == start) return std::nullopt;
    return v;
}

ProgramResult run_program(const std::string& path, const std::vector<std::string>& args,
                          const std::string& input, std::chrono::seconds timeout,
                          const std::vector<std::string>& env) {
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        throw std::runtime_error("run_program: pipe failed");
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(path.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view entry(*e);
        bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string& mine) {
            auto eq = mine.find('=');
            return entry.substr(0, entry.find('=')) == std::string_view(mine).substr(0, eq);
        });
        if (!replaced) env_strings.emplace_back(entry);
    }
    env_strings.insert(env_strings.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execve(path.c_str(), argv.data(), envp.data());
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    signal(SIGPIPE, SIG_IGN);
    ProgramResult r;
    std::size_t written = 0;
    if (input.empty()) {
        close(in[1]);
        in[1] = -1;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool killed = false;
    int open_outputs = 2;
    while (open_outputs > 0) {
        pollfd p[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) {
            if (!killed) kill(pid, SIGKILL);
            killed = true;
            left = 1000;
        }
        int n = poll(p, in[1] >= 0 ? 3 : 2, static_cast<int>(left));
        if (n <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[4096];
            ssize_t k = read(p[i].fd, buf, sizeof buf);
            if (k > 0) {
                (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(k));
            } else {
                close(i == 0 ? out[0] : err[0]);
                (i == 0 ? out[0] : err[0]) = -1;
                --open_outputs;
            }
        }
        if (in[1] >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t k = write(in[1], input.data() + written, input.size() - written);
            if (k > 0) written += static_cast<std::size_t>(k);
            if (k < 0 || written == input.size()) {
                close(in[1]);
                in[1] = -1;
            }
        }
    }
    if (in[1] >= 0) close(in[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return r;
}

}  // namespace mp::test
