// The Pool's parent side: dispatching tasks to the workers' inboxes, collecting
// results from their outboxes, noticing dead workers and replacing them. No thread:
// whichever thread calls into the pool drives it (see <mp/pool.hpp>).
#include "mp/pool.hpp"

#include <link.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "mp/detail/futex.hpp"
#include "mp/detail/shared_region.hpp"
#include "mp/process.hpp"
#include "pool_shared.hpp"
#include "popen.hpp"
#include "system.hpp"

namespace mp {
namespace detail {

Bytes begin_task_record(const CodeRef& trampoline) {
    Bytes rec;
    rec.reserve(128);
    rec.resize(sizeof(std::uint64_t) + sizeof(TaskHeader));
    TaskHeader h;
    h.trampoline_module = trampoline.module;
    h.trampoline_offset = trampoline.offset;
    std::memcpy(rec.data() + sizeof(std::uint64_t), &h, sizeof h);
    return rec;
}

void end_task_record(Bytes& rec, std::size_t callable_size) {
    std::uint64_t len = rec.size() - sizeof(std::uint64_t);
    std::memcpy(rec.data(), &len, sizeof len);
    auto cs = static_cast<std::uint32_t>(callable_size);
    std::memcpy(rec.data() + sizeof(std::uint64_t) + offsetof(TaskHeader, callable_size), &cs,
                sizeof cs);
}

void run_callback(const std::function<void()>& cb) noexcept {
    try {
        cb();
    } catch (...) {
        std::string type = current_exception_type_name();
        std::string what;
        try {
            throw;
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        std::fprintf(stderr, "mp::Pool: a result callback threw %s: %s\n", type.c_str(),
                     what.c_str());
    }
}

// ---- the core ----------------------------------------------------------------------------

namespace {

// At most this many tasks wait in one worker's inbox: deep enough that a burst of
// apply_async never waits for the parent, shallow enough to keep workers balanced.
constexpr std::size_t kMaxQueuedPerWorker = 1024;

// Before sleeping in poll(), the thread driving the pool polls the outboxes for this
// long, yielding between polls: results arriving back to back need no wake-up.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(50);
constexpr int kMaxSleepMs = 1000;

std::size_t ring_bytes_for(std::size_t workers) {
    std::size_t ring = std::size_t{1} << 20;
    while (ring > (std::size_t{64} << 10) && ring * workers > (std::size_t{32} << 20)) ring >>= 1;
    return ring;
}

std::string describe_exit(int code) {
    if (code < 0) {
        const char* name = ::sigabbrev_np(-code);
        return "killed by signal " + std::to_string(-code) +
               (name ? std::string(" (SIG") + name + ")" : "");
    }
    return "exit code " + std::to_string(code);
}

struct Task {
    Bytes record;
    std::shared_ptr<TaskSink> sink;
    std::size_t index = 0;
};

struct WorkerState {
    std::unique_ptr<Process> proc;
    std::deque<std::uint32_t> queue;  // tickets of the tasks in its inbox, in order
    std::uint64_t sent = 0;           // tasks given to this incarnation (for maxtasksperchild)
    bool incomplete = false;          // the task of queue.back() is not yet all in the inbox
    std::size_t written = 0;          // bytes of it that are
    bool stopping = false;            // a stop record was sent
    // the outbox record being assembled
    Bytes rbuf;
    std::size_t rgot = 0;
    bool have_len = false;
};

}  // namespace

class PoolCore {
  public:
    explicit PoolCore(PoolOptions options);
    ~PoolCore() { terminate(); }

    void submit(std::vector<Bytes> records, const std::shared_ptr<TaskSink>& sink);
    bool drive_until(const std::function<bool()>& done, std::optional<Clock::time_point> deadline);
    void close();
    void join();
    void terminate();

    std::mutex mutex;
    std::size_t n = 0;
    std::vector<pid_t> pids();

  private:
    enum class State { run, close, terminated, joined };

    bool live() const noexcept { return state_ == State::run || state_ == State::close; }
    std::size_t in_flight() const noexcept;
    void spawn(std::size_t i);
    void pump();
    void dispatch();
    bool write_partial(std::size_t i);
    void drain(std::size_t i);
    void handle_record(std::size_t i, std::span<const std::byte> rec);
    void handle_exit(std::size_t i);
    void fail_all(std::deque<Task>& tasks, const std::exception_ptr& e);
    void fail_queued(WorkerState& w, const std::exception_ptr& e);
    std::uint32_t ticket_state(std::uint32_t t) const noexcept {
        return layout_.ticket_table(region_.data())[t].load(std::memory_order_acquire);
    }
    Task release_ticket(std::uint32_t t);
    void send(std::size_t i, Task task);
    void steal();
    bool eligible(const WorkerState& w) const noexcept;
    bool send_stop(std::size_t i);
    void set_broken(std::exception_ptr e);
    bool progress_possible();
    bool spin_for_progress(std::unique_lock<std::mutex>& lk,
                           std::optional<Clock::time_point> deadline);
    void shutdown_workers();
    void release_resources();
    void defer(std::function<void()> f) {
        if (f) deferred_.push_back(std::move(f));
    }
    void run_deferred(std::unique_lock<std::mutex>& lk);

    PoolOptions opts_;
    PoolLayout layout_;
    SharedRegion region_;
    int efd_ = -1;
    pid_t parent_ = 0;
    State state_ = State::run;
    std::vector<WorkerState> workers_;
    std::deque<Task> pending_;
    struct Entry {
        Task task;
        std::uint32_t generation = 0;
    };
    std::vector<Entry> entries_;  // by ticket
    std::vector<std::uint32_t> free_tickets_;
    std::exception_ptr broken_;
    std::vector<std::function<void()>> deferred_;
    std::condition_variable cv_;
    bool driving_ = false;
    int waiters_ = 0;
    unsigned spawned_ = 0;
};

PoolCore::PoolCore(PoolOptions options) : opts_(std::move(options)) {
    if (opts_.processes < 0) {
        throw ValueError("Pool: processes must be at least 1 (got " +
                         std::to_string(opts_.processes) + ")");
    }
    n = opts_.processes == 0 ? static_cast<std::size_t>(cpu_count())
                             : static_cast<std::size_t>(opts_.processes);
    layout_ = PoolLayout{n, ring_bytes_for(n), n * kMaxQueuedPerWorker};
    entries_.resize(layout_.tickets);
    for (std::size_t t = layout_.tickets; t-- > 0;)
        free_tickets_.push_back(static_cast<std::uint32_t>(t));
    region_ = SharedRegion(layout_.total());
    efd_ = check(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "Pool: eventfd");
    parent_ = ::getpid();
    workers_.resize(n);
    try {
        for (std::size_t i = 0; i < n; ++i) spawn(i);
    } catch (...) {
        terminate();
        throw;
    }
}

void PoolCore::spawn(std::size_t i) {
    auto& w = workers_[i];
    WorkerSlot* s = layout_.slot(region_.data(), i);
    s->ready.store(0);
    layout_.inbox(region_.data(), i).reset();
    layout_.outbox(region_.data(), i).reset();
    w = WorkerState{};
    void* base = region_.data();
    PoolLayout layout = layout_;
    int efd = efd_;
    const std::function<void()>* init = &opts_.initializer;
    std::size_t maxtasks = opts_.maxtasksperchild;
    pid_t parent = parent_;
    auto p = std::make_unique<Process>([base, layout, i, efd, init, maxtasks, parent] {
        int code = pool_worker_main(base, layout, i, efd, init, maxtasks, parent);
        if (code != 0) {
            flush_std_streams();
            ::_exit(code);
        }
    });
    set_process_start_method(*p, "fork");  // the worker is a capturing closure
    p->set_name("ForkPoolWorker-" + std::to_string(++spawned_));
    p->set_daemon(true);
    p->start();
    w.proc = std::move(p);
}

std::size_t PoolCore::in_flight() const noexcept {
    std::size_t k = pending_.size();
    for (const auto& w : workers_) k += w.queue.size();
    return k;
}

Task PoolCore::release_ticket(std::uint32_t t) {
    free_tickets_.push_back(t);
    return std::move(entries_[t].task);
}

bool PoolCore::eligible(const WorkerState& w) const noexcept {
    return w.proc && !w.stopping && !w.incomplete && w.queue.size() < kMaxQueuedPerWorker &&
           (opts_.maxtasksperchild == 0 || w.sent < opts_.maxtasksperchild);
}

// Gives `task` a ticket and writes it into worker i's inbox (as much as fits).
void PoolCore::send(std::size_t i, Task task) {
    auto& w = workers_[i];
    std::uint32_t t = free_tickets_.back();
    free_tickets_.pop_back();
    auto& e = entries_[t];
    e.generation = (e.generation + 1) & 0x3fffffffu;
    e.task = std::move(task);
    TaskHeader* h = reinterpret_cast<TaskHeader*>(e.task.record.data() + sizeof(std::uint64_t));
    std::uint32_t ticket_no = t, gen = e.generation;
    std::memcpy(reinterpret_cast<std::byte*>(h) + offsetof(TaskHeader, ticket), &ticket_no,
                sizeof ticket_no);
    std::memcpy(reinterpret_cast<std::byte*>(h) + offsetof(TaskHeader, generation), &gen,
                sizeof gen);
    layout_.ticket_table(region_.data())[t].store(ticket::pack(gen, ticket::kQueued),
                                                  std::memory_order_relaxed);
    w.queue.push_back(t);
    ++w.sent;
    const Bytes& rec = e.task.record;
    w.written = layout_.inbox(region_.data(), i).write_some(rec.data(), rec.size());
    w.incomplete = w.written != rec.size();
}

// An idle worker takes the not yet started tasks at the tail of the busiest worker's
// inbox: their tickets move from queued to revoked, and they are sent again.
void PoolCore::steal() {
    auto* table = layout_.ticket_table(region_.data());
    for (std::size_t j = 0; j < workers_.size(); ++j) {
        auto& idle = workers_[j];
        if (!eligible(idle) || !idle.queue.empty()) continue;
        std::size_t busiest = workers_.size();
        for (std::size_t b = 0; b < workers_.size(); ++b) {
            auto& w = workers_[b];
            std::size_t movable = w.queue.size() - (w.incomplete ? 1 : 0);
            if (!w.proc || movable < 2) continue;
            if (busiest == workers_.size() || w.queue.size() > workers_[busiest].queue.size())
                busiest = b;
        }
        if (busiest == workers_.size()) return;
        auto& b = workers_[busiest];
        std::size_t take = b.queue.size() / 2;
        std::deque<std::uint32_t> keep_back;
        if (b.incomplete) {  // a half-written record stays: the inbox's framing needs its rest
            keep_back.push_back(b.queue.back());
            b.queue.pop_back();
        }
        std::deque<Task> taken;
        while (take-- > 0 && b.queue.size() > 1) {
            std::uint32_t t = b.queue.back();
            std::uint32_t expected = ticket::pack(entries_[t].generation, ticket::kQueued);
            if (!table[t].compare_exchange_strong(
                    expected, ticket::pack(entries_[t].generation, ticket::kRevoked))) {
                break;  // the worker has started it (and everything before it)
            }
            b.queue.pop_back();
            --b.sent;
            taken.push_front(release_ticket(t));
        }
        for (auto t : keep_back) b.queue.push_back(t);
        while (!taken.empty()) {
            pending_.push_front(std::move(taken.back()));
            taken.pop_back();
        }
    }
}

std::vector<pid_t> PoolCore::pids() {
    std::vector<pid_t> out;
    for (auto& w : workers_) {
        if (w.proc) out.push_back(w.proc->pid());
    }
    return out;
}

void PoolCore::run_deferred(std::unique_lock<std::mutex>& lk) {
    if (deferred_.empty()) return;
    auto todo = std::move(deferred_);
    deferred_.clear();
    lk.unlock();
    for (auto& f : todo) run_callback(f);
    lk.lock();
}

void PoolCore::submit(std::vector<Bytes> records, const std::shared_ptr<TaskSink>& sink) {
    std::unique_lock lk(mutex);
    if (state_ != State::run) {
        throw ValueError(
            "Pool not running: it was closed or terminated; no new tasks can be submitted");
    }
    if (broken_) {
        for (std::size_t i = 0; i < records.size(); ++i) defer(sink->on_error(i, broken_));
    } else {
        for (std::size_t i = 0; i < records.size(); ++i)
            pending_.push_back(Task{std::move(records[i]), sink, i});
        pump();
    }
    run_deferred(lk);
    if (waiters_ > 0) cv_.notify_all();
}

// Everything that needs no waiting: results in, tasks out.
void PoolCore::pump() {
    if (!live()) return;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        if (workers_[i].proc) drain(i);
    }
    dispatch();
}

bool PoolCore::write_partial(std::size_t i) {
    auto& w = workers_[i];
    Ring in = layout_.inbox(region_.data(), i);
    const Bytes& rec = entries_[w.queue.back()].task.record;
    w.written += in.write_some(rec.data() + w.written, rec.size() - w.written);
    w.incomplete = w.written != rec.size();
    return !w.incomplete;
}

void PoolCore::dispatch() {
    std::vector<std::size_t> touched;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        auto& w = workers_[i];
        if (w.proc && w.incomplete) {
            write_partial(i);
            touched.push_back(i);
        }
    }
    for (int round = 0; round < 2; ++round) {
        while (!pending_.empty() && !free_tickets_.empty()) {
            std::size_t best = workers_.size();
            for (std::size_t i = 0; i < workers_.size(); ++i) {
                if (!eligible(workers_[i])) continue;
                if (best == workers_.size() ||
                    workers_[i].queue.size() < workers_[best].queue.size())
                    best = i;
            }
            if (best == workers_.size()) break;
            Task t = std::move(pending_.front());
            pending_.pop_front();
            send(best, std::move(t));
            if (std::find(touched.begin(), touched.end(), best) == touched.end())
                touched.push_back(best);
        }
        if (round == 0 && pending_.empty()) steal();
    }
    // Close: idle workers with nothing left to do are told to stop.
    if (state_ == State::close && pending_.empty()) {
        for (std::size_t i = 0; i < workers_.size(); ++i) {
            auto& w = workers_[i];
            if (!w.proc || w.stopping || !w.queue.empty()) continue;
            if (send_stop(i)) touched.push_back(i);
        }
    }
    if (touched.empty()) return;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (std::size_t i : touched) {
        RingControl& c = layout_.inbox(region_.data(), i).control();
        if (c.reader_sleeping.load(std::memory_order_relaxed) != 0) {
            c.reader_sleeping.store(0, std::memory_order_relaxed);
            c.data_seq.fetch_add(1, std::memory_order_release);
            futex_wake(c.data_seq, 1);
        }
    }
}

bool PoolCore::send_stop(std::size_t i) {
    auto& w = workers_[i];
    Bytes stop(sizeof(std::uint64_t) + sizeof(TaskHeader));
    std::uint64_t len = sizeof(TaskHeader);
    TaskHeader h;
    h.kind = TaskHeader::kStop;
    std::memcpy(stop.data(), &len, sizeof len);
    std::memcpy(stop.data() + sizeof len, &h, sizeof h);
    if (layout_.inbox(region_.data(), i).write_some(stop.data(), stop.size()) != stop.size())
        return false;
    w.stopping = true;
    return true;
}

void PoolCore::drain(std::size_t i) {
    auto& w = workers_[i];
    Ring out = layout_.outbox(region_.data(), i);
    bool progressed = false;
    for (;;) {
        if (!w.have_len) {
            if (out.readable() < sizeof(std::uint64_t)) break;
            std::uint64_t len = 0;
            out.read_some(reinterpret_cast<std::byte*>(&len), sizeof len);
            w.rbuf.resize(static_cast<std::size_t>(len));
            w.rgot = 0;
            w.have_len = true;
            progressed = true;
        }
        std::size_t k = out.read_some(w.rbuf.data() + w.rgot, w.rbuf.size() - w.rgot);
        w.rgot += k;
        progressed = progressed || k != 0;
        if (w.rgot < w.rbuf.size()) break;
        w.have_len = false;
        handle_record(i, w.rbuf);
        if (!w.proc) return;  // the record broke the pool
    }
    if (w.rbuf.capacity() > (std::size_t{4} << 20) && !w.have_len) w.rbuf = Bytes();
    if (!progressed) return;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    RingControl& c = out.control();
    if (c.writer_sleeping.load(std::memory_order_relaxed) != 0) {
        c.writer_sleeping.store(0, std::memory_order_relaxed);
        c.space_seq.fetch_add(1, std::memory_order_release);
        futex_wake(c.space_seq, 1);
    }
}

void PoolCore::handle_record(std::size_t i, std::span<const std::byte> rec) {
    auto& w = workers_[i];
    ResultHeader h;
    if (rec.size() < sizeof h)
        throw SerializationError("Pool: corrupt result record from a worker");
    std::memcpy(&h, rec.data(), sizeof h);
    auto frame = rec.subspan(sizeof h);
    if (h.kind == ResultHeader::kInitError) {
        auto err = deserialize<std::pair<std::string, std::string>>(frame);
        set_broken(std::make_exception_ptr(RemoteError(
            err.first, "Pool initializer failed in " + w.proc->name() + ": " + err.second)));
        return;
    }
    if (w.queue.empty() || w.queue.front() != h.ticket) {
        throw SerializationError("Pool: a worker sent a result for a task it does not hold");
    }
    w.queue.pop_front();
    Task t = release_ticket(h.ticket);
    if (h.kind == ResultHeader::kOk) {
        defer(t.sink->on_result(t.index, frame));
    } else {
        std::exception_ptr e;
        try {
            auto err = deserialize<std::pair<std::string, std::string>>(frame);
            e = std::make_exception_ptr(RemoteError(err.first, err.second));
        } catch (...) {
            e = std::current_exception();
        }
        defer(t.sink->on_error(t.index, e));
    }
}

void PoolCore::fail_all(std::deque<Task>& tasks, const std::exception_ptr& e) {
    for (auto& t : tasks) defer(t.sink->on_error(t.index, e));
    tasks.clear();
}

void PoolCore::fail_queued(WorkerState& w, const std::exception_ptr& e) {
    for (std::uint32_t t : w.queue) {
        Task task = release_ticket(t);
        defer(task.sink->on_error(task.index, e));
    }
    w.queue.clear();
    w.incomplete = false;
}

void PoolCore::set_broken(std::exception_ptr e) {
    if (!broken_) broken_ = std::move(e);
    fail_all(pending_, broken_);
    for (auto& w : workers_) fail_queued(w, broken_);
}

void PoolCore::handle_exit(std::size_t i) {
    auto& w = workers_[i];
    drain(i);  // what it finished before it died
    if (!w.proc) return;
    w.proc->join();
    int code = w.proc->exitcode().value_or(255);
    bool was_ready = layout_.slot(region_.data(), i)->ready.load(std::memory_order_acquire) != 0;
    // The task it was running (its ticket says so) is lost; those it had not started go
    // back to the front of the queue, in order.
    std::deque<Task> again;
    for (std::uint32_t t : w.queue) {
        bool running = ticket_state(t) == ticket::pack(entries_[t].generation, ticket::kRunning);
        Task task = release_ticket(t);
        if (running) {
            defer(task.sink->on_error(
                task.index,
                std::make_exception_ptr(WorkerLost(
                    "Pool worker " + w.proc->name() + " (pid " + std::to_string(w.proc->pid()) +
                        ") died while running this task: " + describe_exit(code),
                    code))));
        } else {
            again.push_back(std::move(task));
        }
    }
    w.queue.clear();
    w.incomplete = false;
    while (!again.empty()) {
        pending_.push_front(std::move(again.back()));
        again.pop_back();
    }
    std::string name = w.proc->name();
    w.proc.reset();
    if (!was_ready && !broken_) {
        set_broken(std::make_exception_ptr(
            WorkerLost("Pool worker " + name + " died in its initializer (" + describe_exit(code) +
                           "); the pool cannot run tasks",
                       code)));
    }
    if (broken_) {
        fail_all(pending_, broken_);
        return;
    }
    // While closing, a worker that stopped is not replaced; one that died is, if its
    // unstarted tasks need it.
    if (state_ == State::run || (state_ == State::close && !pending_.empty())) spawn(i);
}

bool PoolCore::progress_possible() {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        auto& w = workers_[i];
        if (!w.proc) continue;
        if (layout_.outbox(region_.data(), i).readable() != 0) return true;
        if (w.incomplete && layout_.inbox(region_.data(), i).writable() != 0) return true;
    }
    return false;
}

