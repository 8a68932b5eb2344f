// mp::futures::ProcessPoolExecutor: the non-template part (see <mp/futures.hpp>).
#include "mp/futures.hpp"

#include <mutex>
#include <string>
#include <vector>

namespace mp::futures {

struct ProcessPoolExecutor::Registry {
    std::mutex mutex;
    std::vector<std::function<void()>> cancels;  // one per submitted future (weak)
    bool shut = false;
};

namespace {
PoolOptions pool_options(ExecutorOptions o) {
    if (o.max_workers < 0) {
        throw ValueError("ProcessPoolExecutor: max_workers must be greater than 0 (got " +
                         std::to_string(o.max_workers) + ")");
    }
    PoolOptions p;
    p.processes = o.max_workers;
    p.initializer = std::move(o.initializer);
    p.maxtasksperchild = o.max_tasks_per_child;
    p.context = std::move(o.context);
    p.transport = std::move(o.transport);
    return p;
}
}  // namespace

ProcessPoolExecutor::ProcessPoolExecutor(int max_workers)
    : ProcessPoolExecutor([&] {
          if (max_workers < 1) {
              throw ValueError("ProcessPoolExecutor: max_workers must be greater than 0 (got " +
                               std::to_string(max_workers) + ")");
          }
          ExecutorOptions o;
          o.max_workers = max_workers;
          return o;
      }()) {}

ProcessPoolExecutor::ProcessPoolExecutor(ExecutorOptions options)
    : core_(mp::detail::PoolCoreHandle::create(pool_options(std::move(options)))),
      registry_(std::make_unique<Registry>()) {}

ProcessPoolExecutor::~ProcessPoolExecutor() {
    if (!core_) return;
    try {
        shutdown(true);
    } catch (...) {
    }
    mp::detail::PoolCoreHandle::terminate(*core_);
}

mp::detail::PoolCore& ProcessPoolExecutor::core() const {
    if (!core_) throw ValueError("ProcessPoolExecutor: this object was moved from");
    return *core_;
}

void ProcessPoolExecutor::check_open() const {
    core();
    std::lock_guard lk(registry_->mutex);
    if (registry_->shut) throw Error("cannot schedule new futures after shutdown");
}

void ProcessPoolExecutor::remember(std::function<void()> cancel_it) {
    std::lock_guard lk(registry_->mutex);
    auto& c = registry_->cancels;
    c.push_back(std::move(cancel_it));
    // Keep the list short: entries are weak; a long list is pruned when the executor
    // shuts down, and capped here by dropping the oldest half (long done in practice).
    if (c.size() > (std::size_t{1} << 20)) c.erase(c.begin(), c.begin() + c.size() / 2);
}

void ProcessPoolExecutor::shutdown(bool wait, bool cancel_futures) {
    auto& c = core();
    std::vector<std::function<void()>> cancels;
    {
        std::lock_guard lk(registry_->mutex);
        bool first = !registry_->shut;
        registry_->shut = true;
        if (cancel_futures) cancels = std::move(registry_->cancels);
        registry_->cancels.clear();
        if (!first && !wait) return;
    }
    for (auto& f : cancels) f();
    mp::detail::PoolCoreHandle::close(c);
    if (wait) mp::detail::PoolCoreHandle::join(c);
}

std::size_t ProcessPoolExecutor::max_workers() const {
    return mp::detail::PoolCoreHandle::processes(core());
}

}  // namespace mp::futures
