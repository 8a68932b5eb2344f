// A worker rank (rank > 0): serves rank 0's MPI pools, one after the other, until rank
// 0's program ends. With workers_per_rank = 0 the rank is one worker and runs the
// Pool's own worker loop (serve_tasks) over an MPI channel; with N > 0 it relays its
// tasks to a local shared-memory Pool of N workers (hybrid).
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mp/errors.hpp"
#include "mp/pool.hpp"
#include "mpi/mpi_internal.hpp"
#include "pool_shared.hpp"
#include "pool_transport.hpp"
#include "popen.hpp"
#include "system.hpp"

namespace mp::mpi::detail {

namespace {

// Results go back in batches: when the rank runs out of tasks, or when a batch grows
// this large or this old (so long tasks' results are not held back).
constexpr std::size_t kBatchBytes = std::size_t{256} << 10;
constexpr auto kBatchAge = std::chrono::microseconds(500);

Bytes control_bytes(const Control& c) {
    Bytes b(sizeof c);
    std::memcpy(b.data(), &c, sizeof c);
    return b;
}

/// The Control at the start of a control message (a kOpen may carry the initializer after it).
std::optional<Control> control_of(const Message& m) {
    if (m.tag != kTagControl || m.bytes.size() < sizeof(Control)) return std::nullopt;
    Control c;
    std::memcpy(&c, m.bytes.data(), sizeof c);
    return c;
}

/// What runs a kOpen's initializer in this process (empty if it has none). Decoding
/// happens when it runs, so that a corrupt one fails like an initializer that threw.
std::function<void()> initializer_of(const Message& open) {
    auto c = control_of(open);
    if (!c || (c->flags & Control::kHasInit) == 0) return {};
    Bytes init(open.bytes.begin() + sizeof(Control), open.bytes.end());
    return [init = std::move(init)] { decode_initializer(init)(); };
}

/// What a worker rank receives from rank 0, in order (all on source 0, any tag).
class Inbox {
  public:
    /// The next message from rank 0, waiting with the back-off.
    Message wait() {
        Backoff b;
        for (;;) {
            if (auto m = try_receive(0, MPI_ANY_TAG)) return std::move(*m);
            b.pause();
        }
    }
};

/// The MPI pool's worker loop on this rank: the Pool's serve_tasks over messages.
class RankChannel final : public WorkerChannel {
  public:
    RankChannel(std::uint32_t pool, std::uint32_t slot) : pool_(pool), slot_(slot) {}

    bool next(Bytes& record) override {
        Backoff b;
        for (;;) {
            receive_all();
            if (!queue_.empty()) {
                record = std::move(queue_.front());
                queue_.pop_front();
                return true;
            }
            if (gone_) return false;
            flush();  // about to wait: what is done goes back now
            sends_done();
            b.pause();
        }
    }

    bool claim(TicketId t) override {
        note_task(pool_, t.number, last_code_);
        return !gone_;
    }

    bool reply(const Bytes& record) override {
        note_idle();
        if (batch_.empty()) {
            begin_batch();
            batch_started_ = std::chrono::steady_clock::now();
        }
        batch_.insert(batch_.end(), record.begin(), record.end());
        ++batch_count_;
        if (batch_.size() >= kBatchBytes ||
            std::chrono::steady_clock::now() - batch_started_ >= kBatchAge) {
            flush();
        }
        receive_all();  // a terminate that came meanwhile stops the loop at the next task
        return !gone_;
    }

    void initializing() override {}
    void initialized() override { initialized_ = true; }

    /// After serve_tasks returned: send what is left and say this worker has left.
    void leave(int code) {
        flush();
        if (!terminated_) {
            Control c;
            c.kind = Control::kLeft;
            c.pool = pool_;
            c.slot = slot_;
            c.flags = initialized_ ? 1 : 0;
            c.value = static_cast<std::uint64_t>(static_cast<std::int64_t>(code));
            sends_.emplace_back(control_bytes(c), 0, kTagControl);
        }
        sends_.clear();  // waits until everything is out
    }

    /// A control message that ended this pool and must be handled by the caller.
    std::optional<Message> left_over;

  private:
    void begin_batch() {
        batch_.resize(sizeof(BatchHeader));
        batch_count_ = 0;
    }

