// The MPI transport (rank 0): the Pool's second implementation of PoolTransport
// (src/pool_transport.hpp). The scheduler is the Pool's own; this file only carries
// records to the worker ranks and results back.
//
// Slot s is served by rank 1 + s / per_rank (per_rank = workers_per_rank, or 1). A
// `send` appends the record to the slot's outgoing batch; `flush` sends each batch as
// one message (a burst of apply_async costs one MPI message per slot, not per task).
// Workers exist for the whole job, so `start` only tells the rank to open a worker
// (kOpen) and reports `started` at once. A task cannot be taken back from another
// machine synchronously, so `revoke` returns false (no work stealing across ranks).
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <string>
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

constexpr std::size_t kTicketsPerSlot = 1024;
constexpr std::size_t kWindow = 256;

std::atomic<std::uint32_t> g_pools{0};  // pool ids, so that stale results are recognized
std::atomic<bool> g_pool_open{false};   // one MPI pool at a time

class MpiTransport final : public PoolTransport {
  public:
    MpiTransport(int processes, const WorkerConfig& config) : maxtasks_(config.maxtasks) {
        auto& rt = runtime();
        if (!rt.initialized) {
            throw ValueError(
                "mp::Pool over MPI: call mp::mpi::init(argc, argv) at the top of main first");
        }
        if (rt.size < 2) {
            throw ValueError(
                "mp::Pool over MPI: this job has one rank, so the pool would have no workers; "
                "run the program under mpirun -n N (N >= 2), or use a local Pool");
        }
        if (config.source != nullptr && static_cast<bool>(*config.source))
            init_ = encode_initializer(*config.source);
        bool expected = false;
        if (!g_pool_open.compare_exchange_strong(expected, true)) {
            throw ValueError(
                "mp::Pool over MPI: another MPI pool is still open; the worker ranks serve one "
                "pool at a time: terminate() or destroy the first one");
        }
        per_rank_ = rt.options.workers_per_rank > 0
                        ? static_cast<std::size_t>(rt.options.workers_per_rank)
                        : 1;
        std::size_t all = static_cast<std::size_t>(rt.size - 1) * per_rank_;
        if (processes < 0 || static_cast<std::size_t>(processes) > all) {
            g_pool_open.store(false);
            throw ValueError("mp::Pool over MPI: processes=" + std::to_string(processes) +
                             " but this job has " + std::to_string(all) + " workers (" +
                             std::to_string(rt.size - 1) + " worker ranks × " +
                             std::to_string(per_rank_) + "); pass 0 for all of them");
        }
        pool_ = g_pools.fetch_add(1) + 1;
        slots_.resize(processes == 0 ? all : static_cast<std::size_t>(processes));
        batches_.resize(slots_.size());
        efd_ = mp::detail::check(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "mp::mpi: eventfd");
    }

    ~MpiTransport() override {
        shutdown(std::chrono::milliseconds(0));
        ::close(efd_);
    }

    std::size_t slots() const noexcept override { return slots_.size(); }
    std::size_t tickets() const noexcept override { return slots_.size() * kTicketsPerSlot; }

    void start(std::size_t slot) override {
        Control c;
        c.kind = Control::kOpen;
        c.pool = pool_;
        c.slot = static_cast<std::uint32_t>(slot);
        c.value = maxtasks_;
        c.flags = init_.empty() ? 0 : Control::kHasInit;
        Bytes b(sizeof c);
        std::memcpy(b.data(), &c, sizeof c);
        b.insert(b.end(), init_.begin(), init_.end());  // the initializer, if any
        flush_slot(slot);  // tasks already batched for the slot go first
        sends_.emplace_back(std::move(b), rank_of(slot), kTagControl);
        slots_[slot] = Slot{};
        slots_[slot].alive = true;
        TransportEvent e;
        e.kind = TransportEvent::started;
        e.slot = slot;
        e.pid = -1;
        events_.push_back(std::move(e));
        queued_events_.store(events_.size(), std::memory_order_release);
    }

    bool can_send(std::size_t slot) const noexcept override {
        return slots_[slot].alive && !slots_[slot].stopping;
    }

    void send(std::size_t slot, TicketId ticket, std::span<const std::byte> record,
              std::span<const int>) override {
        append(slot, record);
        ++batches_[slot].tasks;
        slots_[slot].held.push_back(ticket);
        note(slot);
    }

    void flush() override {
        // A rank that already holds kWindow unanswered tasks is busy: what was sent for it
        // since waits here and goes in one message when its results come back (receive).
        for (std::size_t s = 0; s < slots_.size(); ++s) {
            const auto& slot = slots_[s];
            std::size_t at_worker = slot.held.size() - batches_[s].tasks;
            if (at_worker < kWindow || slot.stopping) flush_slot(s);
        }
        while (!sends_.empty() && sends_.front().done()) sends_.pop_front();
    }

