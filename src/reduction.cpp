// Fds beside bytes (<mp/detail/reduction.hpp>): the sink and source, and SCM_RIGHTS
// over a Unix socket.
#include "mp/detail/reduction.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <string>

#include "pool_shared.hpp"
#include "system.hpp"

namespace mp::detail {

namespace {
constexpr std::size_t kMaxFds = kMaxFdsPerMessage;
}

std::uint32_t FdSink::add(int fd, const char* what) {
    if (fd < 0) throw ValueError(std::string(what) + ": the handle is closed and cannot be sent");
    if (share) {
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i] == fd) return static_cast<std::uint32_t>(i);
        }
    }
    if (fds.size() >= kMaxFds)
        throw ValueError(std::string(what) + ": a message can carry at most 253 handles' fds");
    fds.push_back(fd);
    return static_cast<std::uint32_t>(fds.size() - 1);
}

FdSource::~FdSource() {
    for (int fd : fds_) close_fd(fd);
}

int FdSource::take(std::uint32_t index, const char* what) {
    if (index >= fds_.size() || fds_[index] < 0) {
        throw ValueError(std::string(what) +
                         ": the message names an fd it does not carry (it was sent without its "
                         "fds, e.g. through a transport that cannot carry them, or is corrupt)");
    }
    if (!shared_) return std::exchange(fds_[index], -1);
    int fd = ::fcntl(fds_[index], F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw_errno(std::string(what) + ": duplicating a received fd");
    return fd;
}

FdSource*& current_fd_source() noexcept {
    thread_local FdSource* src = nullptr;
    return src;
}

FdSource& task_fd_source() noexcept {
    thread_local FdSource none;  // never holds an fd: take() on it throws
    FdSource* src = current_fd_source();
    return src != nullptr ? *src : none;
}

TaskFds::TaskFds(std::span<const int> fds, std::string_view first_handle)
    : handle_type_(first_handle) {
    fds_.reserve(fds.size());
    for (int fd : fds) {
        int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0) {
            int err = errno;
            close_all();
            throw_errno("mp::Pool: duplicating the fd of a task's " +
                            readable_type_name(first_handle) + " argument",
                        err);
        }
        fds_.push_back(copy);
    }
}

TaskFds& TaskFds::operator=(TaskFds&& o) noexcept {
    if (this != &o) {
        close_all();
        fds_ = std::move(o.fds_);
        o.fds_.clear();
        handle_type_ = std::exchange(o.handle_type_, {});
    }
    return *this;
}

void TaskFds::close_all() noexcept {
    for (int fd : fds_) close_fd(fd);
    fds_.clear();
}

void mark_record_fds(Bytes& record) noexcept {
    std::uint32_t kind = TaskHeader::kTaskWithFds;
    std::memcpy(record.data() + sizeof(std::uint64_t) + offsetof(TaskHeader, kind), &kind,
                sizeof kind);
}

void send_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds) {
    if (fds.size() > kMaxFds) throw ValueError("a message can carry at most 253 fds");
    std::uint64_t len = bytes.size();
    iovec iov[2] = {{&len, sizeof len}, {const_cast<std::byte*>(bytes.data()), bytes.size()}};
    if (int e = sendmsg_all(sock, std::span(iov, bytes.empty() ? 1 : 2), fds); e != 0)
        throw_errno("send to a child process", e);
}

std::size_t recv_exact_with_fds(int sock, void* data, std::size_t size, std::vector<int>& fds) {
    std::size_t got = 0;
    std::deque<int> arrived;
    while (got < size) {
        ssize_t r = recv_with_fds(sock, static_cast<char*>(data) + got, size - got, 0, arrived);
        fds.insert(fds.end(), arrived.begin(), arrived.end());
        arrived.clear();
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == ECONNRESET) break;
            if (errno == EMSGSIZE) throw OSError(EMSGSIZE, "fds lost in transit");
            throw_errno("receive from the parent process");
        }
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    return got;
}

Bytes recv_with_fds(int sock, std::vector<int>& fds) {
    std::uint64_t len = 0;
    std::size_t got = recv_exact_with_fds(sock, &len, sizeof len, fds);
    if (got == 0) throw EOFError("the peer closed before sending its message");
    if (got < sizeof len || len > kMaxFrameSize)
        throw SerializationError("truncated or corrupt message from the peer");
    Bytes out(static_cast<std::size_t>(len));
    if (recv_exact_with_fds(sock, out.data(), out.size(), fds) < out.size())
        throw SerializationError("truncated message from the peer");
    return out;
}

}  // namespace mp::detail

