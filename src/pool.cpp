// The Pool's scheduler: tickets, the pending queue, dispatch, work stealing,
// maxtasksperchild, replacing dead workers, results and callbacks. It talks to the
// workers only through a PoolTransport (pool_transport.hpp) and advances on its own
// background thread (see <mp/pool.hpp>).
#include "mp/pool.hpp"
#include "mp/thread_pool.hpp"

#include <link.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "mp/detail/futex.hpp"
#include "mp/detail/shared_region.hpp"
#include "mp/process.hpp"
#include "pool_shared.hpp"
#include "pool_transport.hpp"
#include "popen.hpp"
#include "system.hpp"
#include "trace_internal.hpp"

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

// A caller asleep in the transport wakes at least this often to look again (a
// zygote's death makes the transport wake callers of the region it retired this way).
constexpr auto kWaiterSleepCap = std::chrono::milliseconds(5);
// The pool's thread, quiet while callers collect results (see background()), looks
// again at least this often.
constexpr auto kQuietCap = std::chrono::milliseconds(2);

// An initializer that fails (throws, or its worker dies before it returned) this many
// times in a row makes the pool fail its tasks instead of respawning forever.
constexpr int kInitFailuresToBreak = 3;

// A worker that cannot be made (EAGAIN, ENOMEM) is asked for again after this delay,
// doubling up to the maximum.
constexpr auto kRetryFirst = std::chrono::milliseconds(10);
constexpr auto kRetryMax = std::chrono::milliseconds(1000);

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
    std::uint64_t queued_ns = 0;  // when tracing: when it was submitted
    std::string_view fn_type;
    TaskFds fds;  // its handles' fds (closed when the task is dropped); empty: none
};

struct SlotState {
    std::deque<TicketId> queue;  // tickets of the tasks given to this worker, in order
    std::uint64_t sent = 0;      // tasks given to this incarnation (for maxtasksperchild)
    bool wanted = true;          // a worker should exist in this slot
    bool starting = false;       // start() asked, no answer yet
    bool stopping = false;       // told to stop (close)
    std::optional<Clock::time_point> retry_at;  // start again then (after a failed start)
    Clock::duration backoff = kRetryFirst;
    std::string init_error_type;  // what its initializer threw (if it did)
    std::string init_error;
};

}  // namespace

class PoolCore {
  public:
    friend struct PoolCoreHandle;
    PoolCore(PoolOptions options, bool threads);
    ~PoolCore() { terminate(); }

    void submit(std::vector<Bytes> records, const std::shared_ptr<TaskSink>& sink,
                std::size_t first_index, std::string_view fn_type, std::vector<TaskFds> fds = {});
    bool drive_until(const std::function<bool()>& done, std::optional<Clock::time_point> deadline);
    void close();
    void join();
    void terminate();
    bool cancel(const TaskSink* sink, std::size_t index);
    TaskStatus status(const TaskSink* sink, std::size_t index);

    std::mutex mutex;
    std::size_t n = 0;
    std::vector<pid_t> pids();

  private:
    enum class State { run, close, terminated, joined };

    bool live() const noexcept { return state_ == State::run || state_ == State::close; }
    /// Tasks are queued or running (results will come).
    bool in_flight() const noexcept {
        return !pending_.empty() || free_tickets_.size() != entries_.size();
    }
    void pump();
    void on_event(const TransportEvent& e);
    void dispatch();
    void steal();
    bool eligible(std::size_t i) const noexcept;
    void send(std::size_t i, Task task);
    Task release(TicketId t);
    void handle_exit(std::size_t i, int code, bool initialized);
    void request_start(std::size_t i);
    void retry_starts();
    void fail_all(std::deque<Task>& tasks, const std::exception_ptr& e);
    void set_broken(std::exception_ptr e);
    /// Queues what a sink returned for the pool's thread, keeping the sink alive until
    /// it ran (the AsyncResult may be gone: `then` callbacks run regardless).
    void defer(const std::shared_ptr<TaskSink>& sink, std::function<void()> f) {
        if (f) deferred_.push_back([keep = sink, f = std::move(f)] { f(); });
    }
    void background();
    bool all_ended() const;
    void trace(const TransportEvent& e, const Task& t);