    void check_handles(std::string_view handle_type) const override {
        throw ValueError(
            "mp::Pool over MPI: a task argument is an " +
            mp::detail::readable_type_name(handle_type) +
            ", a handle to state in this machine's memory (its shared memory and fds cannot "
            "reach another machine's rank); pass the data itself (a value, a std::vector) and "
            "use the results the tasks return, or use a local mp::Pool for work that shares "
            "a Queue, Lock or Value");
    }

    bool revoke(std::size_t, TicketId) override { return false; }

    bool running(std::size_t slot, TicketId ticket) const override {
        // A worker rank that ends normally (stop, maxtasks) drops what it did not start and
        // returns every result it made first; one that dies ends the whole job.
        (void)slot;
        (void)ticket;
        return false;
    }

    bool stop(std::size_t slot) override {
        if (!slots_[slot].alive) return false;
        Bytes rec = mp::detail::stop_record();
        append(slot, rec);
        slots_[slot].stopping = true;
        return true;
    }

    void shutdown(std::chrono::milliseconds) noexcept override {
        if (shut_.exchange(true)) return;
        g_pool_open.store(false);  // the ranks are free for the next pool
        try {
            Control c;
            c.kind = Control::kTerminate;
            c.pool = pool_;
            for (int r = 1; r < runtime().size; ++r) {
                Bytes b(sizeof c);
                std::memcpy(b.data(), &c, sizeof c);
                sends_.emplace_back(std::move(b), r, kTagControl);
            }
            sends_.clear();  // waits until each is out
            for (std::size_t s = 0; s < slots_.size(); ++s) {
                slots_[s] = Slot{};
                note(s);
            }
        } catch (...) {
        }
    }

    std::size_t receive(const std::function<void(const TransportEvent&)>& on_event) override {
        std::size_t n = 0;
        while (!events_.empty()) {
            TransportEvent e = std::move(events_.front());
            events_.pop_front();
            queued_events_.store(events_.size(), std::memory_order_release);
            on_event(e);
            ++n;
        }
        if (shut_.load(std::memory_order_relaxed)) return n;
        while (auto m = try_receive(MPI_ANY_SOURCE, MPI_ANY_TAG)) {
            if (m->tag == kTagResults) {
                n += take_results(m->bytes, on_event);
                flush();
            } else if (m->tag == kTagControl && m->bytes.size() == sizeof(Control)) {
                Control c;
                std::memcpy(&c, m->bytes.data(), sizeof c);
                if (c.kind != Control::kLeft || c.pool != pool_ || c.slot >= slots_.size())
                    continue;
                auto& s = slots_[c.slot];
                s.alive = false;
                s.stopping = false;
                s.held.clear();
                note(c.slot);
                TransportEvent e;
                e.kind = TransportEvent::exited;
                e.slot = c.slot;
                e.code = static_cast<int>(static_cast<std::int64_t>(c.value));
                e.initialized = (c.flags & 1) != 0;
                on_event(e);
                ++n;
            }
        }
        return n;
    }

    bool pending() const noexcept override {
        // Also called by wait(), without the scheduler's lock: only atomics and MPI here.
        if (queued_events_.load(std::memory_order_acquire) != 0) return true;
        if (shut_.load(std::memory_order_acquire)) return false;
        try {
            return probe(MPI_ANY_SOURCE, MPI_ANY_TAG);
        } catch (...) {
            return false;
        }
    }

    void wait(std::optional<Clock::time_point> deadline) override {
        Backoff b(std::chrono::microseconds(50));  // a caller waiting for a result spins too
        for (;;) {
            if (pending()) return;
            if (deadline && Clock::now() >= *deadline) return;
            eventfd_t v;
            if (::eventfd_read(efd_, &v) == 0) return;  // interrupted
            b.pause(deadline, efd_);
        }
    }

    void interrupt() noexcept override { ::eventfd_write(efd_, 1); }

    bool alive(std::size_t slot) const noexcept override { return slots_[slot].alive; }
    pid_t pid(std::size_t) const noexcept override { return -1; }
    std::string name(std::size_t slot) const override {
        std::string n = "MPIPoolWorker-rank" + std::to_string(rank_of(slot));
        if (per_rank_ > 1) n += "." + std::to_string(slot % per_rank_);
        return n;
    }

  private:
    struct Slot {
        bool alive = false;
        bool stopping = false;
        std::deque<TicketId> held;  // sent, no result yet (in order)
    };
    struct Batch {
        Bytes bytes;              // BatchHeader + records; empty when nothing waits
        std::uint32_t count = 0;  // records (tasks and stop records)
        std::size_t tasks = 0;    // of which tasks
    };

    int rank_of(std::size_t slot) const noexcept { return 1 + static_cast<int>(slot / per_rank_); }

    void append(std::size_t slot, std::span<const std::byte> record) {
        auto& b = batches_[slot];
        if (b.bytes.empty()) b.bytes.resize(sizeof(BatchHeader));
        b.bytes.insert(b.bytes.end(), record.begin(), record.end());
        ++b.count;
    }

