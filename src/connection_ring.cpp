// The shared-memory path of a Pipe() Connection: the protocol is described in
// connection_ring.hpp.
#include "connection_ring.hpp"

#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "mp/detail/park.hpp"
#include "mp/errors.hpp"
#include "pid_lock.hpp"
#include "protocol_steps.hpp"

namespace mp::detail {

namespace {

constexpr std::uint64_t kConnMagic = 0x6d70636f6e6e7231;  // "mpconnr1"
constexpr std::size_t kHeaderBytes = 4096;
constexpr std::size_t kRegionBytes = kHeaderBytes + 2 * ConnRing::kRingBytes;
// How long a reader spins before it sleeps in poll(): a cross-CPU wake-up costs ~30 us
// each way on a loaded 2-CPU machine, so a spin of that order pays when the peer runs.
constexpr std::chrono::microseconds kReaderSpin{50};
// A writer waiting for room checks for the reader's death this often.
constexpr std::chrono::milliseconds kRoomSlice{20};
// A second writer of one end waits this long spinning for the first to finish its frame.
constexpr std::chrono::microseconds kWriterLockSpin{2};

constexpr unsigned char kWake = 'W';
constexpr unsigned char kFds = 'F';

}  // namespace

// One direction: written by one side, read by the other. The writer's line and the
// reader's line are apart so that the two never share a cache line they both write often.
struct alignas(64) ConnDir {
    // Writer's line.
    std::atomic<std::uint64_t> tail;  // bytes published (P1)
    ParkWord hint;                    // the writer's CPU, for the reader's spin policy
    std::atomic<std::uint32_t> lock;  // the writers' pid lock (P0), held for a whole frame
    std::atomic<std::uint32_t> torn;  // 1 while a frame is published only in part (ring full)
    // Reader's line.
    alignas(64) std::atomic<std::uint64_t> head;  // bytes consumed (R3)
    std::atomic<std::uint32_t> spinning;          // 1 while the reader spins (R1..R2)
    std::atomic<std::uint32_t> pending;           // 'W' bytes in the socket (or coming)
    ParkWord room;                                // the writer parks here when full
};

struct ConnShared {
    std::atomic<std::uint64_t> magic;
    ConnDir dir[2];  // dir[s] is written by side s, read by side 1 - s
};
static_assert(sizeof(ConnShared) <= kHeaderBytes);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

namespace {

ConnDir& out_dir(ConnShared* s, int side) noexcept {
    return s->dir[side];
}
ConnDir& in_dir(ConnShared* s, int side) noexcept {
    return s->dir[1 - side];
}
std::byte* ring_of(ConnShared* s, int dir) noexcept {
    return reinterpret_cast<std::byte*>(s) + kHeaderBytes +
           static_cast<std::size_t>(dir) * ConnRing::kRingBytes;
}

constexpr std::size_t kMask = ConnRing::kRingBytes - 1;
static_assert((ConnRing::kRingBytes & kMask) == 0, "the ring is a power of two");

// Copies `n` bytes at stream position `pos` of `ring` into `out` (wrapping).
void copy_out(const std::byte* ring, std::uint64_t pos, std::byte* out, std::size_t n) {
    std::size_t at = pos & kMask;
    std::size_t first = std::min(n, ConnRing::kRingBytes - at);
    std::memcpy(out, ring + at, first);
    if (first < n) std::memcpy(out + first, ring, n - first);
}
void copy_in(std::byte* ring, std::uint64_t pos, const std::byte* in, std::size_t n) {
    std::size_t at = pos & kMask;
    std::size_t first = std::min(n, ConnRing::kRingBytes - at);
    std::memcpy(ring + at, in, first);
    if (first < n) std::memcpy(ring, in + first, n - first);
}

[[noreturn]] void throw_broken_pipe(int e = EPIPE) {
    throw_errno("Connection.send: the other end is closed", e);
}

// Reads one byte from the socket, collecting the fds that came with it. The byte (0..255),
// -1 if none is there (only when !block), -2 if the peer is gone.
int recv_token(int sock, std::deque<int>& fds, bool block) {
    unsigned char b = 0;
    ssize_t r =
        retry_eintr([&] { return recv_with_fds(sock, &b, 1, block ? 0 : MSG_DONTWAIT, fds); });
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
        if (errno == ECONNRESET) return -2;
        throw_errno("Connection.recv");
    }
    if (r == 0) return -2;
    return b;
}

[[noreturn]] void throw_stray_byte(int b) {
    throw SerializationError(
        "Connection.recv: byte " + std::to_string(b) +
        " arrived on the socket of a Pipe() end; on a Pipe() the socket carries only mp's "
        "wake-up bytes (messages go through shared memory): write to it only with send()");
}

// Reads socket bytes until one 'W' has been read (fds of 'F' bytes are kept) or the peer
// is gone.
void read_one_wake(int sock, std::deque<int>& fds) {
    for (;;) {
        int b = recv_token(sock, fds, true);
        if (b == kWake || b == -2) return;
        if (b != kFds) throw_stray_byte(b);
    }
}

void send_wake(int sock) {
    const unsigned char b = kWake;
    ssize_t r = retry_eintr([&] { return ::send(sock, &b, 1, MSG_NOSIGNAL); });
    if (r < 0) throw_broken_pipe(errno == ECONNRESET ? EPIPE : errno);
}

// BrokenPipeError if the peer's end is closed in every process (the socket's HUP).
void check_hup(int sock) {
    pollfd p{sock, 0, 0};
    if (retry_eintr([&] { return ::poll(&p, 1, 0); }) > 0 && (p.revents & (POLLHUP | POLLERR)))
        throw_broken_pipe();
}

}  // namespace