    int trace_pool_ = 0;
    std::map<std::uint64_t, std::string> trace_names_;  // by trampoline offset

    PoolOptions opts_;
    std::function<void()> init_fn_;  // what the workers run (opts_.initializer)
    bool threads_ = false;
    std::unique_ptr<PoolTransport> transport_;
    pid_t owner_ = 0;
    State state_ = State::run;
    std::vector<SlotState> slots_;
    std::deque<Task> pending_;
    struct Entry {
        Task task;
        std::uint32_t generation = 0;
        std::size_t slot = 0;
        bool used = false;
    };
    std::vector<Entry> entries_;  // by ticket number
    std::vector<std::uint32_t> free_tickets_;
    std::exception_ptr broken_;
    int init_failures_ = 0;
    std::deque<std::function<void()>> deferred_;
    std::condition_variable cv_;
    std::uint64_t epoch_ = 0;  // bumped whenever something happened (wakes waiters)
    bool quit_ = false;
    int sleepers_ = 0;           // callers asleep in transport_->wait_result()
    int drivers_ = 0;            // callers inside drive_until (they collect results themselves)
    bool thread_quiet_ = false;  // the pool's thread is in transport_->wait_quiet()
    bool rearmed_ = false;       // and a caller rearmed it (see drive_until)
    bool warned_start_ = false;
    std::thread thread_;
};

PoolCore::PoolCore(PoolOptions options, bool threads)
    : opts_(std::move(options)), threads_(threads) {
    if (opts_.processes < 0) {
        throw ValueError("Pool: processes must be at least 1 (got " +
                         std::to_string(opts_.processes) + ")");
    }
    n = opts_.processes == 0 ? static_cast<std::size_t>(cpu_count())
                             : static_cast<std::size_t>(opts_.processes);
    owner_ = ::getpid();
    std::string method = opts_.context ? opts_.context->name() : get_start_method();
    if (!opts_.transport && !threads) opts_.transport = pool_context_transport(method);
    StartMethod how = StartMethod::fork;
    if (!opts_.transport && !threads) {
        how = parse_start_method(method);
        const char* why = opts_.initializer.not_sendable();
        if (how != StartMethod::fork && why != nullptr) {
            throw ValueError("Pool: under the '" + method +
                             "' start method the initializer is sent to a fresh image of the "
                             "program, but " +
                             why +
                             "; pass its data as Pool(n, init, args...) arguments, or use "
                             "mp::get_context(\"fork\")");
        }
    }
    if (opts_.initializer) init_fn_ = [init = opts_.initializer] { init(); };
    WorkerConfig config{&init_fn_, &opts_.initializer, opts_.maxtasksperchild};
    transport_ = opts_.transport ? opts_.transport->make(opts_.processes, config)
                 : threads       ? make_thread_transport(n, config)
                                 : make_shm_transport(n, config, how);
    n = transport_->slots();
    entries_.resize(transport_->tickets());
    for (std::size_t t = entries_.size(); t-- > 0;)
        free_tickets_.push_back(static_cast<std::uint32_t>(t));
    slots_.resize(n);
    for (std::size_t i = 0; i < n; ++i) request_start(i);
    thread_ = std::thread([this] { background(); });
    // The first workers exist (or are being retried) when the constructor returns.
    drive_until(
        [this] {
            return std::none_of(slots_.begin(), slots_.end(),
                                [](const SlotState& s) { return s.starting; });
        },
        Clock::now() + std::chrono::seconds(10));
}

void PoolCore::request_start(std::size_t i) {
    auto& s = slots_[i];
    std::deque<TicketId> none;
    s.queue.swap(none);
    s.sent = 0;
    s.starting = true;
    s.stopping = false;
    s.retry_at.reset();
    transport_->start(i);
}

void PoolCore::retry_starts() {
    auto now = Clock::now();
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        auto& s = slots_[i];
        if (s.retry_at && *s.retry_at <= now) request_start(i);
    }
}

std::vector<pid_t> PoolCore::pids() {
    std::vector<pid_t> out;
    if (!transport_ || !live()) return out;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (transport_->alive(i) && transport_->pid(i) > 0) out.push_back(transport_->pid(i));
    }
    return out;
}

