// A worker rank (rank > 0): serves rank 0's MPI pools, one after the other, until rank
// 0's program ends. With workers_per_rank = 0 the rank is one worker and runs the
// Pool's own worker loop (serve_tasks) over an MPI channel; with N > 0 it relays its
// tasks to a local shared-memory Pool of N workers (hybrid).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mpi/mpi_internal.hpp"
#include "pool_shared.hpp"
#include "pool_transport.hpp"

namespace mp::mpi::detail {

using mp::detail::ResultHeader;
using mp::detail::TaskHeader;
using mp::detail::TicketId;
using mp::detail::WorkerChannel;
using mp::detail::WorkerConfig;

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
    std::optional<Control> left_over;

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
            } else if (m->tag == kTagControl && m->bytes.size() == sizeof(Control)) {
                Control c;
                std::memcpy(&c, m->bytes.data(), sizeof c);
                if (c.kind == Control::kTerminate && c.pool == pool_) {
                    terminated_ = true;
                    gone_ = true;
                    queue_.clear();
                } else if (c.kind == Control::kTerminate) {
                    continue;  // an older pool's
                } else {
                    // kExit or a new pool: this one is over.
                    gone_ = true;
                    terminated_ = true;
                    queue_.clear();
                    left_over = c;
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
    std::optional<Control> next;
    for (;;) {
        Control c;
        if (next) {
            c = *next;
            next.reset();
        } else {
            Message m = inbox.wait();
            if (m.tag != kTagControl || m.bytes.size() != sizeof c) continue;  // a stale batch
            std::memcpy(&c, m.bytes.data(), sizeof c);
        }
        if (c.kind == Control::kExit) exit_job();
        if (c.kind != Control::kOpen) continue;
        RankChannel ch(c.pool, c.slot);
        WorkerConfig config;
        config.maxtasks = static_cast<std::size_t>(c.value);
        int code = mp::detail::serve_tasks(ch, config);
        note_idle();
        ch.leave(code);
        next = ch.left_over;
    }
}

}  // namespace mp::mpi::detail
