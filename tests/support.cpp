#include "support.hpp"

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
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
        std::string leaked;
        for (const auto& n : dev_shm_entries()) {
            if (!shm_before_.count(n)) leaked += " " + n;
        }
        if (!leaked.empty()) ADD_FAILURE() << "/dev/shm entries left behind:" << leaked;
    }

private:
    std::set<std::string> shm_before_;
};

const auto* const kLeakEnvironment = ::testing::AddGlobalTestEnvironment(new LeakEnvironment);

}  // namespace
}  // namespace mp::test