bool PoolCore::eligible(std::size_t i) const noexcept {
    const auto& s = slots_[i];
    return transport_->can_send(i) && !s.stopping && s.queue.size() < kMaxQueuedPerWorker &&
           (opts_.maxtasksperchild == 0 || s.sent < opts_.maxtasksperchild);
}

Task PoolCore::release(TicketId t) {
    auto& e = entries_[t.number];
    e.used = false;
    free_tickets_.push_back(t.number);
    return std::move(e.task);
}

// Gives `task` a ticket, stamps it into the record and hands it to worker i.
void PoolCore::send(std::size_t i, Task task) {
    auto& s = slots_[i];
    std::uint32_t number = free_tickets_.back();
    free_tickets_.pop_back();
    auto& e = entries_[number];
    e.generation = (e.generation + 1) & 0x3fffffffu;
    e.slot = i;
    e.used = true;
    e.task = std::move(task);
    std::byte* h = e.task.record.data() + sizeof(std::uint64_t);
    std::memcpy(h + offsetof(TaskHeader, ticket), &number, sizeof number);
    std::memcpy(h + offsetof(TaskHeader, generation), &e.generation, sizeof e.generation);
    TicketId t{number, e.generation};
    s.queue.push_back(t);
    ++s.sent;
    transport_->send(i, t, e.task.record, e.task.fds.fds());
}

// An idle worker takes the not yet started tasks at the tail of the busiest worker's
// queue: the transport revokes them (queued → revoked) and they are sent again.
void PoolCore::steal() {
    for (std::size_t j = 0; j < slots_.size(); ++j) {
        if (!eligible(j) || !slots_[j].queue.empty()) continue;
        std::size_t busiest = slots_.size();
        for (std::size_t b = 0; b < slots_.size(); ++b) {
            if (!transport_->alive(b) || slots_[b].queue.size() < 2) continue;
            if (busiest == slots_.size() || slots_[b].queue.size() > slots_[busiest].queue.size())
                busiest = b;
        }
        if (busiest == slots_.size()) return;
        auto& b = slots_[busiest];
        std::size_t take = b.queue.size() / 2;
        std::deque<Task> taken;
        while (take-- > 0 && b.queue.size() > 1) {
            TicketId t = b.queue.back();
            if (!transport_->revoke(busiest, t)) break;  // started (and everything before it)
            b.queue.pop_back();
            --b.sent;
            taken.push_front(release(t));
        }
        while (!taken.empty()) {
            pending_.push_front(std::move(taken.back()));
            taken.pop_back();
        }
    }
}

void PoolCore::dispatch() {
    for (int round = 0; round < 2; ++round) {
        while (!pending_.empty() && !free_tickets_.empty()) {
            std::size_t best = slots_.size();
            for (std::size_t i = 0; i < slots_.size(); ++i) {
                if (!eligible(i)) continue;
                if (best == slots_.size() || slots_[i].queue.size() < slots_[best].queue.size())
                    best = i;
            }
            if (best == slots_.size()) break;
            Task t = std::move(pending_.front());
            pending_.pop_front();
            send(best, std::move(t));
        }
        if (round == 0 && pending_.empty()) steal();
    }
    // maxtasksperchild: a worker that was given its share is told to stop once it has
    // done it (it also exits by itself after that many tasks); close: idle workers stop.
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        auto& s = slots_[i];
        if (!transport_->alive(i) || s.stopping || !s.queue.empty()) continue;
        bool used_up = opts_.maxtasksperchild != 0 && s.sent >= opts_.maxtasksperchild;
        bool closing = state_ == State::close && pending_.empty();
        if (closing || (used_up && !pending_.empty())) {
            if (transport_->stop(i)) s.stopping = true;
        }
    }
    transport_->flush();
}

void PoolCore::pump() {
    if (!live()) return;
    if (transport_->receive([this](const TransportEvent& e) { on_event(e); }) != 0) ++epoch_;
    retry_starts();
    dispatch();
}

