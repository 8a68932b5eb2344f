// The byte ring under mp::Queue (declared in mp/detail/byte_ring.hpp).
//
// Layout of the shared mapping (one SharedRegion):
//
//   page 0   RingShared: constants; the producer side and the consumer side (each a
//            lock word plus the state it guards, on cache lines of their own);
//            `head` and `tail` (64-bit byte positions that only grow) with the
//            record counters, each on its own line; the rarely written
//            "somebody sleeps" flags on a line that stays in every reader's cache;
//            the futex words.
//   page 1.. the ring: capacity bytes, a power of two. Position p lives at
//            p & (capacity - 1).
//
// Records are split into pieces; a piece is an 8-byte PieceHeader {len, flags} and
// len bytes, padded to 8. A record of up to capacity/4 bytes is one piece
// (FIRST|LAST); a longer one is several, written as room frees up. A piece never
// wraps: a PAD piece fills the end of the ring when needed.
//
// Locking: the producer lock is held for the whole of a put (so pieces of two
// records never interleave), the consumer lock for the whole of a get (so one
// consumer reassembles one record). Producers publish `head` with a release store,
// consumers `tail`. Each side keeps a cached copy of the other side's index under
// its lock and reads the real one only when the cache says "full" or "empty", so
// in a stream the index lines move between CPUs once per batch, not per record.
//
// Sleeping: only the holder of a side's lock ever waits for the other side (room
// for a producer, data for a consumer); it sets a flag, re-checks, and sleeps on a
// futex word; the other side issues the futex wake only when it sees the flag
// (a seq_cst fence on both sides makes the flag/index pair a Dekker handshake).
// Before sleeping a waiter spins (kSpin for data or room, kLockSpin for a lock, as a
// lock is held for ~0.1 us unless its holder was preempted), but only if the peer
// that will end the wait last ran on another CPU (each side's lock holder leaves its
// CPU number as a hint) and recent spins in this thread paid off: spinning against a
// peer on one's own CPU only delays it (see shared/anchors/README.md). The waker
// clears the flag it saw, so a sleeper costs one futex_wake however many records
// are published before it runs; on x86 the unlock's xchg serves as the waker's fence.
//
// Crash recovery (a process SIGKILLed at any instruction):
//  * A lock is a futex word holding its holder's pid (CAS to take, xchg to give:
//    half the cost of a robust pthread mutex, which keeps a per-thread list). A
//    waiter sleeps in slices of kLockSlice; after each it checks that the holder's
//    process still exists (a pidfd: a zombie counts as gone). If not, it takes the
//    lock over and repairs the side's state first. Limits: a dead holder whose pid
//    is already reused by a new process looks alive (the kernel hands out pids in
//    increasing order, so this needs the counter to wrap around pid_max between
//    the death and the next check); a thread that exits
//    while holding a lock (not a crash: its process lives) is not detected. The pid
//    is cached per process and reset after fork() by a pthread_atfork handler, so a
//    child made with a raw clone() must not use a queue.
//  * Nothing is visible before its release store of head/tail, and a record is
//    counted (put_count/got_count) in the same "commit": the committer first
//    writes the target index and counts into its side, then stores the index,
//    then the counts. A recoverer that finds a commit under way and the index at
//    its target stores the counts (idempotent); otherwise nothing happened.
//  * A producer that dies (or times out) in the middle of a multi-piece record
//    leaves a FIRST piece without its LAST. A consumer holding a partial record
//    drops it when it meets the next FIRST piece, or, when the ring stays empty,
//    probes the producer lock every kProbeSlice: if it can take it (the producer
//    released it or died) and the ring is still empty, nobody will finish the
//    record and the partial record is dropped. No partial record is delivered.
//  * A consumer that dies in the middle of a multi-piece record leaves pieces
//    without a FIRST; the next consumer discards such orphan pieces and counts the
//    record as taken (and, for JoinableQueue, as lost: join() does not wait for it).
//    A consumer that dies before its commit leaves the record in the ring for the
//    next consumer; one that dies after it takes the record with it.
#include "mp/detail/byte_ring.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "mp/detail/futex.hpp"
#include "mp/errors.hpp"
#include "mp/process.hpp"
#include "system.hpp"