bool PoolCore::spin_for_progress(std::unique_lock<std::mutex>& lk,
                                 std::optional<Clock::time_point> deadline) {
    auto end = Clock::now() + kSpinBeforeSleep;
    if (deadline && *deadline < end) end = *deadline;
    driving_ = true;  // others keep off the pool while the lock is released
    bool found = false;
    while (!found && Clock::now() < end) {
        lk.unlock();
        ::sched_yield();
        lk.lock();
        found = !live() || progress_possible();
    }
    driving_ = false;
    if (waiters_ > 0) cv_.notify_all();
    return found;
}

bool PoolCore::drive_until(const std::function<bool()>& done,
                           std::optional<Clock::time_point> deadline) {
    std::unique_lock lk(mutex);
    for (;;) {
        pump();
        run_deferred(lk);
        if (done()) return true;
        if (!live()) return done();
        if (deadline && Clock::now() >= *deadline) return false;
        if (driving_) {  // another thread sleeps for the pool; it wakes us after each round
            ++waiters_;
            if (deadline) {
                cv_.wait_until(lk, *deadline);
            } else {
                cv_.wait(lk);
            }
            --waiters_;
            continue;
        }
        // Sleep until a worker makes progress or dies.
        std::vector<pollfd> fds;
        std::vector<std::pair<std::size_t, pid_t>> who;
        fds.push_back(pollfd{efd_, POLLIN, 0});
        for (std::size_t i = 0; i < workers_.size(); ++i) {
            if (!workers_[i].proc) continue;
            fds.push_back(pollfd{workers_[i].proc->sentinel(), POLLIN, 0});
            who.emplace_back(i, workers_[i].proc->pid());
        }
        if (spin_for_progress(lk, deadline)) continue;
        if (done()) return true;  // another thread's pump, while we spun, finished our work
        auto* ctl = layout_.control(region_.data());
        ctl->parent_sleeping.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (progress_possible()) {
            ctl->parent_sleeping.store(0, std::memory_order_relaxed);
            continue;
        }
        driving_ = true;
        lk.unlock();
        // Every wake-up has a cause (a worker's eventfd write, a pidfd); the cap on the
        // sleep is a safety net only.
        int ms = poll_timeout_ms(deadline);
        if (ms < 0 || ms > kMaxSleepMs) ms = kMaxSleepMs;
        int r = ::poll(fds.data(), fds.size(), ms);
        int err = errno;
        lk.lock();
        driving_ = false;
        if (waiters_ > 0) cv_.notify_all();
        if (r < 0 && err != EINTR) throw_errno("Pool: poll", err);
        if (!live()) continue;
        ctl->parent_sleeping.store(0, std::memory_order_relaxed);
        eventfd_t ignored;
        ::eventfd_read(efd_, &ignored);
        if (r <= 0) continue;
        for (std::size_t k = 1; k < fds.size(); ++k) {
            if (fds[k].revents == 0) continue;
            auto [i, pid] = who[k - 1];
            if (workers_[i].proc && workers_[i].proc->pid() == pid) handle_exit(i);
        }
    }
}