// ---- Reduce<> of every handle (<mp/detail/reduce_handles.hpp>) -------------------------------

#include "mp/detail/byte_ring.hpp"
#include "mp/detail/park.hpp"
#include "mp/shared_memory.hpp"
#include "mp/synchronize.hpp"

namespace mp::detail {

void save_region(const SharedRegion& r, Bytes& out, FdSink& sink, const char* what) {
    put_pod(out, sink.add(r.fd(), what));
    put_pod<std::uint64_t>(out, r.size());
}

SharedRegion load_region(std::span<const std::byte>& in, FdSource& src, const char* what) {
    auto idx = get_pod<std::uint32_t>(in);
    auto size = get_pod<std::uint64_t>(in);
    return SharedRegion::adopt(src.take(idx, what), static_cast<std::size_t>(size));
}

namespace {

const char* ring_owner(std::uint8_t code) {
    switch (code) {
        case 1:
            return "JoinableQueue";
        case 2:
            return "SimpleQueue";
        default:
            return "Queue";
    }
}

std::uint8_t ring_owner_code(const char* what) {
    std::string_view w = what;
    if (w == "JoinableQueue") return 1;
    if (w == "SimpleQueue") return 2;
    return 0;
}

void save_lock_core(const LockCore& l, Bytes& out, FdSink& sink);
void load_lock_core(LockCore& l, std::span<const std::byte>& in, FdSource& src);

}  // namespace

template <>
struct Reduce<ByteRing> {
    static void save(const ByteRing& ring, Bytes& out, FdSink& sink) {
        save_region(ring.region_, out, sink, ring.what_);
        put_pod(out, ring_owner_code(ring.what_));
    }
    static void load_into(ByteRing& ring, std::span<const std::byte>& in, FdSource& src) {
        ring.region_ = load_region(in, src, "mp::Queue");
        ring.what_ = ring_owner(get_pod<std::uint8_t>(in));
    }
};

void save_ring(const ByteRing& ring, Bytes& out, FdSink& sink) {
    Reduce<ByteRing>::save(ring, out, sink);
}

void load_ring(ByteRing& ring, std::span<const std::byte>& in, FdSource& src) {
    Reduce<ByteRing>::load_into(ring, in, src);
}

// Lock and RLock: the mutex region; the owner record is this process's own.
template <>
struct Reduce<LockCore> {
    static void save(const LockCore& l, Bytes& out, FdSink& sink) {
        save_region(l.region_, out, sink, l.kind_);
        put_pod<std::uint8_t>(out, l.recursive_ ? 1 : 0);
    }
    static void load_into(LockCore& l, std::span<const std::byte>& in, FdSource& src) {
        l.region_ = load_region(in, src, "mp::Lock");
        if (l.region_.size() < LockCore::kHintOffset + sizeof(ParkWord))
            throw ValueError("mp::Lock: bad region");
        l.recursive_ = get_pod<std::uint8_t>(in) != 0;
        l.kind_ = l.recursive_ ? "mp::RLock" : "mp::Lock";
        l.m_ = l.region_.as<pthread_mutex_t>();
        l.hint_ = reinterpret_cast<ParkWord*>(static_cast<std::byte*>(l.region_.data()) +
                                              LockCore::kHintOffset);
        l.owner_ = std::make_shared<LockOwner>();
    }
};

namespace {
void save_lock_core(const LockCore& l, Bytes& out, FdSink& sink) {
    Reduce<LockCore>::save(l, out, sink);
}
void load_lock_core(LockCore& l, std::span<const std::byte>& in, FdSource& src) {
    Reduce<LockCore>::load_into(l, in, src);
}
}  // namespace

void Reduce<Lock>::save(const Lock& h, Bytes& out, FdSink& sink) {
    save_lock_core(h, out, sink);
}
Lock Reduce<Lock>::load(std::span<const std::byte>& in, FdSource& src) {
    Lock l;
    load_lock_core(l, in, src);
    if (l.recursive_) throw SerializationError("mp::Lock: the message holds an RLock");
    return l;
}
void Reduce<RLock>::save(const RLock& h, Bytes& out, FdSink& sink) {
    save_lock_core(h, out, sink);
}
RLock Reduce<RLock>::load(std::span<const std::byte>& in, FdSource& src) {
    RLock l;
    load_lock_core(l, in, src);
    if (!l.recursive_) throw SerializationError("mp::RLock: the message holds a Lock");
    return l;
}

void Reduce<Semaphore>::save(const Semaphore& h, Bytes& out, FdSink& sink) {
    save_region(h.region_, out, sink, "mp::Semaphore");
}
Semaphore Reduce<Semaphore>::load(std::span<const std::byte>& in, FdSource& src) {
    Semaphore s(0);
    s.region_ = load_region(in, src, "mp::Semaphore");
    s.s_ = s.region_.as<SemaphoreState>();
    return s;
}
void Reduce<BoundedSemaphore>::save(const BoundedSemaphore& h, Bytes& out, FdSink& sink) {
    Reduce<Semaphore>::save(h, out, sink);
}
BoundedSemaphore Reduce<BoundedSemaphore>::load(std::span<const std::byte>& in, FdSource& src) {
    BoundedSemaphore b(1);
    auto& s = static_cast<Semaphore&>(b);
    s.region_ = load_region(in, src, "mp::BoundedSemaphore");
    s.s_ = s.region_.as<SemaphoreState>();
    return b;
}

void Reduce<Event>::save(const Event& h, Bytes& out, FdSink& sink) {
    save_region(h.region_, out, sink, "mp::Event");
}
Event Reduce<Event>::load(std::span<const std::byte>& in, FdSource& src) {
    Event e;
    e.region_ = load_region(in, src, "mp::Event");
    e.s_ = e.region_.as<EventState>();
    return e;
}

void Reduce<Condition>::save(const Condition& h, Bytes& out, FdSink& sink) {
    save_lock_core(h.lock_, out, sink);
    save_region(h.region_, out, sink, "mp::Condition");
}
Condition Reduce<Condition>::load(std::span<const std::byte>& in, FdSource& src) {
    Condition c;
    load_lock_core(c.lock_, in, src);
    c.region_ = load_region(in, src, "mp::Condition");
    c.s_ = c.region_.as<ConditionState>();
    return c;
}

void Reduce<Barrier>::save(const Barrier& h, Bytes& out, FdSink& sink) {
    if (h.action_) {
        throw ValueError(
            "mp::Barrier: a barrier with an action cannot travel to another process (the "
            "action is a std::function); run the action after wait() returns 0 instead, or "
            "share the barrier by fork");
    }
    save_region(h.region_, out, sink, "mp::Barrier");
    put_pod<std::uint8_t>(out, h.default_timeout_ ? 1 : 0);
    put_pod<std::int64_t>(out, h.default_timeout_ ? h.default_timeout_->count() : 0);
}
Barrier Reduce<Barrier>::load(std::span<const std::byte>& in, FdSource& src) {
    Barrier b(1);
    b.region_ = load_region(in, src, "mp::Barrier");
    b.s_ = b.region_.as<BarrierState>();
    bool has = get_pod<std::uint8_t>(in) != 0;
    auto count = get_pod<std::int64_t>(in);
    if (has) b.default_timeout_ = SyncClock::duration(count);
    return b;
}

void Reduce<SharedMemory>::save(const SharedMemory& h, Bytes& out, FdSink&) {
    if (h.closed()) throw ValueError("mp::SharedMemory: a closed segment cannot be sent");
    put_pod<std::uint64_t>(out, h.name().size());
    out.insert(out.end(), reinterpret_cast<const std::byte*>(h.name().data()),
               reinterpret_cast<const std::byte*>(h.name().data()) + h.name().size());
}
SharedMemory Reduce<SharedMemory>::load(std::span<const std::byte>& in, FdSource&) {
    auto n = get_pod<std::uint64_t>(in);
    if (n > in.size()) throw SerializationError("truncated frame: a SharedMemory");
    std::string name(reinterpret_cast<const char*>(in.data()), static_cast<std::size_t>(n));
    in = in.subspan(static_cast<std::size_t>(n));
    return SharedMemory(std::string_view(name));  // OSError ENOENT if it is gone
}

}  // namespace mp::detail