    void flush() {
        if (batch_count_ == 0) return;
        BatchHeader h{pool_, slot_, batch_count_, 0};
        std::memcpy(batch_.data(), &h, sizeof h);
        sends_.emplace_back(std::move(batch_), 0, kTagResults);
        batch_ = Bytes();
        batch_count_ = 0;
    }

    void sends_done() {
        while (!sends_.empty() && sends_.front().done()) sends_.pop_front();
    }

    void receive_all() {
        while (!gone_) {
            auto m = try_receive(0, MPI_ANY_TAG);
            if (!m) return;
            if (m->tag == kTagTasks) {
                take_tasks(m->bytes);
            } else if (auto c = control_of(*m)) {
                if (c->kind == Control::kTerminate && c->pool == pool_) {
                    terminated_ = true;
                    gone_ = true;
                    queue_.clear();
                } else if (c->kind == Control::kTerminate) {
                    continue;  // an older pool's
                } else {
                    // kExit or a new pool: this one is over.
                    gone_ = true;
                    terminated_ = true;
                    queue_.clear();
                    left_over = std::move(*m);
                }
            }
        }
    }

    void take_tasks(const Bytes& bytes) {
        BatchHeader h;
        if (bytes.size() < sizeof h) return;
        std::memcpy(&h, bytes.data(), sizeof h);
        if (h.pool != pool_) return;  // an older pool's tasks
        std::size_t at = sizeof h;
        while (at + sizeof(std::uint64_t) <= bytes.size()) {
            std::uint64_t len = 0;
            std::memcpy(&len, bytes.data() + at, sizeof len);
            at += sizeof len;
            if (len > bytes.size() - at) break;
            auto first = bytes.begin() + static_cast<std::ptrdiff_t>(at);
            queue_.emplace_back(first, first + static_cast<std::ptrdiff_t>(len));
            at += static_cast<std::size_t>(len);
        }
        if (!queue_.empty() && queue_.back().size() >= sizeof(TaskHeader)) {
            TaskHeader th;
            std::memcpy(&th, queue_.back().data(), sizeof th);
            last_code_ = th.trampoline_offset;
        }
    }

    std::uint32_t pool_;
    std::uint32_t slot_;
    std::deque<Bytes> queue_;
    std::deque<Outgoing> sends_;
    Bytes batch_;
    std::uint32_t batch_count_ = 0;
    std::chrono::steady_clock::time_point batch_started_{};
    std::uint64_t last_code_ = 0;
    bool gone_ = false;
    bool terminated_ = false;
    bool initialized_ = false;
};

// ---- hybrid: a relay to a local shared-memory Pool ----------------------------------------

/// Where a relayed task came from (rank 0's slot and ticket).
struct Origin {
    std::uint32_t slot = 0;
    TicketId ticket{};
};

/// Results of the local pool, handed from its thread to the relay's loop.
struct Finished {
    std::mutex mutex;
    std::vector<std::pair<Origin, Bytes>> results;  // result records for rank 0
    int wake_fd = -1;                               // an eventfd the relay sleeps on
};

Bytes result_record(std::uint32_t kind, TicketId t, std::span<const std::byte> frame) {
    constexpr std::size_t head = sizeof(std::uint64_t) + sizeof(ResultHeader);
    Bytes out(head + frame.size());
    ResultHeader h;
    h.kind = kind;
    h.ticket = t.number;
    h.generation = t.generation;
    std::memcpy(out.data() + sizeof(std::uint64_t), &h, sizeof h);
    if (!frame.empty()) std::memcpy(out.data() + head, frame.data(), frame.size());
    std::uint64_t len = out.size() - sizeof len;
    std::memcpy(out.data(), &len, sizeof len);
    return out;
}

/// The sink of one batch submitted to the local pool.
class RelaySink final : public mp::detail::TaskSink {
  public:
    RelaySink(std::shared_ptr<Finished> f, std::vector<Origin> origins)
        : finished_(std::move(f)), origins_(std::move(origins)) {}