std::pair<ConnRing, ConnRing> ConnRing::make() {
    ConnRing a;
    a.region_ = SharedRegion(kRegionBytes);
    a.shared()->magic.store(kConnMagic, std::memory_order_release);
    ConnRing b;
    b.region_ = a.region_;
    b.side_ = 1;
    return {std::move(a), std::move(b)};
}

ConnRing ConnRing::adopt(int fd, int side) {
    ConnRing r;
    r.region_ = SharedRegion::adopt(fd, kRegionBytes);
    if (r.shared()->magic.load(std::memory_order_acquire) != kConnMagic || (side & ~1) != 0) {
        throw ValueError(
            "Connection: the shared memory that came with a Pipe() end is not a Connection "
            "ring (a corrupt message, or one from another mp version)");
    }
    r.side_ = side;
    return r;
}

bool ConnRing::has_data() const noexcept {
    const ConnDir& d = in_dir(shared(), side_);
    return d.tail.load(std::memory_order_acquire) != d.head.load(std::memory_order_relaxed);
}

// R4: the reader found the ring empty. Each 'W' in the socket is counted in `pending`:
// take the surplus ones off the socket, and the last one too unless data came meanwhile
// (then it stays: it is that data's wake byte). The reader subtracts before it reads, so
// a writer that saw `pending` > 0 and sent nothing is always covered by a byte left in
// the socket or by the CAS 0 -> 1 below.
void ConnRing::settle(int sock, std::deque<int>& fds) {
    std::atomic<std::uint32_t>& pending = in_dir(shared(), side_).pending;
    std::uint32_t v = pending.load(std::memory_order_acquire);
    while (v != 0) {
        if (v > 1) {
            if (pending.compare_exchange_weak(v, v - 1, std::memory_order_seq_cst)) {
                read_one_wake(sock, fds);
                v = pending.load(std::memory_order_acquire);
            }
            continue;
        }
        if (!pending.compare_exchange_weak(v, 0, std::memory_order_seq_cst)) continue;
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (has_data()) {
            std::uint32_t zero = 0;
            if (pending.compare_exchange_strong(zero, 1, std::memory_order_seq_cst))
                return;  // data came after all: the byte stays, it is that data's wake byte
        }
        read_one_wake(sock, fds);
        return;
    }
}