namespace mp::detail {

namespace {

constexpr std::uint32_t kMagic = 0x5152504d;  // "MPRQ"
constexpr std::uint32_t kFirst = 1;
constexpr std::uint32_t kLast = 2;
constexpr std::uint32_t kPad = 4;
constexpr std::uint64_t kMinRing = 4096;
constexpr std::uint64_t kMaxRing = std::uint64_t{1} << 40;
constexpr std::uint64_t kMinPiece = 64;
constexpr std::uint64_t kMaxPiece = std::uint64_t{1}
                                    << 30;  // the smallest piece of a long record worth writing
constexpr std::size_t kHeaderBytes = 4096;
constexpr std::size_t kMaxParts = 3;
constexpr auto kSpin = std::chrono::microseconds(20);     // waiting for the other side
constexpr auto kLockSpin = std::chrono::microseconds(2);  // a lock is held ~0.1 us unless its
                                                          // holder was preempted or waits
constexpr auto kProbeSlice = std::chrono::milliseconds(10);
constexpr auto kNowaitLockGrace = std::chrono::milliseconds(10);

struct PieceHeader {
    std::uint32_t len;    // payload bytes that follow
    std::uint32_t flags;  // kFirst | kLast | kPad
};
static_assert(sizeof(PieceHeader) == 8 && std::is_trivially_copyable_v<PieceHeader>,
              "a piece header is 8 raw bytes");

constexpr std::uint64_t align8(std::uint64_t n) {
    return (n + 7) & ~std::uint64_t{7};
}

}  // namespace

/// One side (producers or consumers): its lock and the state that lock guards.
struct alignas(64) RingSide {
    std::atomic<std::uint32_t> lock;  // 0: free; else the holder's pid, | kWaiters if some sleep
    std::atomic<std::int32_t> cpu;    // CPU of the latest holder (spin hint for waiters)
    std::uint32_t committing;         // 1 between the start and the end of a commit
    std::uint64_t cached;             // producer: a recent tail; consumer: a recent head
    std::uint64_t cached_count;       // producer: a recent got_count (for maxsize)
    std::uint64_t commit_pos;         // the index a commit stores
    std::uint64_t commit_count;       // put_count / got_count after that commit
    std::uint64_t commit_lost;        // consumer: lost_count after that commit
};

/// The shared header at the start of the mapping.
struct RingShared {
    // constants, written once by the creator
    std::uint32_t magic;
    std::uint32_t reserved;
    std::uint64_t capacity;   // ring bytes, a power of two
    std::uint64_t maxsize;    // whole records allowed in the ring; 0: no limit
    std::uint64_t max_piece;  // bytes of the largest piece, header included

    RingSide producer;
    RingSide consumer;

    alignas(64) std::atomic<std::uint64_t> head;  // producers publish
    std::atomic<std::uint64_t> put_count;         // whole records ever committed
    alignas(64) std::atomic<std::uint64_t> tail;  // consumers publish
    std::atomic<std::uint64_t> got_count;         // whole records ever taken (or discarded)
    std::atomic<std::uint64_t> lost_count;        // records discarded after a consumer died
    // read on every put/get, written only around a sleep: stays in every cache
    alignas(64) std::atomic<std::uint32_t> data_waiting;  // a consumer sleeps on data_seq
    std::atomic<std::uint32_t> space_waiting;             // a producer sleeps on space_seq
    alignas(64) std::atomic<std::uint32_t> data_seq;
    std::atomic<std::uint32_t> space_seq;
    std::atomic<std::uint32_t> join_seq;
    std::atomic<std::uint32_t> joiners;
    std::atomic<std::uint64_t> done_count;  // task_done() calls
};

static_assert(std::is_standard_layout_v<RingSide> && std::is_standard_layout_v<RingShared>,
              "the queue header lives in shared memory: standard layout, no pointers");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                  std::atomic<std::int32_t>::is_always_lock_free,
              "shared counters must be lock-free to work across processes");
static_assert(offsetof(RingShared, producer) % 64 == 0 &&
                  offsetof(RingShared, consumer) % 64 == 0 &&
                  offsetof(RingShared, head) % 64 == 0 && offsetof(RingShared, tail) % 64 == 0 &&
                  offsetof(RingShared, data_waiting) % 64 == 0 &&
                  offsetof(RingShared, data_seq) % 64 == 0,
              "each hot index starts its own cache line");
static_assert(offsetof(RingShared, consumer) - offsetof(RingShared, producer) >= 64 &&
                  offsetof(RingShared, head) - offsetof(RingShared, consumer) >= 64,
              "the two sides do not share a cache line");
static_assert(sizeof(RingShared) <= kHeaderBytes, "the header fits its page; the ring follows");

