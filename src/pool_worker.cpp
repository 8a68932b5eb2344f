// The Pool's worker loop (serve_tasks, for every transport) and the shared-memory
// transport's worker side. Runs single-threaded in a worker and returns its exit code.
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

#include "mp/detail/futex.hpp"
#include "mp/detail/park.hpp"
#include "mp/detail/reduction.hpp"
#include "mp/pool.hpp"
#include "pool_shared.hpp"
#include "pool_transport.hpp"
#include "system.hpp"

namespace mp::detail {
namespace {

// A worker whose zygote (hence parent) died has nobody to work for: it notices within
// this period (and PR_SET_PDEATHSIG kills it at once in any case).
constexpr auto kParentCheck = std::chrono::seconds(1);
// Before sleeping, a worker that ran out of tasks polls for this long, yielding the CPU
// between polls: a parent submitting a burst, or a caller's next apply after a round
// trip, keeps it awake with no futex traffic, and yielding keeps it from starving a
// parent that shares its CPU.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(50);

/// The shared-memory transport, seen from a worker.
class ShmChannel final : public WorkerChannel {
  public:
    ShmChannel(void* region, const PoolLayout& layout, std::size_t index, int event_fd,
               pid_t parent, int fd_sock)
        : fd_sock_(fd_sock),
          ctl_(layout.control(region)),
          slot_(layout.slot(region, index)),
          tickets_(layout.ticket_table(region)),
          n_tickets_(layout.tickets),
          in_(layout.inbox(region, index)),
          out_(layout.outbox(region, index)),
          efd_(event_fd),
          parent_(parent) {}

    bool next(Bytes& buf) override {
        std::uint64_t len = 0;
        if (!read_exact(reinterpret_cast<std::byte*>(&len), sizeof len)) return false;
        buf.resize(static_cast<std::size_t>(len));
        return read_exact(buf.data(), buf.size());
    }

    bool claim(TicketId t) override {
        if (t.number >= n_tickets_) return false;
        std::uint32_t queued = ticket::pack(t.generation, ticket::kQueued);
        if (!tickets_[t.number].compare_exchange_strong(
                queued, ticket::pack(t.generation, ticket::kRunning))) {
            return false;
        }
        slot_->busy.store(1, std::memory_order_relaxed);
        return true;
    }

    bool reply(const Bytes& rec) override {
        const std::byte* p = rec.data();
        std::size_t n = rec.size();
        while (n != 0) {
            std::size_t k = out_.write_some(p, n);
            if (k != 0) {
                p += k;
                n -= k;
                if (n != 0) notify_parent();  // let the parent drain a record larger than the ring
                continue;
            }
            if (!wait_for(out_.control().space_park, [this] { return out_.writable() != 0; })) {
                return false;
            }
        }
        slot_->busy.store(0, std::memory_order_release);
        notify_parent();
        return true;
    }

    bool task_fds(TicketId t, std::vector<int>& fds) override {
        bool ok = recv_task_fds(fd_sock_, t, fds);
        notify_parent();  // room on the socket: a parent holding back a task's fds sends them
        return ok;
    }

    void initializing() override {
        slot_->ready.store(WorkerSlot::kInitializing, std::memory_order_release);
    }
    void initialized() override {
        slot_->ready.store(WorkerSlot::kReady, std::memory_order_release);
    }

  private:
    bool read_exact(std::byte* p, std::size_t n) {
        while (n != 0) {
            std::size_t k = in_.read_some(p, n);
            if (k != 0) {
                p += k;
                n -= k;
                // Room freed in the inbox: a parent streaming a long record may wait for it.
                notify_parent();
                continue;
            }
            if (!wait_for(in_.control().data_park, [this] { return in_.readable() != 0; })) {
                return false;
            }
        }
        return true;
    }

    /// Parks on `p` until `ready()`; false if the parent died meanwhile.
    template <class Pred>
    bool wait_for(ParkWord& p, Pred ready) {
        if (park_spin_yielding(ready, kSpinBeforeSleep)) return true;
        while (!park_until(p, ready, Clock::now() + kParentCheck, Clock::duration::zero())) {
            if (::getppid() != parent_) return false;
        }
        return true;
    }

    /// After a result (or room) was published: wakes the callers waiting for results
    /// and the pool's thread, where they are parked.
    void notify_parent() {
        unpark_all(ctl_->caller_park);
        unpark_fd(ctl_->thread_park, efd_);
    }