ConnRing::Waited ConnRing::wait_data(int sock, std::deque<int>& fds,
                                     std::optional<Clock::time_point> deadline, bool spin) {
    ConnDir& d = in_dir(shared(), side_);
    for (bool spun = !spin;;) {
        if (has_data()) return Waited::data;
        settle(sock, fds);
        if (has_data()) return Waited::data;
        if (!spun) {
            spun = true;
            protocol_step(Protocol::connection_ring, kConnReaderSpinning);
            d.spinning.store(1, std::memory_order_seq_cst);  // R1
            std::atomic_thread_fence(std::memory_order_seq_cst);
            spin_for_data();
            d.spinning.exchange(0, std::memory_order_seq_cst);  // R2
            std::atomic_thread_fence(std::memory_order_seq_cst);
            continue;
        }
        protocol_step(Protocol::connection_ring, kConnReaderSleeping);
        short rev = poll_fd(sock, POLLIN, deadline);  // R5
        if (has_data()) return Waited::data;
        if (rev == 0) return Waited::timeout;
        unsigned char b = 0;
        ssize_t r = ::recv(sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return has_data() ? Waited::data : Waited::eof;
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            throw_errno("Connection.recv");
        }
        if (b == kFds) {
            (void)recv_token(sock, fds, false);  // fds ahead of their frame: keep them
        } else if (b != kWake) {
            throw_stray_byte(b);
        } else if (d.pending.load(std::memory_order_acquire) == 0) {
            (void)recv_token(sock, fds, false);  // not counted (cannot happen): drop it
        }
        // a counted 'W' with the ring empty: the next settle() takes it
    }
}

// R1's spin: only where park's policy says it may pay (two CPUs or more in the system, recent
// spins in this thread succeeded, the peer last seen on another CPU), and only while the
// peer is not seen on this thread's CPU: there the spin would take the CPU the peer needs.
// Each side leaves its CPU in the hint of the direction it writes, when it publishes and
// when it starts waiting.
void ConnRing::spin_for_data() {
    ConnShared* s = shared();
    const ParkWord& peer = in_dir(s, side_).hint;
    const int me = ::sched_getcpu();
    out_dir(s, side_).hint.waker_cpu1.store(me + 1, std::memory_order_relaxed);
    if (!park_detail::spin_worth_it_system(peer)) return;
    const auto end = Clock::now() + kReaderSpin;
    do {
        for (int i = 0; i < 64; ++i) {
            if (has_data()) return park_detail::spin_result(true);
            cpu_relax();
        }
        if (peer.waker_cpu1.load(std::memory_order_relaxed) == me + 1) break;
    } while (Clock::now() < end);
    park_detail::spin_result(false);
}

std::size_t ConnRing::read_some(int sock, std::deque<int>& fds, void* out, std::size_t n) {
    ConnShared* s = shared();
    ConnDir& d = in_dir(s, side_);
    std::uint64_t h = d.head.load(std::memory_order_acquire);
    std::uint64_t t = d.tail.load(std::memory_order_acquire);
    if (t == h) {
        if (wait_data(sock, fds, std::nullopt, true) == Waited::eof) return 0;
        t = d.tail.load(std::memory_order_acquire);
    }
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, t - h));
    copy_out(ring_of(s, 1 - side_), h, static_cast<std::byte*>(out), k);
    protocol_step(Protocol::connection_ring, kConnReaderCopied);
    d.head.store(h + k, std::memory_order_release);  // R3
    unpark_all(d.room);
    if (h + k == t && d.tail.load(std::memory_order_acquire) == t) settle(sock, fds);  // R4
    return k;
}

bool ConnRing::wait_readable(int sock, std::deque<int>& fds,
                             std::optional<Clock::time_point> deadline) {
    const bool now = deadline && *deadline <= Clock::now();
    return wait_data(sock, fds, deadline, !now) != Waited::timeout;
}

bool ConnRing::take_fds(int sock, std::deque<int>& fds, std::size_t n) {
    // The frame's 'F' byte was sent before the frame was published, so it is in the
    // socket now (perhaps behind 'W' bytes: each one read is taken off `pending`).
    std::atomic<std::uint32_t>& pending = in_dir(shared(), side_).pending;
    while (fds.size() < n) {
        int b = recv_token(sock, fds, true);
        if (b == -2) return fds.size() >= n;
        if (b == kWake) {
            pending.fetch_sub(1, std::memory_order_seq_cst);
        } else if (b != kFds) {
            throw_stray_byte(b);
        }
    }
    return true;
}

