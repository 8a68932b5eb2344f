// The byte ring under mp::Queue (declared in mp/detail/byte_ring.hpp).
//
// Layout of the shared mapping (one SharedRegion):
//
//   page 0   RingShared: constants; the producer side and the consumer side (each a
//            lock word plus the state it guards, on cache lines of their own);
//            `head` and `tail` (64-bit stream positions that only grow) with the
//            record counters, each on its own line; the park words (written only
//            around a sleep, so they stay in every reader's cache); the segment table.
//   page 1.. the segments: segment k holds capacity << k bytes (capacity: the first
//            ring, a power of two), at offset capacity * (2^k - 1). The mapping
//            reserves address space for as many segments as half the memory allows;
//            pages are allocated only when written.
//
// The stream: records are split into pieces; a piece is an 8-byte PieceHeader {len,
// flags} and len bytes, padded to 8. A record of up to capacity/4 bytes is one piece
// (FIRST|LAST); a longer one is several, written as room frees up. A piece never
// wraps: a PAD piece fills the end of a segment when needed. A segment starts at the
// stream position seg_start[k]; position p lives at (p - seg_start[k]) mod its size.
//
// Growth: a producer that finds its segment full (after waiting up to kGrowGrace,
// 10 ms, for a consumer at work, i.e. one holding the consumer lock) writes a LINK
// piece (len: the next segment) into the 8 bytes it always keeps free, records
// seg_end[old] = seg_start[new] = the position after the link, and goes on in the
// next larger free segment; a consumer reading a LINK moves to that segment. A
// segment is free when it is not the producers' and the published tail has passed
// its end: nobody will read it again. Every 64th put while grown, the producer links
// back to segment 0 once the backlog is below a quarter of it, and, once it has
// stayed in segment 0 for kKeepGrown (500 ms), gives the pages of the free segments
// back (MADV_REMOVE). With every segment in use (a backlog of half the memory), put
// waits for room.
//
// Locking: the producer lock is held for the whole of a put (so pieces of two
// records never interleave), the consumer lock for the whole of a get (so one
// consumer reassembles one record). Producers publish `head` with a release store,
// consumers `tail`. Each side keeps a cached copy of the other side's index under
// its lock and reads the real one only when the cache says "full" or "empty", so
// in a stream the index lines move between CPUs once per batch, not per record.
//
// Sleeping: only the holder of a side's lock ever waits for the other side (room
// or a slot for a producer, data for a consumer), with the park helper
// (mp/detail/park.hpp: announce, re-check, futex wait; the waker publishes, then
// unparks): data_park and space_park. It spins first only where the waker last ran
// on another CPU and recent spins paid off (kParkSpin for data or room, kLockSpin
// for a lock, as a lock is held for ~0.1 us unless its holder was preempted). On
// x86 the unlock's xchg serves as the waker's fence.
//
// Crash recovery (a process SIGKILLed at any instruction):
//  * A lock is a pid lock (pid_lock.hpp: a futex word holding its holder's pid; a
//    waiter that finds the holder's process gone takes it over), and whoever takes
//    one over from a dead holder repairs the side's state first. Its limits (a
//    reused pid, a thread that exits holding it, raw clone()) are the lock's.
//  * Nothing is visible before its release store of head/tail, and a record is
//    counted (put_count/got_count) in the same "commit": the committer first
//    writes the target index and counts into its side (atomics), sets
//    `committing` (release), stores the index, then the counts, then clears
//    `committing` (each release). A recoverer that finds a commit under way and
//    the index at its target stores the counts (idempotent); otherwise nothing
//    happened. Readers of the counts (qsize, join, task_done) settle a dead
//    committer's side first, so no count stays wrong for want of a next put or get.
//    ByteRing::die_at_commit_step lets a test die at each step of both commits.
//  * A producer that dies (or times out) in the middle of a multi-piece record
//    leaves a FIRST piece without its LAST. A consumer holding a partial record
//    drops it when it meets the next FIRST piece, or, when the ring stays empty,
//    probes the producer lock every kProbeSlice: if it can take it (the producer
//    released it or died) and the ring is still empty, nobody will finish the
//    record and the partial record is dropped. No partial record is delivered.
//  * Each side stores its (seg, seg_start) before the index that passes the link, so
//    a recoverer that finds seg_start beyond the index walks back through seg_end to
//    the segment the index is in (a producer also reopens it: its link was never
//    published); a producer that times out undoes its unpublished links the same way.
//  * A consumer that dies in the middle of a multi-piece record leaves pieces
//    without a FIRST; the next consumer discards such orphan pieces and counts the
//    record as taken (and, for JoinableQueue, as lost: join() does not wait for it).
//    A consumer that dies before its commit leaves the record in the ring for the
//    next consumer; one that dies after it takes the record with it.
#include "mp/detail/byte_ring.hpp"