    int fd_sock_;  // the parent sends the fds of tasks' handles here
    PoolControl* ctl_;
    WorkerSlot* slot_;
    std::atomic<std::uint32_t>* tickets_;
    std::size_t n_tickets_;
    Ring in_;
    Ring out_;
    int efd_;
    pid_t parent_;
};

void encode_current_exception(Bytes& out, std::uint32_t kind, TicketId t) {
    std::pair<std::string, std::string> err;
    err.first = current_exception_type_name();
    try {
        throw;
    } catch (const std::exception& e) {
        err.second = e.what();
    } catch (...) {
        err.second = "(an exception that is not a std::exception)";
    }
    begin_result(out, kind, t.number, t.generation);
    encode_frame(err, out);
    end_result(out);
}

// Runs one task record whose header is `h`; leaves the result record in `out`.
void run_task(const TaskHeader& h, const Bytes& rec, Bytes& out) {
    TicketId t{h.ticket, h.generation};
    std::uint64_t started = monotonic_ns();
    try {
        if (rec.size() < sizeof h + h.callable_size)
            throw SerializationError("corrupt Pool task: short callable");
        const void* code = resolve_code(CodeRef{h.trampoline_module, h.trampoline_offset});
        if (code == nullptr) {
            throw Error("mp::Pool: the task's code is not loaded in this worker (module hash " +
                        std::to_string(h.trampoline_module) + ")");
        }
        auto tramp = reinterpret_cast<Trampoline>(const_cast<void*>(code));
        std::span<const std::byte> all(rec);
        begin_result(out, ResultHeader::kOk, t.number, t.generation);
        tramp(all.subspan(sizeof h, h.callable_size), all.subspan(sizeof h + h.callable_size), out);
        end_result(out);
    } catch (...) {
        encode_current_exception(out, ResultHeader::kError, t);
    }
    std::uint64_t ended = monotonic_ns();
    std::memcpy(out.data() + sizeof(std::uint64_t) + offsetof(ResultHeader, started_ns), &started,
                sizeof started);
    std::memcpy(out.data() + sizeof(std::uint64_t) + offsetof(ResultHeader, ended_ns), &ended,
                sizeof ended);
}

}  // namespace

void begin_result(Bytes& out, std::uint32_t kind, std::uint32_t ticket_no,
                  std::uint32_t generation) {
    out.clear();
    out.resize(sizeof(std::uint64_t) + sizeof(ResultHeader));
    ResultHeader h{kind, ticket_no, generation, 0, 0, 0};
    std::memcpy(out.data() + sizeof(std::uint64_t), &h, sizeof h);
}

std::uint64_t monotonic_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

void end_result(Bytes& out) {
    std::uint64_t len = out.size() - sizeof(std::uint64_t);
    std::memcpy(out.data(), &len, sizeof len);
}

int serve_tasks(WorkerChannel& ch, const WorkerConfig& config) {
    Bytes rec;
    Bytes out;
    if (config.initializer != nullptr && *config.initializer) {
        ch.initializing();
        try {
            (*config.initializer)();
        } catch (...) {
            encode_current_exception(out, ResultHeader::kInitError, TicketId{});
            ch.reply(out);
            return 1;
        }
    }
    ch.initialized();
    std::uint64_t done = 0;
    while (config.maxtasks == 0 || done < config.maxtasks) {
        if (!ch.next(rec)) return 1;  // the pool is gone
        TaskHeader h;
        if (rec.size() < sizeof h) return 2;  // corrupt stream: nothing sensible is left to do
        std::memcpy(&h, rec.data(), sizeof h);
        if (h.kind == TaskHeader::kStop) break;
        {
            // A task whose arguments hold handles: their fds, received before the claim,
            // are the trampoline's while it runs, and closed before its result goes (a
            // revoked task's at once).
            std::vector<int> received;
            bool fds_came = h.kind != TaskHeader::kTaskWithFds ||
                            ch.task_fds(TicketId{h.ticket, h.generation}, received);
            FdSource fds(std::move(received), /*shared=*/true);
            if (!ch.claim(TicketId{h.ticket, h.generation})) {
                continue;  // the parent took this task back and gave it to another worker
            }
            ++done;
            current_fd_source() = fds_came ? &fds : nullptr;
            run_task(h, rec, out);
            current_fd_source() = nullptr;
        }
        if (!ch.reply(out)) return 1;
        if (out.capacity() > (std::size_t{1} << 20)) out = Bytes();  // do not keep a huge buffer
    }
    return 0;
}

int shm_worker_main(void* region, const PoolLayout& layout, std::size_t index, int event_fd,
                    const WorkerConfig& config, pid_t zygote, int fd_sock) {
    ShmChannel ch(region, layout, index, event_fd, zygote, fd_sock);
    return serve_tasks(ch, config);
}

}  // namespace mp::detail