    std::function<void()> on_result(std::size_t index, std::span<const std::byte> frame) override {
        push(index, result_record(ResultHeader::kOk, origins_[index].ticket, frame));
        return {};
    }
    std::function<void()> on_error(std::size_t index, std::exception_ptr error) override {
        std::pair<std::string, std::string> what;
        std::uint32_t kind = ResultHeader::kError;
        const auto& rt = runtime();
        std::string where = " (on rank " + std::to_string(rt.rank) + ", host " + rt.host + ")";
        try {
            std::rethrow_exception(error);
        } catch (const RemoteError& e) {
            what = {e.type_name(), e.what()};
        } catch (const WorkerLost& e) {
            kind = ResultHeader::kLost;
            what = {"mp::WorkerLost", e.what() + where};
        } catch (const std::exception& e) {
            what = {mp::detail::current_exception_type_name(), e.what() + where};
        } catch (...) {
            what = {"unknown", "a task failed" + where};
        }
        push(index, result_record(kind, origins_[index].ticket, serialize(what)));
        return {};
    }

  private:
    void push(std::size_t index, Bytes rec) {
        {
            std::lock_guard lk(finished_->mutex);
            finished_->results.emplace_back(origins_[index], std::move(rec));
        }
        ::eventfd_write(finished_->wake_fd, 1);
    }