    void flush_slot(std::size_t slot) {
        auto& b = batches_[slot];
        if (b.count == 0) return;
        BatchHeader h{pool_, static_cast<std::uint32_t>(slot), b.count, 0};
        std::memcpy(b.bytes.data(), &h, sizeof h);
        sends_.emplace_back(std::move(b.bytes), rank_of(slot), kTagTasks);
        b = Batch{};
    }

    std::size_t take_results(const Bytes& bytes,
                             const std::function<void(const TransportEvent&)>& on_event) {
        BatchHeader bh;
        if (bytes.size() < sizeof bh) return 0;
        std::memcpy(&bh, bytes.data(), sizeof bh);
        if (bh.pool != pool_ || bh.slot >= slots_.size()) return 0;  // an older pool's
        std::size_t n = 0;
        std::size_t at = sizeof bh;
        auto& s = slots_[bh.slot];
        while (at + sizeof(std::uint64_t) + sizeof(ResultHeader) <= bytes.size()) {
            std::uint64_t len = 0;
            std::memcpy(&len, bytes.data() + at, sizeof len);
            at += sizeof len;
            if (len < sizeof(ResultHeader) || len > bytes.size() - at) break;
            ResultHeader rh;
            std::memcpy(&rh, bytes.data() + at, sizeof rh);
            TransportEvent e;
            e.slot = bh.slot;
            e.frame = std::span<const std::byte>(bytes).subspan(
                at + sizeof rh, static_cast<std::size_t>(len) - sizeof rh);
            if (rh.kind == ResultHeader::kInitError) {
                e.kind = TransportEvent::init_error;
            } else {
                e.kind = TransportEvent::result;
                e.ticket = TicketId{rh.ticket, rh.generation};
                e.status = rh.kind;
                for (auto it = s.held.begin(); it != s.held.end(); ++it) {
                    if (*it == e.ticket) {
                        s.held.erase(it);
                        break;
                    }
                }
            }
            at += static_cast<std::size_t>(len);
            on_event(e);
            ++n;
        }
        note(bh.slot);
        return n;
    }

    // What rank 0 prints if mpirun ends the job: the tickets each rank holds.
    void note(std::size_t slot) noexcept {
        int r = rank_of(slot);
        std::size_t first = static_cast<std::size_t>(r - 1) * per_rank_;
        std::uint32_t count = 0;
        std::uint32_t oldest = 0;
        for (std::size_t k = first; k < first + per_rank_ && k < slots_.size(); ++k) {
            if (!slots_[k].held.empty() && count == 0) oldest = slots_[k].held.front().number;
            count += static_cast<std::uint32_t>(slots_[k].held.size());
        }
        note_in_flight(r, pool_, oldest, count);
    }

    std::size_t maxtasks_;
    Bytes init_;  // the initializer as sent with each kOpen (encode_initializer); empty: none
    std::size_t per_rank_ = 1;
    std::uint32_t pool_ = 0;
    std::vector<Slot> slots_;
    std::vector<Batch> batches_;  // by slot
    std::deque<Outgoing> sends_;
    std::deque<TransportEvent> events_;
    std::atomic<std::size_t> queued_events_{0};  // events_.size(), for pending() without the lock
    int efd_ = -1;
    std::atomic<bool> shut_{false};
};

}  // namespace

Bytes encode_initializer(const mp::detail::Initializer& init) {
    if (const char* why = init.not_sendable()) {
        throw ValueError(std::string("mp::Pool over MPI: the initializer runs on every worker "
                                     "rank (other machines), but ") +
                         why +
                         "; pass its data as arguments: ctx.Pool(n, init, args...) with "
                         "init a function or a captureless lambda");
    }
    mp::detail::TaskValue v;
    init.encode(v);
    if (!v.fds.fds.empty()) {
        throw ValueError(
            "mp::Pool over MPI: an initializer argument is an mp handle (Queue, Lock, Value, "
            "…), state in this machine's memory that cannot reach another machine's rank; "
            "pass plain values to the initializer");
    }
    Bytes out(sizeof v.trampoline);
    std::memcpy(out.data(), &v.trampoline, sizeof v.trampoline);
    mp::detail::put_bytes(out, v.callable);
    mp::detail::put_bytes(out, v.args);
    return out;
}

namespace {

class MpiFactory final : public mp::detail::TransportFactory {
  public:
    std::unique_ptr<PoolTransport> make(int processes, WorkerConfig config) const override {
        return std::make_unique<MpiTransport>(processes, config);
    }
};

}  // namespace

}  // namespace mp::mpi::detail

namespace mp::mpi {

PoolOptions pool_options(PoolOptions base) {
    static const auto factory = std::make_shared<const detail::MpiFactory>();
    base.transport = factory;
    return base;
}

futures::ExecutorOptions executor_options(futures::ExecutorOptions base) {
    base.transport = pool_options().transport;
    return base;
}

}  // namespace mp::mpi
