// Internal: what the Pool's parent and workers share, and the byte ring that carries
// tasks and results. Not installed.
//
// One SharedRegion holds a PoolControl followed, for each worker slot, by a
// WorkerSlot, the inbox's bytes and the outbox's bytes. Each ring has exactly one
// writer and one reader: the inbox is written by the parent and read by the worker,
// the outbox the other way. Records are [u64 length][bytes]; a record longer than
// the ring streams through it (the reader copies it out piece by piece).
//
// Sleeping (no unbounded spinning): every wait is the park protocol of
// <mp/detail/park.hpp> on a ParkWord of this layout. A worker waits for bytes in its
// inbox on `inbox.data_park` and for room in its outbox on `outbox.space_park`; the
// parent wakes it after writing (or reading) with unpark_all. On the parent's side two
// kinds of thread wait for a worker's news: callers waiting for a result (get(), map())
// park on the futex `PoolControl::caller_park`, and the pool's thread on
// `PoolControl::thread_park`, whose sleep is a poll() of the pool's eventfd and the
// zygote's pidfd (its death is news no worker can tell). A worker that published a
// result unparks both; each costs a load while nobody waits there.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <type_traits>
#include <vector>

#include "mp/detail/park.hpp"
#include "mp/serialize.hpp"

namespace mp::detail {

struct RingControl {
    alignas(64) std::atomic<std::uint64_t> write_pos;  // bytes ever written (writer only)
    ParkWord data_park;                                // the reader waits here for bytes
    alignas(64) std::atomic<std::uint64_t> read_pos;   // bytes ever read (reader only)
    ParkWord space_park;                               // the writer waits here for room
};
static_assert(std::is_standard_layout_v<RingControl> && sizeof(RingControl) == 128 &&
                  offsetof(RingControl, read_pos) == 64,
              "RingControl: the writer's and the reader's words live on separate cache lines");

/// Per worker slot: what the parent needs to know after the worker died.
struct WorkerSlot {
    // kNew, then kInitializing while the initializer runs, kReady once it returned.
    static constexpr std::uint32_t kNew = 0;
    static constexpr std::uint32_t kInitializing = 1;
    static constexpr std::uint32_t kReady = 2;
    alignas(64) std::atomic<std::uint32_t> ready;
    std::atomic<std::uint32_t> busy;  // 1 while the worker runs a task
    RingControl inbox;
    RingControl outbox;
};
static_assert(std::is_standard_layout_v<WorkerSlot> && sizeof(WorkerSlot) == 320 &&
                  offsetof(WorkerSlot, inbox) == 64,
              "WorkerSlot layout");

struct PoolControl {
    alignas(64) ParkWord thread_park;          // the pool's thread (woken through the eventfd)
    ParkWord caller_park;                      // callers waiting for a result (futex)
    std::atomic<std::uint32_t> zygote_events;  // bumped by the zygote after each message it sends
};
static_assert(std::is_standard_layout_v<PoolControl> && sizeof(PoolControl) == 64,
              "PoolControl layout");

/// Every task in a worker's inbox holds a ticket: an entry of the shared ticket table,
/// a 32-bit word (generation << 2 | status). A worker runs a task only after it moved
/// the ticket from queued to running with a CAS; the parent takes a task back (to give
/// it to an idle worker, "work stealing") by moving it from queued to revoked with a
/// CAS. Exactly one of the two wins, so a task never runs twice, and after a worker
/// died the table says which of its tasks it was running.
namespace ticket {
inline constexpr std::uint32_t kQueued = 1;
inline constexpr std::uint32_t kRunning = 2;
inline constexpr std::uint32_t kRevoked = 3;
constexpr std::uint32_t pack(std::uint32_t gen, std::uint32_t status) noexcept {
    return (gen << 2) | status;
}
}  // namespace ticket

/// The task record's fixed part (after the u64 length).
struct TaskHeader {
    static constexpr std::uint32_t kTask = 1;
    static constexpr std::uint32_t kStop = 2;
    static constexpr std::uint32_t kTaskWithFds = 3;  // a task whose fds come beside the record
    std::uint32_t kind = kTask;
    std::uint32_t callable_size = 0;
    std::uint64_t trampoline_module = 0;
    std::uint64_t trampoline_offset = 0;
    std::uint32_t ticket = 0;
    std::uint32_t generation = 0;
};
static_assert(std::is_trivially_copyable_v<TaskHeader> && sizeof(TaskHeader) == 32,
              "TaskHeader layout");

/// The record that tells a worker to end: [u64 length][TaskHeader of kind kStop].
inline Bytes stop_record() {
    Bytes rec(sizeof(std::uint64_t) + sizeof(TaskHeader));
    std::uint64_t len = sizeof(TaskHeader);
    TaskHeader h;
    h.kind = TaskHeader::kStop;
    std::memcpy(rec.data(), &len, sizeof len);
    std::memcpy(rec.data() + sizeof len, &h, sizeof h);
    return rec;
}

/// The result record's fixed part (after the u64 length); a frame follows.
struct ResultHeader {
    static constexpr std::uint32_t kOk = 1;         // frame of the result
    static constexpr std::uint32_t kError = 2;      // frame of pair<type name, message>
    static constexpr std::uint32_t kInitError = 3;  // the initializer threw (same frame)
    static constexpr std::uint32_t kLost = 4;       // a relay's worker died running it (same frame)
    std::uint32_t kind = kOk;
    std::uint32_t ticket = 0;
    std::uint32_t generation = 0;
    std::uint32_t pad = 0;
    std::uint64_t started_ns = 0;  // CLOCK_MONOTONIC when the task started in the worker
    std::uint64_t ended_ns = 0;    // and when it ended (for traces)
};
static_assert(std::is_trivially_copyable_v<ResultHeader> && sizeof(ResultHeader) == 32,
              "ResultHeader layout");

/// A process-local view of one ring. `capacity` is a power of two.
class Ring {
  public:
    Ring() = default;
    Ring(RingControl* c, std::byte* data, std::size_t capacity)
        : c_(c), data_(data), cap_(capacity) {}