#include <signal.h>
#include <sys/mman.h>
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
#include "mp/detail/park.hpp"
#include "mp/errors.hpp"
#include "mp/process.hpp"
#include "pid_lock.hpp"
#include "system.hpp"

namespace mp::detail {

namespace {

constexpr std::uint32_t kMagic = 0x5152504d;  // "MPRQ"
constexpr std::uint32_t kFirst = 1;
constexpr std::uint32_t kLast = 2;
constexpr std::uint32_t kPad = 4;
constexpr std::uint32_t kLink = 8;       // the rest of the stream is in segment `len`
constexpr std::uint64_t kLinkBytes = 8;  // a link piece: a header alone
constexpr unsigned kMaxSegments = 24;    // segment k holds capacity << k bytes
constexpr std::uint64_t kMaxReserve = std::uint64_t{1} << 38;  // 256 GiB of address space
constexpr std::uint64_t kMinRing = 4096;
constexpr std::uint64_t kMaxRing = std::uint64_t{1} << 40;
constexpr std::uint64_t kMinPiece = 64;
constexpr std::uint64_t kMaxPiece = std::uint64_t{1}
                                    << 30;  // the smallest piece of a long record worth writing
constexpr std::size_t kHeaderBytes = 4096;
constexpr std::size_t kMaxParts = 3;
constexpr auto kLockSpin = std::chrono::microseconds(2);  // a lock is held ~0.1 us unless its
                                                          // holder was preempted or waits
constexpr auto kProbeSlice = std::chrono::milliseconds(10);
constexpr auto kGrowGrace = std::chrono::milliseconds(10);   // for a consumer at work, see put
constexpr auto kKeepGrown = std::chrono::milliseconds(500);  // before grown pages go back
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
/// Every field is written by the lock holder only; the atomics let a process that takes
/// the lock over from a dead holder (or a reader settling a dead holder's commit) read
/// what the holder wrote, in the order it wrote it.
struct alignas(64) RingSide {
    std::atomic<std::uint32_t> lock;        // a pid lock (pid_lock.hpp)
    std::atomic<std::uint32_t> committing;  // 1 between the start and the end of a commit
    ParkWord hint;  // the lock spin's hint: the CPU of a recent holder (its word is unused)
    std::atomic<std::uint64_t> cached;        // producer: a recent tail; consumer: a recent head
    std::atomic<std::uint64_t> cached_count;  // producer: a recent got_count (for maxsize)
    std::atomic<std::uint64_t> commit_pos;    // the index a commit stores
    std::atomic<std::uint64_t> commit_count;  // put_count / got_count after that commit
    std::atomic<std::uint64_t> commit_lost;   // consumer: lost_count after that commit
    std::atomic<std::uint64_t> commit_takes;  // consumer: 1 if the record goes to the caller
    std::atomic<std::uint32_t> seg;           // the segment this side writes / reads
    std::atomic<std::uint64_t> seg_start;     // the position where that segment starts
};

/// The shared header at the start of the mapping.
struct RingShared {
    // constants, written once by the creator
    std::uint32_t magic;
    std::uint32_t reserved;
    std::uint64_t capacity;   // ring bytes, a power of two
    std::uint64_t maxsize;    // whole records allowed in the ring; 0: no limit
    std::uint64_t max_piece;  // bytes of the largest piece, header included
    std::uint32_t segments;   // segments reserved (1: the ring never grows)

    RingSide producer;
    RingSide consumer;

