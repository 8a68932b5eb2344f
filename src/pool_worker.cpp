// The Pool's worker loop: runs in a forked child, single-threaded, and ends by
// returning an exit code to Process (which _exits after flushing stdio).
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

#include "mp/detail/futex.hpp"
#include "mp/pool.hpp"
#include "pool_shared.hpp"
#include "system.hpp"

namespace mp::detail {
namespace {

// A worker whose parent died has nobody to work for: it notices within this period.
constexpr auto kParentCheck = std::chrono::seconds(1);
// Before sleeping, a worker that ran out of tasks polls for this long, yielding the CPU
// between polls: a parent submitting a burst keeps it awake with no futex traffic,
// and yielding keeps it from starving a parent that shares its CPU.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(50);

class Worker {
  public:
    Worker(void* region, const PoolLayout& layout, std::size_t index, int event_fd, pid_t parent)
        : ctl_(layout.control(region)),
          slot_(layout.slot(region, index)),
          tickets_(layout.ticket_table(region)),
          in_(layout.inbox(region, index)),
          out_(layout.outbox(region, index)),
          efd_(event_fd),
          parent_(parent) {}

    WorkerSlot& slot() { return *slot_; }
    std::atomic<std::uint32_t>& ticket(std::uint32_t i) { return tickets_[i]; }

    /// Reads the next record into `buf`; false if the parent is gone.
    bool read_record(Bytes& buf) {
        std::uint64_t len = 0;
        if (!read_exact(reinterpret_cast<std::byte*>(&len), sizeof len)) return false;
        buf.resize(static_cast<std::size_t>(len));
        return read_exact(buf.data(), buf.size());
    }

    /// Writes one whole record; false if the parent is gone.
    bool write_record(const Bytes& rec) {
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
            if (!wait_for(out_.control().space_seq, out_.control().writer_sleeping,
                          [this] { return out_.writable() != 0; })) {
                return false;
            }
        }
        notify_parent();
        return true;
    }

  private:
    bool read_exact(std::byte* p, std::size_t n) {
        while (n != 0) {
            std::size_t k = in_.read_some(p, n);
            if (k != 0) {
                p += k;
                n -= k;
                // Room freed in the inbox: a parent streaming a long record may wait for it.
                wake_writer_if_sleeping();
                continue;
            }
            if (!wait_for(in_.control().data_seq, in_.control().reader_sleeping,
                          [this] { return in_.readable() != 0; })) {
                return false;
            }
        }
        return true;
    }

    // The parent never sleeps on the inbox's space word; it sleeps in poll().
    void wake_writer_if_sleeping() { notify_parent(); }

    /// Sleeps on `seq` until `ready()`; false if the parent died meanwhile.
    template <class Pred>
    bool wait_for(std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& sleeping,
                  Pred ready) {
        auto spin_end = Clock::now() + kSpinBeforeSleep;
        while (Clock::now() < spin_end) {
            if (ready()) return true;
            ::sched_yield();
        }
        for (;;) {
            std::uint32_t seen = seq.load(std::memory_order_acquire);
            sleeping.store(1, std::memory_order_relaxed);
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if (ready()) {
                sleeping.store(0, std::memory_order_relaxed);
                return true;
            }
            bool woken = futex_wait(seq, seen, Clock::now() + kParentCheck);
            sleeping.store(0, std::memory_order_relaxed);
            if (ready()) return true;
            if (!woken && ::getppid() != parent_) return false;
        }
    }

    void notify_parent() {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (ctl_->parent_sleeping.load(std::memory_order_relaxed) != 0 &&
            ctl_->parent_sleeping.exchange(0) != 0) {
            ::eventfd_write(efd_, 1);
        }
    }

    PoolControl* ctl_;
    WorkerSlot* slot_;
    std::atomic<std::uint32_t>* tickets_;
    Ring in_;
    Ring out_;
    int efd_;
    pid_t parent_;
};

void begin_result(Bytes& out, std::uint32_t kind, std::uint32_t ticket) {
    out.clear();
    out.resize(sizeof(std::uint64_t) + sizeof(ResultHeader));
    ResultHeader h{kind, ticket};
    std::memcpy(out.data() + sizeof(std::uint64_t), &h, sizeof h);
}

void end_result(Bytes& out) {
    std::uint64_t len = out.size() - sizeof(std::uint64_t);
    std::memcpy(out.data(), &len, sizeof len);
}

void encode_current_exception(Bytes& out, std::uint32_t kind, std::uint32_t ticket) {
    std::pair<std::string, std::string> err;
    err.first = current_exception_type_name();
    try {
        throw;
    } catch (const std::exception& e) {
        err.second = e.what();
    } catch (...) {
        err.second = "(an exception that is not a std::exception)";
    }
    begin_result(out, kind, ticket);
    encode_frame(err, out);
    end_result(out);
}

// Runs one task record whose header is `h`; leaves the result record in `out`.
void run_task(const TaskHeader& h, const Bytes& rec, Bytes& out) {
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
        begin_result(out, ResultHeader::kOk, h.ticket);
        tramp(all.subspan(sizeof h, h.callable_size), all.subspan(sizeof h + h.callable_size), out);
        end_result(out);
    } catch (...) {
        encode_current_exception(out, ResultHeader::kError, h.ticket);
    }
}

}  // namespace

int pool_worker_main(void* region, const PoolLayout& layout, std::size_t index, int event_fd,
                     const std::function<void()>* initializer, std::size_t maxtasks, pid_t parent) {
    Worker w(region, layout, index, event_fd, parent);
    Bytes rec;
    Bytes out;
    if (initializer != nullptr && *initializer) {
        try {
            (*initializer)();
        } catch (...) {
            encode_current_exception(out, ResultHeader::kInitError, 0);
            w.write_record(out);
            return 1;
        }
    }
    w.slot().ready.store(1, std::memory_order_release);
    std::uint64_t done = 0;
    while (maxtasks == 0 || done < maxtasks) {
        if (!w.read_record(rec)) return 1;  // the parent is gone
        TaskHeader h;
        if (rec.size() < sizeof h) return 2;  // corrupt stream: nothing sensible is left to do
        std::memcpy(&h, rec.data(), sizeof h);
        if (h.kind == TaskHeader::kStop) break;
        if (h.ticket >= layout.tickets) return 2;
        std::uint32_t queued = ticket::pack(h.generation, ticket::kQueued);
        if (!w.ticket(h.ticket).compare_exchange_strong(
                queued, ticket::pack(h.generation, ticket::kRunning))) {
            continue;  // the parent took this task back and gave it to another worker
        }
        ++done;
        run_task(h, rec, out);
        if (!w.write_record(out)) return 1;
        if (out.capacity() > (std::size_t{1} << 20)) out = Bytes();  // do not keep a huge buffer
    }
    return 0;
}

}  // namespace mp::detail