    [[nodiscard]] RingControl& control() const noexcept { return *c_; }

    /// Reader side: bytes waiting.
    [[nodiscard]] std::size_t readable() const noexcept {
        return static_cast<std::size_t>(c_->write_pos.load(std::memory_order_acquire) -
                                        c_->read_pos.load(std::memory_order_relaxed));
    }
    /// Writer side: room left.
    [[nodiscard]] std::size_t writable() const noexcept {
        return cap_ - static_cast<std::size_t>(c_->write_pos.load(std::memory_order_relaxed) -
                                               c_->read_pos.load(std::memory_order_acquire));
    }

    /// Writes up to n bytes; returns how many fit.
    std::size_t write_some(const std::byte* p, std::size_t n) noexcept {
        std::uint64_t w = c_->write_pos.load(std::memory_order_relaxed);
        std::size_t room =
            cap_ - static_cast<std::size_t>(w - c_->read_pos.load(std::memory_order_acquire));
        if (n > room) n = room;
        if (n == 0) return 0;
        std::size_t at = static_cast<std::size_t>(w) & (cap_ - 1);
        std::size_t first = n < cap_ - at ? n : cap_ - at;
        std::memcpy(data_ + at, p, first);
        std::memcpy(data_, p + first, n - first);
        c_->write_pos.store(w + n, std::memory_order_release);
        return n;
    }

    /// Reads up to n bytes; returns how many there were.
    std::size_t read_some(std::byte* p, std::size_t n) noexcept {
        std::uint64_t r = c_->read_pos.load(std::memory_order_relaxed);
        std::size_t avail =
            static_cast<std::size_t>(c_->write_pos.load(std::memory_order_acquire) - r);
        if (n > avail) n = avail;
        if (n == 0) return 0;
        std::size_t at = static_cast<std::size_t>(r) & (cap_ - 1);
        std::size_t first = n < cap_ - at ? n : cap_ - at;
        std::memcpy(p, data_ + at, first);
        std::memcpy(p + first, data_, n - first);
        c_->read_pos.store(r + n, std::memory_order_release);
        return n;
    }

