// The Pool's thread transport (mp::ThreadPool): workers are threads of this process,
// running the same worker loop (serve_tasks) as a forked worker. Records travel as
// copies in per-worker inboxes; results come back through one outbox; an eventfd says
// "something is ready", as in the shared-memory transport.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "mp/detail/reduction.hpp"
#include "pool_shared.hpp"
#include "pool_transport.hpp"
#include "system.hpp"

namespace mp::detail {
namespace {

constexpr std::size_t kTicketsPerWorker = 1024;
constexpr int kMaxSleepMs = 1000;

class ThreadTransport;

struct Inbox {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<Bytes> records;
    std::deque<TaskFds> fds;  // the worker's copies of the fds of its tasks marked kTaskWithFds
    bool closed = false;      // the pool is gone: the worker ends
};

class ThreadChannel final : public WorkerChannel {
  public:
    ThreadChannel(ThreadTransport& t, std::size_t slot) : t_(t), slot_(slot) {}
    bool next(Bytes& record) override;
    bool claim(TicketId ticket) override;
    bool task_fds(TicketId ticket, std::vector<int>& fds) override;
    bool reply(const Bytes& record) override;
    void initializing() override {}
    void initialized() override;

  private:
    ThreadTransport& t_;
    std::size_t slot_;
};

class ThreadTransport final : public PoolTransport {
  public:
    ThreadTransport(std::size_t workers, WorkerConfig config)
        : config_(config), tickets_(workers * kTicketsPerWorker), slots_(workers) {
        for (auto& t : tickets_) t.store(0);
        for (auto& s : slots_) s.inbox = std::make_unique<Inbox>();
        efd_ = check(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "ThreadPool: eventfd");
    }
    ~ThreadTransport() override { shutdown(std::chrono::milliseconds(0)); }

    std::size_t slots() const noexcept override { return slots_.size(); }
    std::size_t tickets() const noexcept override { return tickets_.size(); }

    void start(std::size_t i) override {
        auto& s = slots_[i];
        if (s.thread.joinable()) s.thread.join();
        {
            std::lock_guard lk(s.inbox->mutex);
            s.inbox->records.clear();
            s.inbox->fds.clear();
            s.inbox->closed = false;
        }
        s.initialized.store(false);
        s.stopping = false;
        s.alive = true;
        s.name = "ThreadPoolWorker-" + std::to_string(++spawned_);
        s.thread = std::thread([this, i] {
            ThreadChannel ch(*this, i);
            int code = serve_tasks(ch, config_);
            post(Out{Out::exited, i, Bytes(), code});
        });
        post(Out{Out::started, i, Bytes(), 0});
    }

    bool can_send(std::size_t i) const noexcept override {
        return slots_[i].alive && !slots_[i].stopping;
    }

    void send(std::size_t i, TicketId t, std::span<const std::byte> rec,
              std::span<const int> fds) override {
        tickets_[t.number].store(ticket::pack(t.generation, ticket::kQueued),
                                 std::memory_order_release);
        // The worker loop reads [u64 length] then the record; the inbox holds records
        // without the length. A task's fds go as the worker's own copies (the pool keeps
        // its own until the task is done: it may be sent again).
        Bytes r(rec.begin() + sizeof(std::uint64_t), rec.end());
        TaskFds copies;
        if (!fds.empty()) copies = TaskFds(fds, "a task's handle");
        auto& in = *slots_[i].inbox;
        {
            std::lock_guard lk(in.mutex);
            in.records.push_back(std::move(r));
            if (!fds.empty()) in.fds.push_back(std::move(copies));
        }
        in.cv.notify_one();
    }

    void flush() override {}

    bool revoke(std::size_t, TicketId t) override {
        std::uint32_t expected = ticket::pack(t.generation, ticket::kQueued);
        return tickets_[t.number].compare_exchange_strong(
            expected, ticket::pack(t.generation, ticket::kRevoked));
    }
    bool running(std::size_t, TicketId t) const override {
        return tickets_[t.number].load(std::memory_order_acquire) ==
               ticket::pack(t.generation, ticket::kRunning);
    }

    bool stop(std::size_t i) override {
        auto& s = slots_[i];
        if (!s.alive || s.stopping) return true;
        Bytes r(sizeof(TaskHeader));
        TaskHeader h;
        h.kind = TaskHeader::kStop;
        std::memcpy(r.data(), &h, sizeof h);
        {
            std::lock_guard lk(s.inbox->mutex);
            s.inbox->records.push_back(std::move(r));
        }
        s.inbox->cv.notify_one();
        s.stopping = true;
        return true;
    }

    void shutdown(std::chrono::milliseconds) noexcept override {
        // Threads cannot be killed: queued tasks are dropped, running ones finish.
        for (auto& s : slots_) {
            std::lock_guard lk(s.inbox->mutex);
            s.inbox->records.clear();
            s.inbox->fds.clear();
            s.inbox->closed = true;
            s.inbox->cv.notify_all();
        }
        for (auto& s : slots_) {
            if (s.thread.joinable()) s.thread.join();
            s.alive = false;
        }
        if (efd_ >= 0) close_fd(efd_);
        efd_ = -1;
    }