void PoolCore::close() {
    std::unique_lock lk(mutex);
    if (state_ == State::run) state_ = State::close;
    pump();
    run_deferred(lk);
}

void PoolCore::join() {
    {
        std::unique_lock lk(mutex);
        if (state_ == State::run) {
            throw ValueError(
                "Pool.join: the pool is still running; call close() or terminate() first");
        }
        if (state_ != State::close) return;  // terminated or joined: workers already reaped
    }
    drive_until(
        [this] {
            for (auto& w : workers_) {
                if (w.proc) return false;
            }
            return pending_.empty();
        },
        std::nullopt);
    std::unique_lock lk(mutex);
    if (state_ == State::close) {
        state_ = State::joined;
        release_resources();
    }
}

void PoolCore::shutdown_workers() {
    // Idle workers get a stop record (they exit flushing their output); busy ones SIGTERM.
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        auto& w = workers_[i];
        if (!w.proc) continue;
        bool idle = w.queue.empty() && !w.incomplete;
        if (idle && !w.stopping) {
            idle = send_stop(i);
            std::atomic_thread_fence(std::memory_order_seq_cst);
            RingControl& c = layout_.inbox(region_.data(), i).control();
            c.data_seq.fetch_add(1, std::memory_order_release);
            futex_wake(c.data_seq, 1);
        }
        if (!idle) w.proc->terminate();
    }
    auto deadline = Clock::now() + std::chrono::seconds(1);
    for (auto& w : workers_) {
        if (!w.proc) continue;
        if (!w.proc->join(std::chrono::duration_cast<std::chrono::milliseconds>(
                std::max(Clock::duration::zero(), deadline - Clock::now())))) {
            w.proc->kill();
            w.proc->join();
        }
        w.proc.reset();
    }
}