    alignas(64) std::atomic<std::uint64_t> head;  // producers publish
    std::atomic<std::uint64_t> put_count;         // whole records ever committed
    alignas(64) std::atomic<std::uint64_t> tail;  // consumers publish
    std::atomic<std::uint64_t> got_count;         // whole records ever taken (or discarded)
    std::atomic<std::uint64_t> lost_count;        // records discarded after a consumer died
    // read on every put/get, written only around a sleep: stays in every cache
    alignas(64) ParkWord data_park;  // the consumer lock holder parks here for data
    ParkWord space_park;             // the producer lock holder parks here for room or a slot
    alignas(64) ParkWord join_park;  // join() parks here
    std::atomic<std::uint64_t> done_count;  // task_done() calls
    // Growth (written by producers, under their lock): where each segment starts in the
    // stream and where it ends (the position after its link piece; 0 while it is open
    // or unused); which segments may hold resident pages.
    alignas(64) std::atomic<std::uint64_t> seg_start[kMaxSegments];
    std::atomic<std::uint64_t> seg_end[kMaxSegments];
    std::atomic<std::uint32_t> dirty;
    std::atomic<std::int64_t> shrunk_at;  // steady-clock ticks of the latest link back to 0
};

static_assert(std::is_standard_layout_v<RingSide> && std::is_standard_layout_v<RingShared>,
              "the queue header lives in shared memory: standard layout, no pointers");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                  std::atomic<std::int32_t>::is_always_lock_free,
              "shared counters must be lock-free to work across processes");
static_assert(offsetof(RingShared, producer) % 64 == 0 &&
                  offsetof(RingShared, consumer) % 64 == 0 &&
                  offsetof(RingShared, head) % 64 == 0 && offsetof(RingShared, tail) % 64 == 0 &&
                  offsetof(RingShared, data_park) % 64 == 0 &&
                  offsetof(RingShared, join_park) % 64 == 0,
              "each hot index starts its own cache line");
static_assert(offsetof(RingShared, consumer) - offsetof(RingShared, producer) >= 64 &&
                  offsetof(RingShared, head) - offsetof(RingShared, consumer) >= 64,
              "the two sides do not share a cache line");
static_assert(sizeof(RingShared) <= kHeaderBytes, "the header fits its page; the ring follows");

namespace {

// ---- segments ------------------------------------------------------------------------------

/// Segment s: capacity << s bytes at this offset of the ring area (segment 0 first).
std::uint64_t seg_offset(const RingShared& h, unsigned s) noexcept {
    return h.capacity * ((std::uint64_t{1} << s) - 1);
}
std::uint64_t seg_cap(const RingShared& h, unsigned s) noexcept {
    return h.capacity << s;
}

std::atomic<unsigned> g_segments_limit{0};

// ---- test hook: dying at a step of a commit ------------------------------------------------

std::atomic<int> g_die_at_step{-1};

/// _exits the process if a test asked to die at `step` (see ByteRing::die_at_commit_step).
inline void commit_step(int die_at, int step) noexcept {
    if (die_at == step) [[unlikely]]
        ::_exit(ByteRing::kDiedAtStepExitCode);
}

// ---- recovery ------------------------------------------------------------------------------

/// Finishes or forgets the commit a dead holder of `side` had under way. The committer
/// stored, in this order (each store release, or before a release store): commit_pos,
/// commit_count and commit_lost; committing = 1; the index; the counts; committing = 0.
/// So committing == 1 with the index at commit_pos means "the record is visible, the
/// counts may lag": storing them again is idempotent; committing == 1 with the index
/// elsewhere means "nothing is visible": forget it. A consumer that died inside its
/// commit took a record nobody will get: it counts as lost (done, for join()).
void finish_commit(RingSide& side, std::atomic<std::uint64_t>& index,
                   std::atomic<std::uint64_t>& count, std::atomic<std::uint64_t>* lost) noexcept {
    if (side.committing.load(std::memory_order_acquire) != 0 &&
        index.load(std::memory_order_acquire) == side.commit_pos.load(std::memory_order_relaxed)) {
        count.store(side.commit_count.load(std::memory_order_relaxed), std::memory_order_release);
        if (lost != nullptr)
            lost->store(side.commit_lost.load(std::memory_order_relaxed) +
                            side.commit_takes.load(std::memory_order_relaxed),
                        std::memory_order_release);
    }
    side.committing.store(0, std::memory_order_release);
}

/// Undoes a dead holder's moves to new segments that its index does not cover yet: a
/// side's (seg, seg_start) is stored before the index that passes the link, so a start
/// beyond the index means "not published". The segment linked to it is the one whose
/// end is that start; a producer also reopens that segment (its link was never seen).
void recover_segments(RingShared& h, RingSide& side, const std::atomic<std::uint64_t>& index,
                      bool producer) noexcept {
    const std::uint64_t at = index.load(std::memory_order_acquire);
    std::uint64_t start = side.seg_start.load(std::memory_order_relaxed);
    while (start > at) {
        unsigned from = kMaxSegments;
        for (unsigned s = 0; s < h.segments; ++s) {
            if (h.seg_end[s].load(std::memory_order_relaxed) == start) from = s;
        }
        if (from == kMaxSegments) break;  // cannot happen: every start is some segment's end
        if (producer) h.seg_end[from].store(0, std::memory_order_relaxed);
        start = h.seg_start[from].load(std::memory_order_relaxed);
        side.seg_start.store(start, std::memory_order_relaxed);
        side.seg.store(from, std::memory_order_release);
    }
    if (producer) {  // died between closing its segment and moving on: reopen it
        h.seg_end[side.seg.load(std::memory_order_relaxed)].store(0, std::memory_order_release);
    }
}

void recover_producer(RingShared& h) noexcept {
    recover_segments(h, h.producer, h.head, true);
    finish_commit(h.producer, h.head, h.put_count, nullptr);
}

void recover_consumer(RingShared& h) noexcept {
    recover_segments(h, h.consumer, h.tail, false);
    finish_commit(h.consumer, h.tail, h.got_count, &h.lost_count);
}

// ---- locks ---------------------------------------------------------------------------------

/// Takes a side's lock (pid_lock.hpp), repairing the side if its holder died. False if
/// `deadline` passed.
bool lock_side(RingShared& h, RingSide& s, void (*recover)(RingShared&) noexcept,
               ByteRing::Deadline deadline) {
    PidLocked got = pid_lock(s.lock, s.hint, kLockSpin, deadline);
    if (got == PidLocked::over_a_dead) recover(h);
    return got != PidLocked::no;
}

/// For readers of the counts (qsize, join, task_done): a side whose holder died in the
/// middle of a commit is repaired now, not at the next put or get, so a count never
/// stays off by one (a phantom item, or one missing) because nobody else comes.
void settle_side(RingShared& h, RingSide& s, void (*recover)(RingShared&) noexcept) noexcept {
    if (s.committing.load(std::memory_order_acquire) == 0) return;
    if (s.lock.load(std::memory_order_acquire) == 0) return;  // nobody died in it
    PidLocked got = pid_lock_unless_held(s.lock);             // a live holder finishes it
    if (got == PidLocked::no) return;
    if (got == PidLocked::over_a_dead) recover(h);
    pid_unlock(s.lock);
}

void settle(RingShared& h) noexcept {
    settle_side(h, h.producer, recover_producer);
    settle_side(h, h.consumer, recover_consumer);
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

/// Wakes the other side's parked lock holder after a publication. `just_unlocked`: the
/// caller released its side's lock (a seq_cst exchange) after publishing.
inline void wake(ParkWord& p, bool just_unlocked) noexcept {
    if (just_unlocked) {
        unpark_all_after_rmw(p);
    } else {
        unpark_all(p);
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

/// A put's commit: head and put_count move to `pos` and `put_count + 1`, in the order
/// finish_commit relies on; a test may make this process die at any step.
inline void commit_put(RingShared& h, std::uint64_t pos, std::uint64_t put_count) noexcept {
    RingSide& p = h.producer;
    const int die_at = g_die_at_step.load(std::memory_order_relaxed);
    commit_step(die_at, 0);
    p.commit_pos.store(pos, std::memory_order_relaxed);
    p.commit_count.store(put_count + 1, std::memory_order_relaxed);
    commit_step(die_at, 1);
    p.committing.store(1, std::memory_order_release);
    commit_step(die_at, 2);
    h.head.store(pos, std::memory_order_release);
    commit_step(die_at, 3);
    h.put_count.store(put_count + 1, std::memory_order_release);
    commit_step(die_at, 4);
    p.committing.store(0, std::memory_order_release);
    commit_step(die_at, 5);
}

/// A get's commit: tail moves to `t`, got_count (and, for a record discarded after its
/// consumer died, lost_count) by one, in the order finish_commit relies on; a test may
/// make this process die at any step.
inline void commit_get(RingShared& h, std::uint64_t t, bool lost) noexcept {
    RingSide& c = h.consumer;
    const std::uint64_t got = h.got_count.load(std::memory_order_relaxed) + 1;
    const std::uint64_t lost_n = h.lost_count.load(std::memory_order_relaxed) + (lost ? 1 : 0);
    const int die_at = g_die_at_step.load(std::memory_order_relaxed);
    commit_step(die_at, 10);
    c.commit_pos.store(t, std::memory_order_relaxed);
    c.commit_count.store(got, std::memory_order_relaxed);
    c.commit_lost.store(lost_n, std::memory_order_relaxed);
    c.commit_takes.store(lost ? 0 : 1, std::memory_order_relaxed);
    commit_step(die_at, 11);
    c.committing.store(1, std::memory_order_release);
    commit_step(die_at, 12);
    h.tail.store(t, std::memory_order_release);
    commit_step(die_at, 13);
    h.got_count.store(got, std::memory_order_release);
    if (lost) h.lost_count.store(lost_n, std::memory_order_release);
    commit_step(die_at, 14);
    c.committing.store(0, std::memory_order_release);
    commit_step(die_at, 15);
}

}  // namespace

// ---- ByteRing ------------------------------------------------------------------------------

ByteRing::ByteRing(std::size_t maxsize, std::size_t ring_bytes, const char* what) : what_(what) {
    if (ring_bytes > kMaxRing) {
        throw ValueError(std::string("mp::") + what + ": ring_bytes " + std::to_string(ring_bytes) +
                         " is larger than the limit of 1 TiB");
    }
    std::uint64_t cap = std::bit_ceil(std::max<std::uint64_t>(ring_bytes, kMinRing));
    // Reserve address space for segments 0..n-1 (cap * (2^n - 1) bytes, at most half the
    // memory): pages are allocated only when written, and given back when a segment is
    // left, so the reservation costs nothing until the queue grows.
    const std::uint64_t memory = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                                 static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t budget = std::min(memory / 2, kMaxReserve);
    unsigned n = 1;
    while (n < kMaxSegments && cap * ((std::uint64_t{2} << n) - 1) <= budget) ++n;
    if (unsigned limit = g_segments_limit.load(std::memory_order_relaxed); limit != 0)
        n = std::min(n, limit);
    for (;; n = (n + 1) / 2) {
        try {
            region_ = SharedRegion(kHeaderBytes + cap * ((std::uint64_t{1} << n) - 1));
            break;
        } catch (const OSError&) {
            if (n == 1) throw;  // not even the first segment: the error says why
        }
    }
    auto* h = new (region_.data()) RingShared{};
    h->magic = kMagic;
    h->capacity = cap;
    h->segments = n;
    h->maxsize = maxsize;
    h->max_piece = std::min<std::uint64_t>(cap / 4, kMaxPiece);  // a piece's length is 32-bit
}

void ByteRing::throw_closed(const char* op) const {
    throw ValueError(closed_message(what_, op));
}

std::size_t ByteRing::qsize() const {
    RingShared& h = shared("qsize");
    settle(h);
    std::uint64_t got = h.got_count.load(std::memory_order_acquire);
    std::uint64_t put = h.put_count.load(std::memory_order_acquire);
    return put > got ? put - got : 0;
}

void ByteRing::limit_segments_for_tests(unsigned n) noexcept {
    g_segments_limit.store(n, std::memory_order_relaxed);
}

void ByteRing::die_at_commit_step(int step) noexcept {
    g_die_at_step.store(step, std::memory_order_relaxed);
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
    PidLockGuard guard(h.producer.lock);
    RingSide& p = h.producer;
    std::byte* const ring = reinterpret_cast<std::byte*>(&h) + kHeaderBytes;
    const std::uint64_t put_count = h.put_count.load(std::memory_order_relaxed);

    auto notify = [&](bool just_unlocked) { wake(h.data_park, just_unlocked); };

    if (h.maxsize != 0 && put_count - p.cached_count.load(std::memory_order_relaxed) >= h.maxsize) {
        auto slot = [&] {
            std::uint64_t got = h.got_count.load(std::memory_order_acquire);
            p.cached_count.store(got, std::memory_order_relaxed);
            return put_count - got < h.maxsize;
        };
        if (!park_until(h.space_park, slot, deadline)) return false;
    }

    std::uint64_t total = 0;
    for (const auto& part : parts) total += part.size();
    const std::uint64_t max_payload = h.max_piece - sizeof(PieceHeader);
    std::uint64_t pos = h.head.load(std::memory_order_relaxed);

    // The fast path, in plain locals: a one-piece record that fits before the end of the
    // first segment by the cached tail, with nothing grown to look after. Everything
    // else (padding, waiting for room, growth, long records) takes the general path.
    if (total <= max_payload && p.seg.load(std::memory_order_relaxed) == 0 &&
        (h.dirty.load(std::memory_order_relaxed) & ~1u) == 0) {
        const std::uint64_t start = p.seg_start.load(std::memory_order_relaxed);
        const std::uint64_t cap0 = h.capacity;
        const std::uint64_t off = (pos - start) & (cap0 - 1);
        const std::uint64_t need = sizeof(PieceHeader) + align8(total);
        const std::uint64_t seen = std::max(p.cached.load(std::memory_order_relaxed), start);
        if (need <= cap0 - off && cap0 - (pos - seen) >= need + kLinkBytes) {
            gather(ring + off + sizeof(PieceHeader), parts, 0, total);
            const PieceHeader ph{static_cast<std::uint32_t>(total), kFirst | kLast};
            std::memcpy(ring + off, &ph, sizeof ph);
            commit_put(h, pos + need, put_count);
            guard.release();
            notify(true);
            return true;
        }
    }

    // The segment written to: bytes [seg_start, ...) of the stream, wrapping in its cap.
    unsigned seg = p.seg.load(std::memory_order_relaxed);
    std::uint64_t seg_start = p.seg_start.load(std::memory_order_relaxed);
    std::byte* sring = ring + seg_offset(h, seg);
    std::uint64_t cap = seg_cap(h, seg);
    auto offset = [&](std::uint64_t at) { return (at - seg_start) & (cap - 1); };
    auto to_end = [&] { return cap - offset(pos); };
    // `want` bytes fit at pos, keeping room for a link piece after them.
    auto fits = [&](std::uint64_t want, std::uint64_t tail) {
        return cap - (pos - std::max(tail, seg_start)) >= want + kLinkBytes;
    };
    auto write_header = [&](std::uint64_t len, std::uint32_t flags) {
        PieceHeader ph{static_cast<std::uint32_t>(len), flags};
        std::memcpy(sring + offset(pos), &ph, sizeof ph);
    };
    // Ends the current segment with a link piece; the stream goes on in segment `to`.
    auto link = [&](unsigned to) {
        write_header(to, kLink);
        const std::uint64_t next = pos + kLinkBytes;
        h.dirty.fetch_or(1u << to, std::memory_order_relaxed);
        h.seg_start[to].store(next, std::memory_order_relaxed);
        h.seg_end[to].store(0, std::memory_order_relaxed);
        h.seg_end[seg].store(next, std::memory_order_release);
        p.seg_start.store(next, std::memory_order_relaxed);
        p.seg.store(to, std::memory_order_release);
        seg = to;
        seg_start = pos = next;
        sring = ring + seg_offset(h, seg);
        cap = seg_cap(h, seg);
    };
    // A segment no reader needs any more: not ours, and its end passed by the tail.
    auto is_free = [&](unsigned s, std::uint64_t tail) {
        return s != seg && h.seg_end[s].load(std::memory_order_relaxed) <= tail;
    };
    // The segment to grow into: the next larger free one, else the largest free one.
    auto pick = [&](std::uint64_t tail) -> int {
        for (unsigned s = seg + 1; s < h.segments; ++s) {
            if (is_free(s, tail)) return static_cast<int>(s);
        }
        for (unsigned s = seg; s-- > 0;) {
            if (is_free(s, tail)) return static_cast<int>(s);
        }
        return -1;
    };
    enum class Room { here, moved, timeout };
    // Room for `want` bytes at pos: there, or in a new segment (then the caller
    // re-plans its piece: `moved`); waits only if every segment is in use.
    auto room = [&](std::uint64_t want) {
        auto tail = [&] {
            std::uint64_t t = h.tail.load(std::memory_order_acquire);
            p.cached.store(t, std::memory_order_relaxed);
            return t;
        };
        const std::uint64_t seen = p.cached.load(std::memory_order_relaxed);
        if (fits(want, seen)) return Room::here;
        const std::uint64_t now_tail = tail();
        if (fits(want, now_tail)) return Room::here;
        // A consumer at work (it holds the consumer lock) frees room soon: waiting for it
        // a little is cheaper than touching the fresh pages of a larger segment, and
        // keeps a producer that outruns its consumer from growing the queue without
        // end. An idle queue (nobody getting) grows at once.
        // A consumer is at work if it holds its lock or the tail moved since this side
        // last looked (its lock is free for a moment between two gets, which is no sign
        // of an idle queue). The wait ends on room alone.
        auto freed = [&] { return fits(want, tail()); };
        if (h.consumer.lock.load(std::memory_order_relaxed) != 0 || now_tail != seen) {
            auto grace = Clock::now() + kGrowGrace;
            if (deadline && *deadline < grace) grace = *deadline;
            park_until(h.space_park, freed, grace);
            if (fits(want, p.cached.load(std::memory_order_relaxed))) return Room::here;
        }
        for (;;) {
            int to = pick(tail());
            if (to >= 0) {
                link(static_cast<unsigned>(to));
                return Room::moved;
            }
            if (!park_until(
                    h.space_park,
                    [&] {
                        std::uint64_t t = tail();
                        return fits(want, t) || pick(t) >= 0;
                    },
                    deadline)) {
                return Room::timeout;
            }
            if (fits(want, p.cached.load(std::memory_order_relaxed))) return Room::here;
        }
    };
    // Now and then, while grown: once the backlog is small again, go back to the first
    // segment; once it has stayed there kKeepGrown, give back the pages of the others
    // (not sooner: a stream that grows again soon would fault them in afresh).
    if (seg != 0 || (h.dirty.load(std::memory_order_relaxed) & ~1u) != 0) {
        thread_local unsigned t_puts = 0;
        if ((t_puts++ & 63) == 0) {
            std::uint64_t t = h.tail.load(std::memory_order_acquire);
            p.cached.store(t, std::memory_order_relaxed);
            const std::int64_t now = Clock::now().time_since_epoch().count();
            if (seg != 0) {
                if (is_free(0, t) && pos - std::max(t, seg_start) <= h.capacity / 4) {
                    link(0);
                    h.shrunk_at.store(now, std::memory_order_relaxed);
                }
            } else if (now - h.shrunk_at.load(std::memory_order_relaxed) >=
                       std::chrono::duration_cast<Clock::duration>(kKeepGrown).count()) {
                std::uint32_t dirty = h.dirty.load(std::memory_order_relaxed);
                for (unsigned s = 1; s < h.segments; ++s) {
                    if ((dirty & (1u << s)) != 0 && is_free(s, t)) {
                        ::madvise(ring + seg_offset(h, s), seg_cap(h, s), MADV_REMOVE);
                        h.dirty.fetch_and(~(1u << s), std::memory_order_relaxed);
                    }
                }
            }
        }
    }

    // Out of time: a padding or link piece written but not published is undone (a link
    // moved this side to a segment the head does not reach yet). Pieces of a long record
    // already published stay a FIRST without a LAST, which consumers drop; a consumer
    // holding the start is woken to find that out.
    auto give_up = [&] {
        recover_segments(h, p, h.head, true);
        guard.release();
        unpark_all_after_rmw(h.data_park);
        return false;
    };

    // The order finish_commit relies on; a test may make this process die at any step.
    auto commit = [&] { commit_put(h, pos, put_count); };

    if (total <= max_payload) {  // one piece
        const std::uint64_t need = sizeof(PieceHeader) + align8(total);
        for (;;) {
            const std::uint64_t end = to_end();
            const std::uint64_t want = end < need ? end + need : need;
            // The common case first, inline: room by the cached tail (room() is the
            // slow path: a fresh tail, the grace wait, growth).
            if (!fits(want, p.cached.load(std::memory_order_relaxed))) {
                Room r = room(want);
                if (r == Room::timeout) return give_up();
                if (r == Room::moved) continue;
            }
            if (end < need) {
                write_header(end - sizeof(PieceHeader), kPad);
                pos += end;
            }
            break;
        }
        gather(sring + offset(pos) + sizeof(PieceHeader), parts, 0, total);
        write_header(total, kFirst | kLast);
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
    for (;;) {  // each round writes a padding piece, moves to a new segment, or writes a piece
        const std::uint64_t end = to_end();
        std::uint64_t want = std::min(stream - done, max_payload);
        std::uint64_t need = sizeof(PieceHeader) + align8(want);
        if (end < need) {
            if (end >= sizeof(PieceHeader) + kMinPiece) {
                want = end - sizeof(PieceHeader);
                need = end;
            } else {
                Room r = room(end);
                if (r == Room::timeout) return give_up();
                if (r == Room::here) {
                    write_header(end - sizeof(PieceHeader), kPad);
                    pos += end;
                }
                continue;
            }
        }
        Room r = room(need);
        if (r == Room::timeout) return give_up();
        if (r == Room::moved) continue;
        gather(sring + offset(pos) + sizeof(PieceHeader), stream_parts, done, want);
        std::uint32_t flags = (done == 0 ? kFirst : 0) | (done + want == stream ? kLast : 0);
        write_header(want, flags);
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
}

bool ByteRing::get(const Sink& sink, Clock::time_point until, bool nowait) {
    RingShared& h = shared("get");
    Deadline deadline = until == kForever ? Deadline() : Deadline(until);
    if (!enter_side(h, h.consumer, recover_consumer, deadline, nowait, nowait && qsize() == 0)) {
        return false;
    }
    PidLockGuard guard(h.consumer.lock);
    RingSide& c = h.consumer;
    const std::byte* const ring = reinterpret_cast<const std::byte*>(&h) + kHeaderBytes;
    std::uint64_t t = h.tail.load(std::memory_order_relaxed);
    std::uint64_t published = t;
    // The segment read from (see put): a link piece moves the reader to the next one.
    unsigned seg = c.seg.load(std::memory_order_relaxed);
    std::uint64_t seg_start = c.seg_start.load(std::memory_order_relaxed);
    const std::byte* sring = ring + seg_offset(h, seg);
    std::uint64_t cap = seg_cap(h, seg);

    auto publish = [&] {
        if (t == published) return;
        h.tail.store(t, std::memory_order_release);
        published = t;
        wake(h.space_park, false);
    };
    // Takes one record off the books; `lost`: discarded because its consumer died;
    // `unlock`: release the consumer lock right after (the record is ours).
    auto commit = [&](bool lost, bool unlock) {
        commit_get(h, t, lost);
        published = t;
        if (unlock) guard.release();
        wake(h.space_park, unlock);
        if (lost) unpark_all(h.join_park);
    };
    // True if a producer may still add to the record we hold the start of: it
    // holds the producer lock, or it released it after publishing more.
    auto producer_may_continue = [&] {
        // No: a live producer holds it (or somebody else just took it: look again later).
        PidLocked got = pid_lock_unless_held(h.producer.lock);
        if (got == PidLocked::no) return true;
        if (got == PidLocked::over_a_dead) recover_producer(h);  // its holder died
        bool more = h.head.load(std::memory_order_acquire) != t;
        pid_unlock(h.producer.lock);
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
            if (t == c.cached.load(std::memory_order_relaxed)) {
                auto ready = [&] {
                    std::uint64_t head = h.head.load(std::memory_order_acquire);
                    c.cached.store(head, std::memory_order_relaxed);
                    return head != t;
                };
                if (!ready()) {
                    publish();
                    if (receiving) {
                        // Holding the start of a record: wait for the rest in slices
                        // (beyond our deadline: the record is in transfer) while a
                        // producer may still finish it.
                        auto ready_or_unlocked = [&] {
                            return ready() || h.producer.lock.load(std::memory_order_acquire) == 0;
                        };
                        while (!ready()) {
                            park_until(h.data_park, ready_or_unlocked, Clock::now() + kProbeSlice);
                            if (ready() || !producer_may_continue()) break;
                        }
                        if (t == c.cached.load(std::memory_order_relaxed)) {
                            // nobody will finish it: drop the start
                            receiving = false;
                            continue;
                        }
                    } else if (!park_until(h.data_park, ready, deadline)) {
                        return false;
                    }
                }
            }
            PieceHeader ph;
            const std::uint64_t off = (t - seg_start) & (cap - 1);
            std::memcpy(&ph, sring + off, sizeof ph);
            if (ph.flags == kLink) {
                if (ph.len >= h.segments) {
                    throw SerializationError(std::string("mp::") + what_ +
                                             ": corrupt shared ring (a link to no segment)");
                }
                t += kLinkBytes;
                seg = ph.len;
                seg_start = t;
                sring = ring + seg_offset(h, seg);
                cap = seg_cap(h, seg);
                c.seg_start.store(seg_start, std::memory_order_relaxed);
                c.seg.store(seg, std::memory_order_release);
                continue;
            }
            const std::uint64_t at = off + sizeof(PieceHeader);
            if (at + ph.len > cap || (ph.flags & ~(kFirst | kLast | kPad)) != 0) {
                throw SerializationError(std::string("mp::") + what_ +
                                         ": corrupt shared ring (a piece header is invalid)");
            }
            const std::uint64_t next = t + sizeof(PieceHeader) + align8(ph.len);
            std::span<const std::byte> piece(sring + at, ph.len);
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
    settle(h);
    std::uint64_t done = h.done_count.load(std::memory_order_relaxed);
    for (;;) {
        std::uint64_t settled = done + h.lost_count.load(std::memory_order_acquire);
        if (settled >= h.put_count.load(std::memory_order_acquire)) {
            throw ValueError(std::string("mp::") + what_ +
                             "::task_done: called more times than there were items put");
        }
        if (h.done_count.compare_exchange_weak(done, done + 1, std::memory_order_seq_cst)) break;
    }
    unpark_all_after_rmw(h.join_park);
}

bool ByteRing::join(Clock::time_point until) {
    RingShared& h = shared("join");
    auto finished = [&] {
        std::uint64_t settled = h.done_count.load(std::memory_order_acquire) +
                                h.lost_count.load(std::memory_order_acquire);
        return settled >= h.put_count.load(std::memory_order_acquire);
    };
    // In slices: between them, a producer or consumer that died in the middle of a
    // commit is settled, so its half-stored counts cannot keep join() waiting.
    for (;;) {
        settle(h);
        auto slice = Clock::now() + kPidLockSlice;
        bool last = until != kForever && until <= slice;
        if (park_until(h.join_park, finished, last ? until : slice)) return true;
        if (last) return false;
    }
}

}  // namespace mp::detail