void PoolCore::on_event(const TransportEvent& e) {
    auto& s = slots_[e.slot];
    switch (e.kind) {
        case TransportEvent::started:
            s.starting = false;
            s.backoff = kRetryFirst;
            return;
        case TransportEvent::start_failed: {
            s.starting = false;
            if (e.error == ENOTRECOVERABLE) {  // no worker can ever be made again
                set_broken(std::make_exception_ptr(OSError(e.error, e.message)));
                return;
            }
            if (!warned_start_) {
                warned_start_ = true;
                std::fprintf(stderr,
                             "mp::Pool: cannot start a worker now (%s); retrying with backoff\n",
                             e.message.c_str());
            }
            if (live()) {
                s.retry_at = Clock::now() + s.backoff;
                s.backoff = std::min<Clock::duration>(s.backoff * 2, kRetryMax);
            }
            return;
        }
        case TransportEvent::init_error: {
            try {
                auto err = deserialize<std::pair<std::string, std::string>>(e.frame);
                s.init_error_type = err.first;
                s.init_error = err.second;
            } catch (...) {
                s.init_error_type = "mp::SerializationError";
                s.init_error = "(an unreadable error)";
            }
            return;
        }
        case TransportEvent::exited:
            handle_exit(e.slot, e.code, e.initialized);
            return;
        case TransportEvent::result:
            break;
    }
    // A result: only for a ticket this worker holds now (anything else is stale: a
    // task already failed or given to another worker — dropped).
    if (e.ticket.number >= entries_.size()) return;
    auto& entry = entries_[e.ticket.number];
    if (!entry.used || entry.generation != e.ticket.generation || entry.slot != e.slot) return;
    auto it = std::find(s.queue.begin(), s.queue.end(), e.ticket);
    if (it == s.queue.end()) return;
    s.queue.erase(it);
    init_failures_ = 0;
    Task t = release(e.ticket);
    if (t.queued_ns != 0) trace(e, t);
    if (e.status == ResultHeader::kOk) {
        defer(t.sink, t.sink->on_result(t.index, e.frame));
    } else {
        std::exception_ptr err;
        try {
            auto pair = deserialize<std::pair<std::string, std::string>>(e.frame);
            err = e.status == ResultHeader::kLost
                      ? std::make_exception_ptr(WorkerLost(pair.second, std::nullopt))
                      : std::make_exception_ptr(RemoteError(pair.first, pair.second));
        } catch (...) {
            err = std::current_exception();
        }
        defer(t.sink, t.sink->on_error(t.index, err));
    }
}

void PoolCore::fail_all(std::deque<Task>& tasks, const std::exception_ptr& e) {
    for (auto& t : tasks) defer(t.sink, t.sink->on_error(t.index, e));
    tasks.clear();
}

void PoolCore::set_broken(std::exception_ptr e) {
    if (!broken_) broken_ = std::move(e);
    fail_all(pending_, broken_);
}

void PoolCore::handle_exit(std::size_t i, int code, bool initialized) {
    auto& s = slots_[i];
    std::string name = transport_->name(i);
    // The task it was running is lost; those it had not started go back to the front
    // of the queue, in order.
    std::deque<Task> again;
    for (TicketId t : s.queue) {
        bool was_running = transport_->running(i, t);
        Task task = release(t);
        if (was_running) {
            defer(task.sink,
                  task.sink->on_error(
                      task.index, std::make_exception_ptr(WorkerLost(
                                      "Pool worker " + name +
                                          " died while running this task: " + describe_exit(code),
                                      code))));
        } else {
            again.push_back(std::move(task));
        }
    }
    s.queue.clear();
    while (!again.empty()) {
        pending_.push_front(std::move(again.back()));
        again.pop_back();
    }
    bool has_init = static_cast<bool>(opts_.initializer);
    if (has_init && (!initialized || !s.init_error_type.empty())) {
        // Only a worker that ran an initializer and did not get past it counts; several in
        // a row (no task finishing in between) mean the initializer itself is at fault.
        if (++init_failures_ >= kInitFailuresToBreak && !broken_) {
            std::string times = std::to_string(init_failures_) + " times in a row";
            std::exception_ptr err =
                s.init_error_type.empty()
                    ? std::make_exception_ptr(WorkerLost(
                          "Pool initializer failed " + times + " (its worker died in it: " +
                              describe_exit(code) + "); the pool cannot run tasks",
                          code))
                    : std::make_exception_ptr(RemoteError(
                          s.init_error_type, "Pool initializer failed " + times + " (last in " +
                                                 name + "): " + s.init_error +
                                                 "; the pool cannot run tasks"));
            set_broken(err);
        }
    } else if (initialized) {
        init_failures_ = 0;
    }
    s.init_error_type.clear();
    s.init_error.clear();
    s.stopping = false;
    if (broken_) {
        fail_all(pending_, broken_);
        return;
    }
    // While closing, a worker that stopped is not replaced; one that died is, if its
    // unstarted tasks need it.
    if (state_ == State::run || (state_ == State::close && !pending_.empty())) request_start(i);
}

