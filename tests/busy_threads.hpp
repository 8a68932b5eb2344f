// A parent that runs threads, for the "no deadlock with threads" tests: each thread
// allocates and prints (to /dev/null) under one std::mutex until the object is destroyed.
#pragma once

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mp::test {

class BusyThreads {
  public:
    explicit BusyThreads(int n) : sink_(std::fopen("/dev/null", "w")) {
        for (int t = 0; t < n; ++t) {
            threads_.emplace_back([this, t] {
                std::vector<std::string> junk;
                while (!stop_) {
                    junk.emplace_back(1000 + t, 'x');
                    if (junk.size() > 100) junk.clear();
                    std::lock_guard lock(print_);
                    if (sink_ != nullptr) std::fprintf(sink_, "thread %d: %zu\n", t, junk.size());
                }
            });
        }
    }
    BusyThreads(const BusyThreads&) = delete;
    BusyThreads& operator=(const BusyThreads&) = delete;
    ~BusyThreads() {
        stop_ = true;
        for (auto& t : threads_) t.join();
        if (sink_ != nullptr) std::fclose(sink_);
    }

  private:
    std::atomic<bool> stop_{false};
    std::mutex print_;
    FILE* sink_;
    std::vector<std::thread> threads_;
};

}  // namespace mp::test