void ConnRing::signal(int sock, std::uint64_t old_tail, bool always) {
    ConnDir& d = out_dir(shared(), side_);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // P2
    park_detail::note_waker_now(d.hint);  // every time: the reader's spin watches it
    protocol_step(Protocol::connection_ring, kConnWriterPublished);
    if (always) {  // a frame with fds: its own 'W' after it (take_fds may eat earlier ones)
        d.pending.fetch_add(1, std::memory_order_seq_cst);
        send_wake(sock);
        return;
    }
    const bool spinning = d.spinning.load(std::memory_order_relaxed) != 0;
    const std::uint64_t head = d.head.load(std::memory_order_relaxed);
    if (spinning && head == old_tail) return;  // P3
    // Taken already (the reader was quick): a wake byte now would only be a stale one.
    if (head == d.tail.load(std::memory_order_relaxed)) return;
    std::uint32_t zero = 0;
    if (d.pending.load(std::memory_order_relaxed) == 0 &&
        d.pending.compare_exchange_strong(zero, 1, std::memory_order_seq_cst)) {
        protocol_step(Protocol::connection_ring, kConnWriterCounted);
        send_wake(sock);
        return;
    }
    if (!spinning) check_hup(sock);
}

void ConnRing::wait_room(int sock, std::uint64_t t) {
    ConnDir& d = out_dir(shared(), side_);
    auto room = [&d, t] { return t - d.head.load(std::memory_order_acquire) < kRingBytes; };
    while (!park_until(d.room, room, Clock::now() + kRoomSlice)) check_hup(sock);
}

void ConnRing::write(int sock, std::span<const std::span<const std::byte>> parts,
                     std::span<const int> fds) {
    ConnShared* s = shared();
    ConnDir& d = out_dir(s, side_);
    // P0: one writer at a time, so that frames of two processes (or threads) writing this
    // end never interleave; a writer killed holding the lock loses it to the next one. A
    // frame that did not fit the ring was published in part; if its writer stopped there
    // (killed, or its reader vanished), the stream is torn for every writer after it.
    (void)pid_lock(d.lock, d.hint, kWriterLockSpin, std::nullopt);
    PidLockGuard hold(d.lock);
    protocol_step(Protocol::connection_ring, kConnWriterLocked);
    if (d.torn.load(std::memory_order_acquire) != 0)
        throw BrokenPipeError(
            EPIPE,
            "Connection.send: a process writing to this end stopped (killed?) in the middle "
            "of a message larger than the ring, which the reader cannot skip: make a new Pipe");
    if (!fds.empty()) {
        unsigned char f = kFds;
        iovec iov{&f, 1};
        if (int e = sendmsg_all(sock, std::span(&iov, 1), fds); e != 0) throw_broken_pipe(e);
    }
    std::byte* ring = ring_of(s, side_);
    std::uint64_t t = d.tail.load(std::memory_order_acquire);
    std::uint64_t published = t;
    for (std::span<const std::byte> part : parts) {
        while (!part.empty()) {
            std::uint64_t used = t - d.head.load(std::memory_order_acquire);
            if (used == kRingBytes) {  // full: publish what is written, wait for room
                if (t != published) {
                    d.torn.store(1, std::memory_order_release);
                    d.tail.store(t, std::memory_order_release);
                    signal(sock, published, false);
                    published = t;
                }
                wait_room(sock, t);
                continue;
            }
            std::size_t k = std::min<std::size_t>(part.size(), kRingBytes - used);
            copy_in(ring, t, part.data(), k);
            protocol_step(Protocol::connection_ring, kConnWriterCopied);
            t += k;
            part = part.subspan(k);
        }
    }
    if (t == published && fds.empty()) {
        d.torn.store(0, std::memory_order_relaxed);
        return;
    }
    d.tail.store(t, std::memory_order_release);  // P1
    d.torn.store(0, std::memory_order_relaxed);  // read by the next holder of the lock only
    signal(sock, published, !fds.empty());
}

}  // namespace mp::detail