void PoolCore::submit(std::vector<Bytes> records, const std::shared_ptr<TaskSink>& sink,
                      std::size_t first_index, std::string_view fn_type, std::vector<TaskFds> fds) {
    std::unique_lock lk(mutex);
    if (state_ != State::run) {
        throw ValueError(
            "Pool not running: it was closed or terminated; no new tasks can be submitted");
    }
    for (const auto& f : fds) {
        if (!f.empty()) transport_->check_handles(f.handle_type());
    }
    if (broken_) {
        for (std::size_t i = 0; i < records.size(); ++i)
            defer(sink, sink->on_error(first_index + i, broken_));
    } else {
        std::uint64_t now = trace_enabled() ? monotonic_ns() : 0;
        for (std::size_t i = 0; i < records.size(); ++i) {
            pending_.push_back(Task{std::move(records[i]), sink, first_index + i, now, fn_type,
                                    i < fds.size() ? std::move(fds[i]) : TaskFds()});
        }
        pump();
    }
    if (!deferred_.empty()) transport_->interrupt();
    ++epoch_;
    cv_.notify_all();
}

// The pool's own thread: results, callbacks, dispatch, replacement — while the
// callers do other things. Callbacks run here, one at a time, without the lock.
void PoolCore::background() {
    // mp's own thread: the fork warning counts only the user's (API.md).
    mp_thread_count().fetch_add(1, std::memory_order_relaxed);
    struct Uncount {
        ~Uncount() { mp_thread_count().fetch_sub(1, std::memory_order_relaxed); }
    } uncount;
    std::unique_lock lk(mutex);
    while (!quit_) {
        std::uint64_t before = epoch_;
        pump();
        while (!deferred_.empty() && !quit_) {
            auto f = std::move(deferred_.front());
            deferred_.pop_front();
            lk.unlock();
            run_callback(f);
            lk.lock();
            ++epoch_;
        }
        if (epoch_ != before) {
            cv_.notify_all();
            // Waiters sleep in the transport: a callback that finished (or results this
            // thread took) may be what they wait for.
            if (sleepers_ > 0) transport_->interrupt();
        }
        if (quit_) break;
        if (transport_->pending()) continue;
        std::optional<Clock::time_point> wake;
        for (auto& s : slots_) {
            if (s.retry_at && (!wake || *s.retry_at < *wake)) wake = s.retry_at;
        }
        // While callers collect results themselves, results do not wake this thread
        // (on a round trip that wake-up would cost more than the trip): the last
        // caller to leave rearms it.
        thread_quiet_ = drivers_ > 0;
        if (thread_quiet_) {
            // Tasks submitted while it is quiet and no caller waits for them (apply_async
            // after a run of apply) are looked at within kQuietCap.
            auto cap = Clock::now() + kQuietCap;
            if (!wake || cap < *wake) wake = cap;
        }
        lk.unlock();
        if (thread_quiet_) {
            transport_->wait_quiet(wake);
        } else {
            transport_->wait(wake);
        }
        lk.lock();
        thread_quiet_ = false;
        rearmed_ = false;
    }
}