void PoolCore::release_resources() {
    for (auto& w : workers_) w.proc.reset();
    region_.close();
    close_fd(efd_);
    efd_ = -1;
}

void PoolCore::terminate() {
    std::unique_lock lk(mutex);
    if (state_ == State::terminated || state_ == State::joined) return;
    state_ = State::terminated;
    if (efd_ >= 0) ::eventfd_write(efd_, 1);  // a thread asleep for the pool wakes up
    try {
        shutdown_workers();
    } catch (...) {
    }
    auto e = std::make_exception_ptr(
        WorkerLost("Pool.terminate() ended the pool before this task finished", std::nullopt));
    fail_all(pending_, e);
    for (auto& w : workers_) fail_queued(w, e);
    release_resources();
    run_deferred(lk);
    if (waiters_ > 0) cv_.notify_all();
}

// ---- the non-template face -----------------------------------------------------------------

std::shared_ptr<PoolCore> PoolCoreHandle::create(PoolOptions options) {
    return std::make_shared<PoolCore>(std::move(options));
}
void PoolCoreHandle::submit(PoolCore& core, std::vector<Bytes> records,
                            const std::shared_ptr<TaskSink>& sink) {
    core.submit(std::move(records), sink);
}
bool PoolCoreHandle::drive_until(PoolCore& core, const std::function<bool()>& done,
                                 std::optional<PoolClock::time_point> deadline) {
    return core.drive_until(done, deadline);
}
std::unique_lock<std::mutex> PoolCoreHandle::lock(PoolCore& core) {
    return std::unique_lock(core.mutex);
}
void PoolCoreHandle::close(PoolCore& core) {
    core.close();
}
void PoolCoreHandle::join(PoolCore& core) {
    core.join();
}
void PoolCoreHandle::terminate(PoolCore& core) {
    core.terminate();
}
std::size_t PoolCoreHandle::processes(const PoolCore& core) noexcept {
    return core.n;
}
std::vector<pid_t> PoolCoreHandle::worker_pids(PoolCore& core) {
    std::lock_guard lk(core.mutex);
    return core.pids();
}

}  // namespace detail