    std::size_t receive(const std::function<void(const TransportEvent&)>& on_event) override {
        std::deque<Out> got;
        {
            std::lock_guard lk(out_mutex_);
            got.swap(out_);
            out_count_.store(0, std::memory_order_relaxed);
        }
        for (auto& o : got) {
            TransportEvent e;
            e.slot = o.slot;
            if (o.kind == Out::started) {
                e.kind = TransportEvent::started;
            } else if (o.kind == Out::exited) {
                auto& s = slots_[o.slot];
                if (s.thread.joinable()) s.thread.join();
                s.alive = false;
                s.stopping = false;
                e.kind = TransportEvent::exited;
                e.code = o.code;
                e.initialized = s.initialized.load();
            } else {
                ResultHeader h;
                if (o.record.size() < sizeof(std::uint64_t) + sizeof h) continue;
                std::memcpy(&h, o.record.data() + sizeof(std::uint64_t), sizeof h);
                e.kind = h.kind == ResultHeader::kInitError ? TransportEvent::init_error
                                                            : TransportEvent::result;
                e.ticket = TicketId{h.ticket, h.generation};
                e.status = h.kind;
                e.started_ns = h.started_ns;
                e.ended_ns = h.ended_ns;
                e.frame =
                    std::span<const std::byte>(o.record).subspan(sizeof(std::uint64_t) + sizeof h);
            }
            on_event(e);
        }
        return got.size();
    }

    bool pending() const noexcept override {
        return out_count_.load(std::memory_order_acquire) != 0;
    }

    void wait(std::optional<Clock::time_point> deadline) override {
        if (!pending()) {
            pollfd fd{efd_, POLLIN, 0};
            int ms = poll_timeout_ms(deadline);
            if (ms < 0 || ms > kMaxSleepMs) ms = kMaxSleepMs;
            ::poll(&fd, 1, ms);
        }
        eventfd_t ignored;
        ::eventfd_read(efd_, &ignored);
    }

    void interrupt() noexcept override {
        if (efd_ >= 0) ::eventfd_write(efd_, 1);
    }

    bool alive(std::size_t i) const noexcept override { return slots_[i].alive; }
    pid_t pid(std::size_t) const noexcept override { return -1; }
    std::string name(std::size_t i) const override { return slots_[i].name; }

  private:
    friend class ThreadChannel;
    struct Out {
        enum Kind { started, exited, result };
        Kind kind;
        std::size_t slot;
        Bytes record;
        int code;
    };
    struct Slot {
        std::unique_ptr<Inbox> inbox;
        std::thread thread;
        std::atomic<bool> initialized{false};
        bool alive = false;
        bool stopping = false;
        std::string name;
    };

    void post(Out o) {
        {
            std::lock_guard lk(out_mutex_);
            out_.push_back(std::move(o));
            out_count_.fetch_add(1, std::memory_order_release);
        }
        ::eventfd_write(efd_, 1);
    }

    WorkerConfig config_;
    std::vector<std::atomic<std::uint32_t>> tickets_;
    std::vector<Slot> slots_;
    std::mutex out_mutex_;
    std::deque<Out> out_;
    std::atomic<std::size_t> out_count_{0};
    int efd_ = -1;
    unsigned spawned_ = 0;
};

bool ThreadChannel::next(Bytes& record) {
    auto& in = *t_.slots_[slot_].inbox;
    std::unique_lock lk(in.mutex);
    in.cv.wait(lk, [&] { return in.closed || !in.records.empty(); });
    if (in.closed) return false;
    record = std::move(in.records.front());
    in.records.pop_front();
    return true;
}

bool ThreadChannel::claim(TicketId t) {
    if (t.number >= t_.tickets_.size()) return false;
    std::uint32_t queued = ticket::pack(t.generation, ticket::kQueued);
    return t_.tickets_[t.number].compare_exchange_strong(
        queued, ticket::pack(t.generation, ticket::kRunning));
}

bool ThreadChannel::task_fds(TicketId, std::vector<int>& fds) {
    // The fds of the marked records, in order: this one's are at the front.
    auto& in = *t_.slots_[slot_].inbox;
    std::lock_guard lk(in.mutex);
    if (in.fds.empty()) return false;
    std::vector<int> mine = in.fds.front().release();
    in.fds.pop_front();
    fds.insert(fds.end(), mine.begin(), mine.end());
    return true;
}

bool ThreadChannel::reply(const Bytes& record) {
    t_.post(ThreadTransport::Out{ThreadTransport::Out::result, slot_, record, 0});
    return true;
}

void ThreadChannel::initialized() {
    t_.slots_[slot_].initialized.store(true);
}

}  // namespace

std::unique_ptr<PoolTransport> make_thread_transport(std::size_t workers, WorkerConfig config) {
    return std::make_unique<ThreadTransport>(workers, config);
}

}  // namespace mp::detail