bool PoolCore::drive_until(const std::function<bool()>& done,
                           std::optional<Clock::time_point> deadline) {
    std::unique_lock lk(mutex);
    ++drivers_;
    struct Leave {
        PoolCore& core;
        ~Leave() {
            // Once per quiet wait: a loop of get()s finding their results ready would
            // otherwise wake the pool's thread once per get().
            if (--core.drivers_ == 0 && core.thread_quiet_ && !core.rearmed_ && core.in_flight()) {
                core.rearmed_ = true;
                core.transport_->rearm();
            }
        }
    } leave{*this};
    for (;;) {
        if (done()) return true;
        if (!live()) return done();
        pump();
        if (!deferred_.empty()) transport_->interrupt();  // callbacks run on the pool's thread
        if (done()) return true;
        auto now = Clock::now();
        if (deadline && now >= *deadline) return false;
        // Wait in the transport: it polls briefly for what is about to arrive, then
        // sleeps until a worker's result (or the pool's thread) wakes this thread.
        auto until = now + kWaiterSleepCap;
        if (deadline && *deadline < until) until = *deadline;
        std::uint64_t seen = transport_->interrupts();
        ++sleepers_;
        lk.unlock();
        transport_->wait_result(until, seen);
        lk.lock();
        if (--sleepers_ == 0) cv_.notify_all();
    }
}

// Records a finished task for <mp/trace.hpp>.
void PoolCore::trace(const TransportEvent& e, const Task& t) {
    TaskHeader h;
    std::memcpy(&h, t.record.data() + sizeof(std::uint64_t), sizeof h);
    auto it = trace_names_.find(h.trampoline_offset ^ h.trampoline_module);
    if (it == trace_names_.end()) {
        const void* fn = nullptr;
        if (h.callable_size == sizeof(CodeRef) && t.fn_type.find("(*)") != std::string_view::npos) {
            // a plain function: where its code is
            CodeRef ref;
            std::memcpy(&ref, t.record.data() + sizeof(std::uint64_t) + sizeof h, sizeof ref);
            fn = resolve_code(ref);
        }
        std::string name = trace_task_name(nullptr, fn);
        if (name == "task" && !t.fn_type.empty()) name = readable_type_name(t.fn_type);
        it = trace_names_.emplace(h.trampoline_offset ^ h.trampoline_module, name).first;
    }
    if (trace_pool_ == 0) trace_pool_ = trace_new_pool(threads_ ? "ThreadPool" : "Pool");
    TraceTask task;
    task.pool = trace_pool_;
    task.worker = e.slot;
    task.worker_name = transport_->name(e.slot);
    task.name = it->second;
    task.queued_ns = t.queued_ns;
    task.started_ns = e.started_ns;
    task.ended_ns = e.ended_ns;
    task.bytes_in = t.record.size();
    task.bytes_out = e.frame.size();
    task.failed = e.status != ResultHeader::kOk;
    trace_task(std::move(task));
}

bool PoolCore::all_ended() const {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (transport_->alive(i) || slots_[i].starting || slots_[i].retry_at) return false;
    }
    return pending_.empty() && deferred_.empty();
}

void PoolCore::close() {
    std::unique_lock lk(mutex);
    if (state_ == State::run) state_ = State::close;
    pump();
    transport_->interrupt();
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
    drive_until([this] { return all_ended(); }, std::nullopt);
    std::unique_lock lk(mutex);
    if (state_ == State::close) state_ = State::joined;
    lk.unlock();
    terminate();
}

bool PoolCore::cancel(const TaskSink* sink, std::size_t index) {
    std::unique_lock lk(mutex);
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (it->sink.get() == sink && it->index == index) {
            pending_.erase(it);
            return true;
        }
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        auto& q = slots_[i].queue;
        for (auto it = q.begin(); it != q.end(); ++it) {
            auto& e = entries_[it->number];
            if (e.task.sink.get() != sink || e.task.index != index) continue;
            if (!transport_->revoke(i, *it)) return false;
            TicketId t = *it;
            q.erase(it);
            --slots_[i].sent;
            release(t);
            return true;
        }
    }
    return false;
}

TaskStatus PoolCore::status(const TaskSink* sink, std::size_t index) {
    std::unique_lock lk(mutex);
    for (auto& t : pending_) {
        if (t.sink.get() == sink && t.index == index) return TaskStatus::pending;
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        for (TicketId t : slots_[i].queue) {
            auto& e = entries_[t.number];
            if (e.task.sink.get() != sink || e.task.index != index) continue;
            return transport_->running(i, t) ? TaskStatus::running : TaskStatus::queued;
        }
    }
    return TaskStatus::unknown;
}