// ---- Pool --------------------------------------------------------------------------------

namespace {
PoolOptions checked_processes(int processes) {
    if (processes < 1)
        throw ValueError("Pool: processes must be at least 1 (got " + std::to_string(processes) +
                         ")");
    return PoolOptions{processes, {}, 0};
}
}  // namespace

Pool::Pool(int processes) : Pool(checked_processes(processes)) {}

PoolOptions Pool::with_initializer(int processes, std::function<void()> initializer) {
    PoolOptions o = checked_processes(processes);
    o.initializer = std::move(initializer);
    return o;
}

Pool::Pool(PoolOptions options) {
    if (options.processes < 0) {
        throw ValueError("Pool: processes must be at least 1 (got " +
                         std::to_string(options.processes) + ")");
    }
    core_ = detail::PoolCoreHandle::create(std::move(options));
}

Pool& Pool::operator=(Pool&& other) noexcept {
    if (this != &other) {
        if (core_) core_->terminate();
        core_ = std::move(other.core_);
    }
    return *this;
}

Pool::~Pool() {
    if (core_) core_->terminate();
}

detail::PoolCore& Pool::core() const {
    if (!core_) throw ValueError("Pool: this object was moved from");
    return *core_;
}

void Pool::close() {
    core().close();
}
void Pool::join() {
    core().join();
}
void Pool::terminate() {
    core().terminate();
}
std::size_t Pool::processes() const {
    return core().n;
}
std::vector<pid_t> Pool::worker_pids() const {
    return detail::PoolCoreHandle::worker_pids(core());
}

}  // namespace mp