    std::shared_ptr<Finished> finished_;
    std::vector<Origin> origins_;
};

/// Serves the pool of the kOpen `open` with a local Pool of workers_per_rank workers,
/// each running the pool's initializer. Returns the control message that ended it, if it
/// was not this pool's own end.
std::optional<Message> relay(const Message& open) {
    const Control first = *control_of(open);
    const std::uint32_t pool = first.pool;
    auto finished = std::make_shared<Finished>();
    finished->wake_fd = mp::detail::check(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd");
    struct CloseFd {
        int fd;
        ~CloseFd() { ::close(fd); }
    } close_fd{finished->wake_fd};
    mp::PoolOptions options;
    options.processes = runtime().options.workers_per_rank;
    options.maxtasksperchild = static_cast<std::size_t>(first.value);
    options.initializer = initializer_of(open);  // the local workers are forks: any callable
    auto core = mp::detail::PoolCoreHandle::create(std::move(options));
    struct SlotState {
        bool open = false;
        bool stopping = false;
        std::size_t outstanding = 0;
    };
    std::map<std::uint32_t, SlotState> slots;
    slots[first.slot].open = true;
    std::deque<Outgoing> sends;
    std::optional<Message> ended_by;
    bool terminated = false;
    Backoff backoff;
    auto leave = [&](std::uint32_t slot) {
        Control c;
        c.kind = Control::kLeft;
        c.pool = pool;
        c.slot = slot;
        c.flags = 1;
        sends.emplace_back(control_bytes(c), 0, kTagControl);
    };
    for (;;) {
        bool progress = false;
        while (auto m = try_receive(0, MPI_ANY_TAG)) {
            progress = true;
            if (m->tag == kTagTasks) {
                BatchHeader h;
                if (m->bytes.size() < sizeof h) continue;
                std::memcpy(&h, m->bytes.data(), sizeof h);
                if (h.pool != pool) continue;  // an older pool's
                std::vector<Bytes> records;
                std::vector<Origin> origins;
                std::size_t at = sizeof h;
                while (at + sizeof(std::uint64_t) + sizeof(TaskHeader) <= m->bytes.size()) {
                    std::uint64_t len = 0;
                    std::memcpy(&len, m->bytes.data() + at, sizeof len);
                    std::size_t whole = sizeof len + static_cast<std::size_t>(len);
                    if (whole > m->bytes.size() - at) break;
                    TaskHeader th;
                    std::memcpy(&th, m->bytes.data() + at + sizeof len, sizeof th);
                    auto begin = m->bytes.begin() + static_cast<std::ptrdiff_t>(at);
                    at += whole;
                    if (th.kind == TaskHeader::kStop) {
                        slots[h.slot].stopping = true;
                        continue;
                    }
                    records.emplace_back(begin, begin + static_cast<std::ptrdiff_t>(whole));
                    origins.push_back(Origin{h.slot, TicketId{th.ticket, th.generation}});
                }
                slots[h.slot].outstanding += records.size();
                if (!records.empty()) {
                    auto sink = std::make_shared<RelaySink>(finished, std::move(origins));
                    mp::detail::PoolCoreHandle::submit(*core, std::move(records), sink);
                }
            } else if (auto c = control_of(*m)) {
                if (c->kind == Control::kOpen && c->pool == pool) {
                    slots[c->slot] = SlotState{true, false, 0};
                } else if (c->kind == Control::kTerminate && c->pool != pool) {
                    continue;  // an older pool's
                } else {
                    terminated = true;
                    if (c->kind != Control::kTerminate) ended_by = std::move(*m);
                    break;
                }
            }
        }
        if (terminated) break;
        std::vector<std::pair<Origin, Bytes>> done;
        {
            std::lock_guard lk(finished->mutex);
            done.swap(finished->results);
        }
        eventfd_t ignored;
        ::eventfd_read(finished->wake_fd, &ignored);
        std::map<std::uint32_t, std::pair<Bytes, std::uint32_t>> batches;
        for (auto& [origin, rec] : done) {
            auto& [b, count] = batches[origin.slot];
            if (b.empty()) b.resize(sizeof(BatchHeader));
            b.insert(b.end(), rec.begin(), rec.end());
            ++count;
            auto& s = slots[origin.slot];
            if (s.outstanding > 0) --s.outstanding;
        }
        for (auto& [slot, bc] : batches) {
            BatchHeader h{pool, slot, bc.second, 0};
            std::memcpy(bc.first.data(), &h, sizeof h);
            sends.emplace_back(std::move(bc.first), 0, kTagResults);
        }
        progress = progress || !done.empty();
        for (auto it = slots.begin(); it != slots.end();) {
            if (it->second.stopping && it->second.outstanding == 0) {
                leave(it->first);
                it = slots.erase(it);
            } else {
                ++it;
            }
        }
        while (!sends.empty() && sends.front().done()) sends.pop_front();
        if (slots.empty()) break;  // every worker of this rank was stopped: the pool closed
        if (progress) {
            backoff.reset();
        } else {
            backoff.pause(std::nullopt, finished->wake_fd);
        }
    }
    if (terminated) {
        mp::detail::PoolCoreHandle::terminate(*core);
    } else {
        mp::detail::PoolCoreHandle::close(*core);
        mp::detail::PoolCoreHandle::join(*core);
    }
    sends.clear();  // waits until everything is out
    return ended_by;
}

}  // namespace

std::function<void()> decode_initializer(std::span<const std::byte> bytes) {
    auto in = bytes;
    auto ref = mp::detail::get_pod<mp::detail::CodeRef>(in);
    auto callable = mp::detail::get_bytes(in);
    auto args = mp::detail::get_bytes(in);
    const void* code = mp::detail::resolve_code(ref);
    if (code == nullptr) {
        throw Error("mp::Pool over MPI: the initializer's code is not loaded on rank " +
                    std::to_string(runtime().rank));
    }
    auto tramp = reinterpret_cast<mp::detail::Trampoline>(const_cast<void*>(code));
    return
        [tramp, c = Bytes(callable.begin(), callable.end()), a = Bytes(args.begin(), args.end())] {
            Bytes none;
            tramp(c, a, none);
        };
}

namespace {

[[noreturn]] void exit_job() {
    auto& rt = runtime();
    {
        std::lock_guard lk(mpi_lock());
        MPI_Comm_free(&rt.comm);
        MPI_Finalize();
    }
    rt.initialized = false;
    std::fflush(nullptr);
    std::exit(0);
}

}  // namespace

void serve() {
    Inbox inbox;
    std::optional<Message> next;
    for (;;) {
        Message m;
        if (next) {
            m = std::move(*next);
            next.reset();
        } else {
            m = inbox.wait();
        }
        auto order = control_of(m);
        if (!order) continue;  // a stale batch
        const Control c = *order;
        if (c.kind == Control::kExit) exit_job();
        if (c.kind != Control::kOpen) continue;
        if (runtime().options.workers_per_rank > 0) {
            next = relay(m);
            continue;
        }
        RankChannel ch(c.pool, c.slot);
        std::function<void()> init = initializer_of(m);
        WorkerConfig config;
        config.initializer = init ? &init : nullptr;
        config.maxtasks = static_cast<std::size_t>(c.value);
        int code = mp::detail::serve_tasks(ch, config);
        note_idle();
        ch.leave(code);
        next = ch.left_over;
    }
}

}  // namespace mp::mpi::detail