void PoolCore::terminate() {
    if (::getpid() != owner_) return;  // an inherited copy in a forked child: not ours
    std::unique_lock lk(mutex);
    if (state_ == State::terminated) return;
    bool was_joined = state_ == State::joined;
    state_ = State::terminated;
    quit_ = true;
    transport_->interrupt();
    if (thread_.joinable()) {
        if (thread_.get_id() == std::this_thread::get_id()) {
            thread_.detach();  // terminate() from a callback: the thread ends on its own
        } else {
            lk.unlock();
            thread_.join();
            lk.lock();
        }
    }
    // Callers asleep in the transport must be out of it before it goes.
    while (sleepers_ > 0) {
        transport_->interrupt();
        cv_.wait_for(lk, std::chrono::milliseconds(1));
    }
    transport_->shutdown(std::chrono::milliseconds(was_joined ? 5000 : 1000));
    auto e = std::make_exception_ptr(
        WorkerLost("Pool.terminate() ended the pool before this task finished", std::nullopt));
    fail_all(pending_, e);
    for (auto& s : slots_) {
        for (TicketId t : s.queue) {
            Task task = release(t);
            defer(task.sink, task.sink->on_error(task.index, e));
        }
        s.queue.clear();
    }
    auto todo = std::move(deferred_);
    deferred_.clear();
    ++epoch_;
    cv_.notify_all();
    lk.unlock();
    for (auto& f : todo) run_callback(f);
}

// ---- the non-template face -----------------------------------------------------------------

std::shared_ptr<PoolCore> PoolCoreHandle::create(PoolOptions options) {
    return std::make_shared<PoolCore>(std::move(options), false);
}
std::shared_ptr<PoolCore> PoolCoreHandle::create_threads(PoolOptions options) {
    return std::make_shared<PoolCore>(std::move(options), true);
}
void PoolCoreHandle::submit(PoolCore& core, std::vector<Bytes> records,
                            const std::shared_ptr<TaskSink>& sink, std::size_t first_index,
                            std::string_view fn_type) {
    core.submit(std::move(records), sink, first_index, fn_type);
}
void PoolCoreHandle::submit(PoolCore& core, TaskBatch batch, const std::shared_ptr<TaskSink>& sink,
                            std::size_t first_index, std::string_view fn_type) {
    core.submit(std::move(batch.records), sink, first_index, fn_type, std::move(batch.fds));
}
bool PoolCoreHandle::cancel(PoolCore& core, const TaskSink* sink, std::size_t index) {
    return core.cancel(sink, index);
}
TaskStatus PoolCoreHandle::status(PoolCore& core, const TaskSink* sink, std::size_t index) {
    return core.status(sink, index);
}
bool PoolCoreHandle::drive_until(PoolCore& core, const std::function<bool()>& done,
                                 std::optional<PoolClock::time_point> deadline) {
    return core.drive_until(done, deadline);
}
std::unique_lock<std::mutex> PoolCoreHandle::lock(PoolCore& core) {
    return std::unique_lock(core.mutex);
}
bool PoolCoreHandle::post(PoolCore& core, std::function<void()> f) {
    if (!core.thread_.joinable() || core.quit_) return false;
    core.deferred_.push_back(std::move(f));
    if (core.transport_) core.transport_->interrupt();
    return true;
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
    PoolOptions o;
    o.processes = processes;
    return o;
}
}  // namespace

Pool::Pool(int processes) : Pool(checked_processes(processes)) {}

PoolOptions Pool::with_initializer(int processes, detail::Initializer initializer) {
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

Pool::Pool(const Context& ctx) {
    PoolOptions o;
    o.context = ctx;
    core_ = detail::PoolCoreHandle::create(std::move(o));
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

// ---- ThreadPool ----------------------------------------------------------------------------

namespace mp {

ThreadPool::ThreadPool(int processes) : ThreadPool(Pool::with_initializer(processes, {})) {}

ThreadPool::ThreadPool(PoolOptions options)
    : pool_([&] {
          if (options.processes < 0) {
              throw ValueError("ThreadPool: processes must be at least 1 (got " +
                               std::to_string(options.processes) + ")");
          }
          return detail::PoolCoreHandle::create_threads(std::move(options));
      }()) {}

}  // namespace mp