    /// Resets an unused ring (no reader or writer alive).
    void reset() noexcept {
        c_->write_pos.store(0);
        c_->read_pos.store(0);
        c_->data_park.word.store(0);
        c_->space_park.word.store(0);
    }

  private:
    RingControl* c_ = nullptr;
    std::byte* data_ = nullptr;
    std::size_t cap_ = 0;
};

/// The region's layout: the PoolControl, the ticket table (`tickets` words), then for
/// each of `workers` slots a WorkerSlot and two rings of `ring_bytes`.
struct PoolLayout {
    std::size_t workers = 0;
    std::size_t ring_bytes = 0;
    std::size_t tickets = 0;

    [[nodiscard]] std::size_t slot_stride() const noexcept {
        return sizeof(WorkerSlot) + 2 * ring_bytes;
    }
    [[nodiscard]] std::size_t slots_at() const noexcept {
        return (4096 + tickets * sizeof(std::uint32_t) + 4095) / 4096 * 4096;
    }
    [[nodiscard]] std::size_t total() const noexcept {
        return slots_at() + workers * slot_stride();
    }
    [[nodiscard]] PoolControl* control(void* base) const noexcept {
        return static_cast<PoolControl*>(base);
    }
    [[nodiscard]] std::atomic<std::uint32_t>* ticket_table(void* base) const noexcept {
        return reinterpret_cast<std::atomic<std::uint32_t>*>(static_cast<std::byte*>(base) + 4096);
    }
    [[nodiscard]] WorkerSlot* slot(void* base, std::size_t i) const noexcept {
        return reinterpret_cast<WorkerSlot*>(static_cast<std::byte*>(base) + slots_at() +
                                             i * slot_stride());
    }
    [[nodiscard]] Ring inbox(void* base, std::size_t i) const noexcept {
        auto* s = slot(base, i);
        return Ring(&s->inbox, reinterpret_cast<std::byte*>(s) + sizeof(WorkerSlot), ring_bytes);
    }
    [[nodiscard]] Ring outbox(void* base, std::size_t i) const noexcept {
        auto* s = slot(base, i);
        return Ring(&s->outbox, reinterpret_cast<std::byte*>(s) + sizeof(WorkerSlot) + ring_bytes,
                    ring_bytes);
    }
};

struct WorkerConfig;

/// Runs in a worker forked by the zygote: serves tasks from slot `index` until told to
/// stop, until the configured number of tasks, or until the zygote `zygote` is gone.
/// `fd_sock` is its end of the socket the parent sends tasks' fds on. Returns the exit code.
int shm_worker_main(void* region, const PoolLayout& layout, std::size_t index, int event_fd,
                    const WorkerConfig& config, pid_t zygote, int fd_sock);

struct TicketId;
/// The fds of a task marked kTaskWithFds, sent beside the ring (pool_transport_shm.cpp):
/// the parent's send_task_fds writes one message per such task, before its record; the
/// worker's recv_task_fds reads it (a message for another ticket is dropped; false if the
/// socket failed). send_task_fds never blocks: 0, or the errno (EAGAIN: the socket is full).
int send_task_fds(int sock, const TicketId& ticket, std::span<const int> fds) noexcept;
bool recv_task_fds(int sock, const TicketId& ticket, std::vector<int>& fds) noexcept;

/// Builds a result record [u64 length][ResultHeader][frame] in `out`.
void begin_result(Bytes& out, std::uint32_t kind, std::uint32_t ticket, std::uint32_t generation);
void end_result(Bytes& out);

/// CLOCK_MONOTONIC now, in ns (the clock of steady_clock, the same in every process).
std::uint64_t monotonic_ns() noexcept;

}  // namespace mp::detail