namespace {

// ---- spinning ------------------------------------------------------------------------------

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

// Whether spins have been paying off in this thread: after a spin that ended in a
// sleep anyway, the next 2^k - 1 waits skip the spin (k grows with each failure, up
// to 8); a spin that succeeds resets k. Bounds the CPU spent spinning in vain.
thread_local unsigned t_spin_fails = 0;
thread_local unsigned t_spin_skip = 0;

/// Spinning can only help if someone else can run meanwhile: the peer that ends the
/// wait last ran on another CPU, there is more than one, and spins have been paying off.
bool spin_worth_it(const std::atomic<std::int32_t>& peer_cpu) {
    static const int cpus = cpu_count();
    if (cpus < 2) return false;
    if (t_spin_skip != 0) {
        --t_spin_skip;
        return false;
    }
    int peer = peer_cpu.load(std::memory_order_relaxed);
    int me = ::sched_getcpu();
    return peer >= 0 && me >= 0 && peer != me;
}

/// Polls `ready` for up to `spin`; true once it holds.
template <class Pred>
bool spin_until(Pred ready, Clock::duration spin = kSpin) {
    auto end = Clock::now() + spin;
    for (;;) {
        for (int i = 0; i < 32; ++i) {
            if (ready()) {
                t_spin_fails = 0;
                return true;
            }
            cpu_relax();
        }
        if (Clock::now() >= end) break;
    }
    if (ready()) return true;
    t_spin_fails = std::min(t_spin_fails + 1, 8u);
    t_spin_skip = (1u << t_spin_fails) - 1;
    return false;
}

/// Records the CPU of a side's lock holder (a hint for the other side's spin); every
/// 64th lock is enough to follow migrations, and cheaper than every time.
thread_local unsigned t_locks = 0;
void note_cpu(RingSide& s, bool now) noexcept {
    if (now || (t_locks++ & 63) == 0) s.cpu.store(::sched_getcpu(), std::memory_order_relaxed);
}

// ---- recovery ------------------------------------------------------------------------------

/// Finishes or forgets the commit a dead holder of `side` had under way.
void finish_commit(RingSide& side, std::atomic<std::uint64_t>& index,
                   std::atomic<std::uint64_t>& count, std::atomic<std::uint64_t>* lost) noexcept {
    if (side.committing != 0 && index.load(std::memory_order_acquire) == side.commit_pos) {
        count.store(side.commit_count, std::memory_order_release);
        if (lost != nullptr) lost->store(side.commit_lost, std::memory_order_release);
    }
    side.committing = 0;
}

void recover_producer(RingShared& h) noexcept {
    finish_commit(h.producer, h.head, h.put_count, nullptr);
    h.space_waiting.store(0, std::memory_order_relaxed);
}

void recover_consumer(RingShared& h) noexcept {
    finish_commit(h.consumer, h.tail, h.got_count, &h.lost_count);
    h.data_waiting.store(0, std::memory_order_relaxed);
}

// ---- locks ---------------------------------------------------------------------------------

constexpr std::uint32_t kWaiters = 0x80000000u;  // pids are below 2^22
constexpr auto kLockSlice = std::chrono::milliseconds(20);

// This process's pid, cached (getpid() is a system call); a fork child forgets it.
std::atomic<std::uint32_t> g_pid{0};
const bool g_pid_reset_on_fork =
    ::pthread_atfork(nullptr, nullptr, [] { g_pid.store(0, std::memory_order_relaxed); }) == 0;

std::uint32_t self_pid() noexcept {
    std::uint32_t p = g_pid.load(std::memory_order_relaxed);
    if (p == 0 || !g_pid_reset_on_fork) {
        p = static_cast<std::uint32_t>(::getpid());
        g_pid.store(p, std::memory_order_relaxed);
    }
    return p;
}

/// True if process `pid` has ended (a zombie counts as ended). A pidfd sees a zombie
/// as ended; without pidfds, kill(pid, 0) sees it only once it is reaped.
bool process_gone(std::uint32_t pid) noexcept {
    int fd = pidfd_open(static_cast<pid_t>(pid));
    if (fd < 0) {
        if (errno == ESRCH) return true;
        return ::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH;
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, 0);
    close_fd(fd);
    return r > 0;
}

/// Takes a side's lock (a futex word holding the holder's pid), repairing the side if
/// its holder died: a sleeper wakes every kLockSlice to check that the holder lives.
/// False if `deadline` passed.
bool lock_side(RingShared& h, RingSide& s, void (*recover)(RingShared&) noexcept,
               ByteRing::Deadline deadline) {
    const std::uint32_t me = self_pid();
    std::uint32_t cur = 0;
    if (s.lock.compare_exchange_strong(cur, me, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        note_cpu(s, false);
        return true;
    }
    if (spin_worth_it(s.cpu)) {
        // Test, then test-and-set, with growing pauses: a holder that puts again at
        // once keeps the line in its cache instead of losing it to every poll.
        unsigned pauses = 1;
        if (spin_until(
                [&] {
                    for (unsigned k = 0; k < pauses; ++k) cpu_relax();
                    pauses = std::min(pauses * 2, 32u);
                    std::uint32_t free = 0;
                    return s.lock.load(std::memory_order_relaxed) == 0 &&
                           s.lock.compare_exchange_strong(free, me, std::memory_order_acquire,
                                                          std::memory_order_relaxed);
                },
                kLockSpin)) {
            note_cpu(s, true);
            return true;
        }
    }
    for (;;) {
        cur = s.lock.load(std::memory_order_relaxed);
        if (cur == 0) {  // others may sleep: keep the waiters bit so our unlock wakes one
            if (s.lock.compare_exchange_weak(cur, me | kWaiters, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
                break;
            }
            continue;
        }
        if ((cur & kWaiters) == 0) {
            if (!s.lock.compare_exchange_weak(cur, cur | kWaiters, std::memory_order_relaxed))
                continue;
            cur |= kWaiters;
        }
        auto now = Clock::now();
        if (deadline && now >= *deadline) return false;
        auto until = now + kLockSlice;
        if (deadline && *deadline < until) until = *deadline;
        if (!futex_wait(s.lock, cur, until) && s.lock.load(std::memory_order_relaxed) == cur &&
            process_gone(cur & ~kWaiters)) {
            // The holder died holding the lock: take it over and repair the side.
            if (s.lock.compare_exchange_strong(cur, me | kWaiters, std::memory_order_acquire,
                                               std::memory_order_relaxed)) {
                recover(h);
                break;
            }
        }
    }
    note_cpu(s, true);
    return true;
}

void unlock_side(RingSide& s) noexcept {
    if ((s.lock.exchange(0, std::memory_order_seq_cst) & kWaiters) != 0) {
        try {
            futex_wake(s.lock, 1);
        } catch (...) {  // cannot fail on a valid word; a sleeper re-checks within kLockSlice
        }
    }
}

/// The start of put and get: takes the side's lock. With `nowait`, gives up at once
/// if `hopeless` (full / empty), waits for the lock only briefly, and turns the
/// deadline for room or data into "now".
bool enter_side(RingShared& h, RingSide& s, void (*recover)(RingShared&) noexcept,
                ByteRing::Deadline& deadline, bool nowait, bool hopeless) {
    if (!nowait) return lock_side(h, s, recover, deadline);
    if (hopeless) return false;
    deadline = Clock::now();
    return lock_side(h, s, recover, *deadline + kNowaitLockGrace);
}

class SideGuard {
  public:
    explicit SideGuard(RingSide& s) : s_(&s) {}
    SideGuard(const SideGuard&) = delete;
    SideGuard& operator=(const SideGuard&) = delete;
    ~SideGuard() { release(); }
    void release() noexcept {
        if (s_ != nullptr) unlock_side(*s_);
        s_ = nullptr;
    }

  private:
    RingSide* s_;
};

// ---- sleeping and waking -------------------------------------------------------------------

/// Called after publishing: wakes the other side's sleeper, if there is one. The
/// first caller to see the flag clears it, so a sleeper costs one wake-up, not one
/// per record published before it runs (it sets the flag again if it sleeps again).
/// `just_unlocked`: the caller released its side's lock after publishing. On x86
/// the unlock is an xchg, a full barrier, which orders the
/// publication before the flag check as the fence would (Linux's
/// smp_mb__after_atomic idea); this saves one fence per put and per get.
void wake_if_waiting(std::atomic<std::uint32_t>& waiting, std::atomic<std::uint32_t>& seq,
                     bool just_unlocked) {
#if defined(__x86_64__) || defined(__i386__)
    if (just_unlocked) {
        std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
        std::atomic_thread_fence(std::memory_order_seq_cst);
    }
#else
    (void)just_unlocked;
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
    if (waiting.load(std::memory_order_relaxed) != 0 &&
        waiting.exchange(0, std::memory_order_acq_rel) != 0) {
        seq.fetch_add(1, std::memory_order_release);
        futex_wake_all(seq);
    }
}

/// Sleeps (after a spin where that helps) until `ready()` or `deadline`; the holder of
/// one side's lock waiting for the other side. Returns ready().
template <class Pred>
bool wait_for(std::atomic<std::uint32_t>& waiting, std::atomic<std::uint32_t>& seq,
              const std::atomic<std::int32_t>& peer_cpu, ByteRing::Deadline deadline, Pred ready) {
    if (ready()) return true;
    if (deadline && Clock::now() >= *deadline) return false;
    if (spin_worth_it(peer_cpu) && spin_until(ready)) return true;
    for (;;) {
        waiting.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        std::uint32_t s = seq.load(std::memory_order_acquire);
        bool ok = ready();
        if (!ok) {
            bool in_time = futex_wait(seq, s, deadline);
            ok = ready();
            if (!ok && !in_time) {
                waiting.store(0, std::memory_order_relaxed);
                return false;
            }
        }
        if (ok) {
            waiting.store(0, std::memory_order_relaxed);
            return true;
        }
    }
}

/// Copies `n` bytes from offset `from` of the concatenation of `parts` to `dst`.
void gather(std::byte* dst, std::span<const std::span<const std::byte>> parts, std::uint64_t from,
            std::uint64_t n) {
    for (const auto& part : parts) {
        if (n == 0) return;
        if (from >= part.size()) {
            from -= part.size();
            continue;
        }
        std::uint64_t k = std::min<std::uint64_t>(n, part.size() - from);
        std::memcpy(dst, part.data() + from, k);
        dst += k;
        n -= k;
        from = 0;
    }
}

/// This thread's buffer for reassembling long records: reused, so a stream of large
/// items does not map and unmap fresh memory for each; released past 16 MiB.
class Reassembly {
  public:
    std::byte* reserve(std::size_t n) {
        if (n > capacity_) {
            data_.reset();
            data_ = std::make_unique_for_overwrite<std::byte[]>(n);
            capacity_ = n;
        }
        return data_.get();
    }
    void trim() noexcept {
        if (capacity_ > (std::size_t{16} << 20)) {
            data_.reset();
            capacity_ = 0;
        }
    }

  private:
    std::unique_ptr<std::byte[]> data_;
    std::size_t capacity_ = 0;
};
thread_local Reassembly t_record;

std::string closed_message(const char* what, const char* op) {
    return std::string("mp::") + what + "::" + op +
           ": the queue is closed in this process (close() was called on a handle to it)";
}

}  // namespace

// ---- ByteRing ------------------------------------------------------------------------------

ByteRing::ByteRing(std::size_t maxsize, std::size_t ring_bytes, const char* what) : what_(what) {
    if (ring_bytes > kMaxRing) {
        throw ValueError(std::string("mp::") + what + ": ring_bytes " + std::to_string(ring_bytes) +
                         " is larger than the limit of 1 TiB");
    }
    std::uint64_t cap = std::bit_ceil(std::max<std::uint64_t>(ring_bytes, kMinRing));
    region_ = SharedRegion(kHeaderBytes + cap);
    auto* h = new (region_.data()) RingShared{};
    h->magic = kMagic;
    h->capacity = cap;
    h->maxsize = maxsize;
    h->max_piece = std::min<std::uint64_t>(cap / 4, kMaxPiece);  // a piece's length is 32-bit
    for (RingSide* s : {&h->producer, &h->consumer}) s->cpu.store(-1, std::memory_order_relaxed);
}

RingShared& ByteRing::shared(const char* op) const {
    void* p = region_.data();
    if (p == nullptr) throw ValueError(closed_message(what_, op));
    return *static_cast<RingShared*>(p);
}

std::size_t ByteRing::qsize() const {
    RingShared& h = shared("qsize");
    std::uint64_t got = h.got_count.load(std::memory_order_acquire);
    std::uint64_t put = h.put_count.load(std::memory_order_acquire);
    return put > got ? put - got : 0;
}

std::size_t ByteRing::maxsize() const {
    return shared("maxsize").maxsize;
}
std::size_t ByteRing::ring_bytes() const {
    return shared("ring_bytes").capacity;
}

bool ByteRing::put(std::span<const std::span<const std::byte>> parts, Clock::time_point until,
                   bool nowait) {
    RingShared& h = shared("put");
    Deadline deadline = until == kForever ? Deadline() : Deadline(until);
    if (parts.size() > kMaxParts) throw ValueError("ByteRing::put: at most 3 parts");
    if (!enter_side(h, h.producer, recover_producer, deadline, nowait,
                    nowait && h.maxsize != 0 && qsize() >= h.maxsize)) {
        return false;
    }
    SideGuard guard(h.producer);
    RingSide& p = h.producer;
    std::byte* ring = reinterpret_cast<std::byte*>(&h) + kHeaderBytes;
    const std::uint64_t cap = h.capacity;
    const std::uint64_t mask = cap - 1;
    const std::uint64_t put_count = h.put_count.load(std::memory_order_relaxed);

    auto notify = [&](bool just_unlocked) {
        wake_if_waiting(h.data_waiting, h.data_seq, just_unlocked);
    };

    if (h.maxsize != 0 && put_count - p.cached_count >= h.maxsize) {
        auto slot = [&] {
            p.cached_count = h.got_count.load(std::memory_order_acquire);
            return put_count - p.cached_count < h.maxsize;
        };
        if (!wait_for(h.space_waiting, h.space_seq, h.consumer.cpu, deadline, slot)) return false;
    }

    std::uint64_t pos = h.head.load(std::memory_order_relaxed);
    // Waits until `need` bytes after pos are free.
    auto room = [&](std::uint64_t need) {
        if (cap - (pos - p.cached) >= need) return true;
        return wait_for(h.space_waiting, h.space_seq, h.consumer.cpu, deadline, [&] {
            p.cached = h.tail.load(std::memory_order_acquire);
            return cap - (pos - p.cached) >= need;
        });
    };
    auto write_header = [&](std::uint64_t at, std::uint64_t len, std::uint32_t flags) {
        PieceHeader ph{static_cast<std::uint32_t>(len), flags};
        std::memcpy(ring + (at & mask), &ph, sizeof ph);
    };
    auto commit = [&] {
        p.commit_pos = pos;
        p.commit_count = put_count + 1;
        p.committing = 1;
        h.head.store(pos, std::memory_order_release);
        h.put_count.store(put_count + 1, std::memory_order_release);
        p.committing = 0;
    };

    std::uint64_t total = 0;
    for (const auto& part : parts) total += part.size();
    const std::uint64_t max_payload = h.max_piece - sizeof(PieceHeader);
    if (total <= max_payload) {  // one piece: the common case
        std::uint64_t need = sizeof(PieceHeader) + align8(total);
        std::uint64_t to_end = cap - (pos & mask);
        if (!room(to_end < need ? to_end + need : need)) return false;
        if (to_end < need) {
            write_header(pos, to_end - sizeof(PieceHeader), kPad);
            pos += to_end;
        }
        gather(ring + (pos & mask) + sizeof(PieceHeader), parts, 0, total);
        write_header(pos, total, kFirst | kLast);
        pos += need;
        commit();
        guard.release();
        notify(true);
        return true;
    }

    // A long record: its first piece starts with the record's size (8 bytes).
    const std::uint64_t stream = sizeof(std::uint64_t) + total;
    std::byte size_bytes[sizeof(std::uint64_t)];
    std::memcpy(size_bytes, &total, sizeof total);
    std::span<const std::byte> all[kMaxParts + 1] = {size_bytes};
    std::copy(parts.begin(), parts.end(), all + 1);
    const std::span<const std::span<const std::byte>> stream_parts(all, parts.size() + 1);
    std::uint64_t done = 0;
    while (done < stream) {
        std::uint64_t to_end = cap - (pos & mask);
        std::uint64_t want = std::min(stream - done, max_payload);
        std::uint64_t need = sizeof(PieceHeader) + align8(want);
        if (to_end < need) {
            if (to_end >= sizeof(PieceHeader) + kMinPiece) {
                want = to_end - sizeof(PieceHeader);
                need = to_end;
            } else {
                if (!room(to_end)) break;
                write_header(pos, to_end - sizeof(PieceHeader), kPad);
                pos += to_end;
                continue;
            }
        }
        if (!room(need)) break;
        gather(ring + (pos & mask) + sizeof(PieceHeader), stream_parts, done, want);
        std::uint32_t flags = (done == 0 ? kFirst : 0) | (done + want == stream ? kLast : 0);
        write_header(pos, want, flags);
        pos += need;
        done += want;
        if (done == stream) {
            commit();
            guard.release();
            notify(true);
            return true;
        }
        h.head.store(pos, std::memory_order_release);
        notify(false);
    }
    // Out of time in the middle of a record: the pieces already published stay a
    // FIRST without a LAST, which consumers drop. A padding piece written but not
    // yet published is simply overwritten by the next producer.
    guard.release();
    h.data_seq.fetch_add(1,
                         std::memory_order_release);  // let a consumer holding the start look now
    futex_wake_all(h.data_seq);
    return false;
}

bool ByteRing::get(const Sink& sink, Clock::time_point until, bool nowait) {
    RingShared& h = shared("get");
    Deadline deadline = until == kForever ? Deadline() : Deadline(until);
    if (!enter_side(h, h.consumer, recover_consumer, deadline, nowait, nowait && qsize() == 0)) {
        return false;
    }
    SideGuard guard(h.consumer);
    RingSide& c = h.consumer;
    const std::byte* ring = reinterpret_cast<const std::byte*>(&h) + kHeaderBytes;
    const std::uint64_t cap = h.capacity;
    const std::uint64_t mask = cap - 1;
    std::uint64_t t = h.tail.load(std::memory_order_relaxed);
    std::uint64_t published = t;

    auto publish = [&] {
        if (t == published) return;
        h.tail.store(t, std::memory_order_release);
        published = t;
        wake_if_waiting(h.space_waiting, h.space_seq, false);
    };
    // Takes one record off the books; `lost`: discarded because its consumer died;
    // `unlock`: release the consumer lock right after (the record is ours).
    auto commit = [&](bool lost, bool unlock) {
        std::uint64_t got = h.got_count.load(std::memory_order_relaxed) + 1;
        std::uint64_t lost_n = h.lost_count.load(std::memory_order_relaxed) + (lost ? 1 : 0);
        c.commit_pos = t;
        c.commit_count = got;
        c.commit_lost = lost_n;
        c.committing = 1;
        h.tail.store(t, std::memory_order_release);
        published = t;
        h.got_count.store(got, std::memory_order_release);
        if (lost) h.lost_count.store(lost_n, std::memory_order_release);
        c.committing = 0;
        if (unlock) guard.release();
        wake_if_waiting(h.space_waiting, h.space_seq, unlock);
        if (lost && h.joiners.load(std::memory_order_seq_cst) != 0) {
            h.join_seq.fetch_add(1, std::memory_order_release);
            futex_wake_all(h.join_seq);
        }
    };
    // True if a producer may still add to the record we hold the start of: it
    // holds the producer lock, or it released it after publishing more.
    auto producer_may_continue = [&] {
        std::atomic<std::uint32_t>& word = h.producer.lock;
        std::uint32_t cur = word.load(std::memory_order_acquire);
        if (cur != 0 && !process_gone(cur & ~kWaiters)) return true;  // a live producer holds it
        if (!word.compare_exchange_strong(cur, self_pid() | (cur != 0 ? kWaiters : 0),
                                          std::memory_order_acquire, std::memory_order_relaxed)) {
            return true;  // somebody else took it: look again later
        }
        if (cur != 0) recover_producer(h);  // its holder died
        bool more = h.head.load(std::memory_order_acquire) != t;
        unlock_side(h.producer);
        return more;
    };

    // A multi-piece record being received: its bytes go to dst (this thread's
    // reassembly buffer), or, when the sink streams, bytes [skip, record_size) are
    // appended to the sink piece by piece.
    bool receiving = false, streaming = false;
    std::byte* dst = nullptr;
    std::uint64_t record_size = 0, skip = 0, have = 0;

    try {
        for (;;) {
            if (t == c.cached) {
                auto ready = [&] {
                    c.cached = h.head.load(std::memory_order_acquire);
                    return c.cached != t;
                };
                if (!ready()) {
                    publish();
                    if (receiving) {
                        // Holding the start of a record: wait for the rest in slices
                        // (beyond our deadline: the record is in transfer) while a
                        // producer may still finish it.
                        while (!wait_for(h.data_waiting, h.data_seq, h.producer.cpu,
                                         Clock::now() + kProbeSlice, ready)) {
                            if (!producer_may_continue()) break;
                        }
                        if (t == c.cached) {  // nobody will finish it: drop the start
                            receiving = false;
                            continue;
                        }
                    } else if (!wait_for(h.data_waiting, h.data_seq, h.producer.cpu, deadline,
                                         ready)) {
                        return false;
                    }
                }
            }
            PieceHeader ph;
            std::memcpy(&ph, ring + (t & mask), sizeof ph);
            const std::uint64_t at = (t & mask) + sizeof(PieceHeader);
            if (at + ph.len > cap || (ph.flags & ~(kFirst | kLast | kPad)) != 0) {
                throw SerializationError(std::string("mp::") + what_ +
                                         ": corrupt shared ring (a piece header is invalid)");
            }
            const std::uint64_t next = t + sizeof(PieceHeader) + align8(ph.len);
            std::span<const std::byte> piece(ring + at, ph.len);
            if (ph.flags & kPad) {
                t = next;
                continue;
            }
            if (ph.flags & kFirst) {
                receiving = false;  // a producer gave up on the record we held: drop it
                if ((ph.flags & kLast) == 0 &&
                    piece.size() < sizeof(std::uint64_t) + kMinPiece / 2) {
                    throw SerializationError(std::string("mp::") + what_ +
                                             ": corrupt shared ring (short first piece)");
                }
                auto body = (ph.flags & kLast) ? piece : piece.subspan(sizeof(std::uint64_t));
                auto first = body.first(std::min<std::size_t>(body.size(), kMinPiece / 2));
                sink.check(sink.ctx, first);
                if (ph.flags & kLast) {  // a whole record in place: decode it from the ring
                    try {
                        sink.take(sink.ctx, piece);
                    } catch (...) {
                        t = next;
                        commit(false, true);
                        throw;
                    }
                    t = next;
                    commit(false, true);
                    return true;
                }
                // The first piece of a long record starts with the record's size.
                std::memcpy(&record_size, piece.data(), sizeof record_size);
                if (record_size < body.size() || record_size > kMaxRing * 1024) {
                    throw SerializationError(std::string("mp::") + what_ +
                                             ": corrupt shared ring (bad record size)");
                }
                skip = 0;
                streaming = sink.stream_begin != nullptr &&
                            sink.stream_begin(sink.ctx, first, record_size, skip) &&
                            skip <= body.size();
                if (streaming) {
                    sink.stream_append(sink.ctx, body.subspan(skip));
                } else {
                    dst = t_record.reserve(record_size);
                    std::memcpy(dst, body.data(), body.size());
                }
                receiving = true;
                have = body.size();
                t = next;
                publish();
                continue;
            }
            // A continuation piece.
            if (!receiving || have + piece.size() > record_size) {  // an orphan: its consumer died
                receiving = false;
                t = next;
                if (ph.flags & kLast) {
                    commit(true, false);
                } else {
                    publish();
                }
                continue;
            }
            if (streaming) {
                sink.stream_append(sink.ctx, piece);
            } else {
                std::memcpy(dst + have, piece.data(), piece.size());
            }
            have += piece.size();
            t = next;
            if (ph.flags & kLast) {
                commit(false, true);
                if (have != record_size) {
                    throw SerializationError(std::string("mp::") + what_ +
                                             ": a record ended short of the size it announced");
                }
                if (streaming) {
                    sink.take(sink.ctx, {});
                } else {
                    sink.take(sink.ctx, std::span<const std::byte>(dst, record_size));
                    t_record.trim();
                }
                return true;
            }
            publish();
        }
    } catch (...) {
        publish();  // what was skipped stays skipped; a record refused by check() stays
        throw;
    }
}

void ByteRing::task_done() {
    RingShared& h = shared("task_done");
    std::uint64_t done = h.done_count.load(std::memory_order_relaxed);
    for (;;) {
        std::uint64_t settled = done + h.lost_count.load(std::memory_order_acquire);
        if (settled >= h.put_count.load(std::memory_order_acquire)) {
            throw ValueError(std::string("mp::") + what_ +
                             "::task_done: called more times than there were items put");
        }
        if (h.done_count.compare_exchange_weak(done, done + 1, std::memory_order_seq_cst)) break;
    }
    if (h.joiners.load(std::memory_order_seq_cst) != 0) {
        h.join_seq.fetch_add(1, std::memory_order_release);
        futex_wake_all(h.join_seq);
    }
}

bool ByteRing::join(Clock::time_point until) {
    RingShared& h = shared("join");
    Deadline deadline = until == kForever ? Deadline() : Deadline(until);
    auto finished = [&] {
        std::uint64_t settled = h.done_count.load(std::memory_order_seq_cst) +
                                h.lost_count.load(std::memory_order_seq_cst);
        return settled >= h.put_count.load(std::memory_order_seq_cst);
    };
    if (finished()) return true;
    h.joiners.fetch_add(1, std::memory_order_seq_cst);
    bool ok = false;
    try {
        for (;;) {
            std::uint32_t s = h.join_seq.load(std::memory_order_seq_cst);
            if (finished()) {
                ok = true;
                break;
            }
            if (!futex_wait(h.join_seq, s, deadline)) {
                ok = finished();
                break;
            }
        }
    } catch (...) {
        h.joiners.fetch_sub(1, std::memory_order_seq_cst);
        throw;
    }
    h.joiners.fetch_sub(1, std::memory_order_seq_cst);
    return ok;
}

}  // namespace mp::detail
