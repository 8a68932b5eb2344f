// mp/queue.hpp — Queue, SimpleQueue, JoinableQueue (Python: multiprocessing.queues).
//
//     mp::Queue<std::optional<int>> q;                 // Queue()
//     mp::Process p([](mp::Queue<std::optional<int>> q) {
//         for (int i = 0; i < 5; ++i) q.put(i);
//         q.put(std::nullopt);                          // the sentinel: "no more"
//     }, q);
//     p.start();
//     while (auto item = q.get()) std::printf("%d\n", *item);
//     p.join();
//
// What it is: a ring of records in shared memory (an anonymous mapping made by the
// constructor and inherited by fork: no name, nothing in /dev/shm to leak).
// Create the queue before Process::start() and pass it (a handle: copies share
// it). Any number of producers and consumers, in any mix of processes and threads;
// each item is delivered exactly once, whole, and each producer's items arrive in
// the order it put them. Items are serialized like Connection::send (see
// <mp/serialize.hpp>); get() of an item put as another type throws
// SerializationError naming both types and leaves the item in the queue.
//
// Size: as in Python, only maxsize bounds a queue. put() on a queue with no maxsize
// never waits, whatever the number and size of the items: when the ring
// (QueueOptions::ring_bytes, default 1 MiB) is full, the queue grows into a larger
// ring (2x, 4x, ... the first), and once consumers have caught up it goes back to the
// first ring and gives the memory of the larger ones back. The rings are reserved as
// address space when the queue is made (up to half the machine's memory in all);
// memory is used only as items occupy it. Only a backlog beyond that reservation
// makes put() wait for consumers. Items larger than a quarter of the ring stream
// through it in pieces, so ring_bytes never limits item size; a larger first ring
// lets a stream run ahead of its consumers without growing (e.g. 4 MiB for 1 MiB
// items).
//
// Differences from Python:
//   * Python's put() hands the item to a feeder thread; here put() writes straight
//     into shared memory, so there is no thread, nothing to flush at exit, and a
//     process may end right after its last put() (Python's "joining processes that
//     use queues" deadlock does not exist).
//   * put(x, timeout): waits only for maxsize (or a backlog beyond the reservation);
//     if the timeout runs out while a large item is half written, the half written is
//     dropped (never delivered) and Full is thrown. get(timeout) bounds the wait for
//     an item to begin; once it holds the start of a large item it waits for the rest
//     as long as its producer lives.
//   * put_nowait()/get_nowait() never wait for room or data, but wait up to 10 ms
//     for another process to finish its own put/get.
//
// Blocking sleeps in the kernel (futex words in the shared mapping, with the park
// helper of <mp/detail/park.hpp>) and costs a wake-up only when somebody sleeps.
// Before sleeping a waiter spins briefly (up to 20 us for data or a slot, 2 us for a
// lock), but only when the process it waits for last ran on another CPU, and less
// often after spins that did not pay off: on a machine where the two share a CPU,
// spinning would only delay the other.
//
// What survives a SIGKILL: a producer killed at any point inside put() leaves the
// queue usable, and its partial item is never delivered: consumers drop it. A
// consumer killed inside get() leaves the queue usable too: the item it was taking
// is either left for the next consumer (killed before taking it) or lost with it;
// for JoinableQueue such a lost item counts as done. As in Python, a consumer
// killed after get() returned but before task_done() leaves join() waiting. The
// others notice a death within about 20 ms: a process waiting for a lock checks
// every 20 ms that its holder lives (a zombie counts as dead), and a consumer
// holding the start of a large item checks on its producer every 10 ms.
//
// Thread safety: all members may be called concurrently from any threads and
// processes, except close(), which unmaps the queue for the whole calling process.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/detail/byte_ring.hpp"
#include "mp/detail/reduction.hpp"
#include "mp/errors.hpp"
#include "mp/serialize.hpp"

namespace mp {

/// How to size a queue.
struct QueueOptions {
    /// Items the queue may hold (Python's maxsize); 0: no item limit.
    std::size_t maxsize = 0;
    /// Bytes of the first shared ring, rounded up to a power of two (at least 4 KiB);
    /// the queue grows past it when needed. An item takes its encoded size plus 32
    /// bytes (rounded up to 8).
    std::size_t ring_bytes = detail::ByteRing::kDefaultRingBytes;
};

namespace detail {
/// std::vector or std::basic_string of arithmetic elements (not bool): cereal encodes
/// them as a 64-bit element count and the elements' bytes, so the queue can copy them
/// straight between the container and the ring.
template <class T>
struct is_contiguous_arithmetic : std::false_type {};
template <class E, class A>
struct is_contiguous_arithmetic<std::vector<E, A>>
    : std::bool_constant<std::is_arithmetic_v<E> && !std::is_same_v<E, bool>> {};
template <class C, class Tr, class A>
struct is_contiguous_arithmetic<std::basic_string<C, Tr, A>>
    : std::bool_constant<std::is_arithmetic_v<C>> {};
template <class T>
concept ContiguousArithmetic = is_contiguous_arithmetic<T>::value && CerealSerializable<T>;
/// ...whose elements never straddle two pieces (pieces split records at multiples of 8).
template <class T>
concept StreamableContiguous = ContiguousArithmetic<T> &&(8 % sizeof(typename T::value_type) == 0);
static_assert(std::is_same_v<cereal::size_type, std::uint64_t>,
              "the queue's contiguous fast path writes cereal's 64-bit size tag");

/// The encoding buffer of this thread (reused; released once it grows past 16 MiB).
Bytes& queue_scratch();
void queue_scratch_trim() noexcept;
template <class Rep, class Period>
ByteRing::Clock::time_point queue_deadline(std::chrono::duration<Rep, Period> timeout,
                                           const char* what) {
    if (timeout < timeout.zero())
        throw ValueError(std::string(what) + ": timeout must be non-negative");
    return ByteRing::Clock::now() + std::chrono::ceil<ByteRing::Clock::duration>(timeout);
}
}  // namespace detail

template <class T>
class Queue {
    MP_REQUIRE_SERIALIZABLE(T);

  public:
    using value_type = T;

    /// Queue(maxsize=0): 0 means no limit on the number of items.
    explicit Queue(std::size_t maxsize = 0) : Queue(QueueOptions{.maxsize = maxsize}) {}
    /// A queue with an explicit ring size; see QueueOptions.
    explicit Queue(QueueOptions options) : Queue(options, "Queue") {}

    /// Puts `item`, blocking while the queue is full.
    void put(const T& item) { put_until(item, detail::ByteRing::kForever, false); }
    /// Puts `item`, waiting at most `timeout`; Full if it is still full.
    template <class Rep, class Period>
    void put(const T& item, std::chrono::duration<Rep, Period> timeout) {
        put_until(item, detail::queue_deadline(timeout, "mp::Queue::put"), false);
    }
    /// Puts `item` if there is room now; Full otherwise.
    void put_nowait(const T& item) { put_until(item, detail::ByteRing::kForever, true); }

    /// Removes and returns the oldest item, blocking while the queue is empty.
    T get() { return get_until(detail::ByteRing::kForever, false); }
    /// As get(), waiting at most `timeout`; Empty if nothing came.
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        return get_until(detail::queue_deadline(timeout, "mp::Queue::get"), false);
    }
    /// Returns an item if one is there now; Empty otherwise.
    T get_nowait() { return get_until(detail::ByteRing::kForever, true); }

    /// The number of items in the queue (a snapshot: others may change it at once).
    [[nodiscard]] std::size_t qsize() const { return ring_.qsize(); }
    /// qsize() == 0 — a snapshot: `while (!q.empty()) q.get();` races with other consumers.
    [[nodiscard]] bool empty() const { return ring_.qsize() == 0; }
    /// qsize() >= maxsize (never true with maxsize 0).
    [[nodiscard]] bool full() const {
        std::size_t m = ring_.maxsize();
        return m != 0 && ring_.qsize() >= m;
    }
    [[nodiscard]] std::size_t maxsize() const { return ring_.maxsize(); }
    /// The first ring's size in bytes (the queue grows past it when needed).
    [[nodiscard]] std::size_t ring_bytes() const { return ring_.ring_bytes(); }

    /// Closes the queue in this process, for every handle here (others keep it);
    /// later calls here throw ValueError.
    void close() noexcept { ring_.close(); }
    [[nodiscard]] bool closed() const noexcept { return ring_.closed(); }

  protected:
    Queue(QueueOptions options, const char* what)
        : ring_(options.maxsize, options.ring_bytes, what) {}

    detail::ByteRing ring_;

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    void put_until(const T& item, detail::ByteRing::Clock::time_point deadline, bool nowait);
    T get_until(detail::ByteRing::Clock::time_point deadline, bool nowait);
};

/// Python's JoinableQueue: a Queue whose consumers call task_done() once per item
/// they have finished with, and whose join() waits until all items put are done.
template <class T>
class JoinableQueue : public Queue<T> {
  public:
    explicit JoinableQueue(std::size_t maxsize = 0)
        : JoinableQueue(QueueOptions{.maxsize = maxsize}) {}
    explicit JoinableQueue(QueueOptions options) : Queue<T>(options, "JoinableQueue") {}

    /// One item taken with get() is finished. ValueError if called more times than
    /// items were put.
    void task_done() { this->ring_.task_done(); }
    /// Blocks until every item put so far has been taken and task_done()'d.
    void join() { this->ring_.join(detail::ByteRing::kForever); }
    /// As join(), waiting at most `timeout`; true if all items were done.
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        return this->ring_.join(detail::queue_deadline(timeout, "mp::JoinableQueue::join"));
    }
};

/// Python's SimpleQueue: put, get, empty, close; no item limit and no timeouts.
template <class T>
class SimpleQueue {
  public:
    SimpleQueue() : SimpleQueue(QueueOptions{}) {}
    /// maxsize is honoured too, though Python's SimpleQueue has none.
    explicit SimpleQueue(QueueOptions options) : q_(options) {}

    void put(const T& item) { q_.put(item); }
    T get() { return q_.get(); }
    [[nodiscard]] bool empty() const { return q_.empty(); }
    void close() noexcept { q_.close(); }
    [[nodiscard]] bool closed() const noexcept { return q_.closed(); }

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    Queue<T> q_;
};

// ---- definitions -------------------------------------------------------------------------

template <class T>
void Queue<T>::put_until(const T& item, detail::ByteRing::Clock::time_point deadline, bool nowait) {
    bool ok;
    if constexpr (BytesSerializable<T> && sizeof(T) <= 64) {  // one contiguous copy
        struct {
            FrameHeader h;
            std::byte value[sizeof(T)];
        } frame{header_for<T>(sizeof(T)), {}};
        std::memcpy(frame.value, std::addressof(item), sizeof(T));
        const std::span<const std::byte> parts[] = {
            std::as_bytes(std::span(&frame, 1)).first(sizeof(FrameHeader) + sizeof(T))};
        ok = ring_.put(parts, deadline, nowait);
    } else if constexpr (BytesSerializable<T>) {
        FrameHeader h = header_for<T>(sizeof(T));
        const std::span<const std::byte> parts[] = {
            std::as_bytes(std::span(&h, 1)), std::as_bytes(std::span(std::addressof(item), 1))};
        ok = ring_.put(parts, deadline, nowait);
    } else if constexpr (detail::ContiguousArithmetic<T>) {
        // Written straight from the container: exactly the bytes encode_payload makes.
        const std::uint64_t count = item.size();
        const std::span<const std::byte> data = std::as_bytes(std::span(item.data(), item.size()));
        FrameHeader h = header_for<T>(sizeof(count) + data.size());
        const std::span<const std::byte> parts[] = {std::as_bytes(std::span(&h, 1)),
                                                    std::as_bytes(std::span(&count, 1)), data};
        ok = ring_.put(parts, deadline, nowait);
    } else {
        Bytes& buf = detail::queue_scratch();
        buf.clear();
        encode_payload(item, buf);
        FrameHeader h = header_for<T>(buf.size());
        const std::span<const std::byte> parts[] = {std::as_bytes(std::span(&h, 1)), buf};
        ok = ring_.put(parts, deadline, nowait);
        detail::queue_scratch_trim();
    }
    if (!ok) {
        throw Full(nowait ? "mp::Queue::put_nowait: the queue is full"
                          : "mp::Queue::put: the queue stayed full until the timeout");
    }
}

template <class T>
T Queue<T>::get_until(detail::ByteRing::Clock::time_point deadline, bool nowait) {
    std::optional<T> out;
    detail::ByteRing::Sink sink{
        &out,
        [](void*, std::span<const std::byte> first) {
            constexpr FrameKind kind = BytesSerializable<T> ? FrameKind::bytes : FrameKind::cereal;
            FrameHeader h{};
            if (first.size() >= sizeof h) std::memcpy(&h, first.data(), sizeof h);
            bool fine = h.magic == FrameHeader::kMagic && h.kind == kind &&
                        h.fingerprint == detail::type_fingerprint<T> &&
                        (!BytesSerializable<T> || h.size == sizeof(T));
            if (!fine) expect_type<T>(read_header(first));  // throws, naming both types
        },
        [](void* ctx, std::span<const std::byte> record) {  // check() accepted its header
            if (record.empty()) return;                     // streamed into *ctx already
            FrameHeader h;
            std::memcpy(&h, record.data(), sizeof h);
            auto payload = record.subspan(sizeof h);
            if (payload.size() != h.size) {
                throw SerializationError("mp::Queue::get: truncated frame (" +
                                         std::to_string(payload.size()) + " of " +
                                         std::to_string(h.size) + " bytes)");
            }
            static_cast<std::optional<T>*>(ctx)->emplace(decode_payload<T>(payload));
        },
        nullptr, nullptr};
    if constexpr (detail::StreamableContiguous<T>) {
        // Appended piece by piece (pieces split the elements at multiples of 8 bytes):
        // no reassembly copy, and no zero-filling as resize() would do.
        using E = typename T::value_type;
        sink.stream_begin = [](void* ctx, std::span<const std::byte> first, std::uint64_t size,
                               std::uint64_t& skip) {
            FrameHeader h;
            std::uint64_t count;
            std::memcpy(&h, first.data(), sizeof h);
            std::memcpy(&count, first.data() + sizeof h, sizeof count);
            if (h.size != sizeof count + count * sizeof(E) || size != sizeof h + h.size)
                return false;
            auto& o = *static_cast<std::optional<T>*>(ctx);
            o.emplace();
            o->reserve(count);
            skip = sizeof h + sizeof count;
            return true;
        };
        sink.stream_append = [](void* ctx, std::span<const std::byte> bytes) {
            auto* p = reinterpret_cast<const E*>(bytes.data());  // 8-aligned in the ring
            auto& o = **static_cast<std::optional<T>*>(ctx);
            o.insert(o.end(), p, p + bytes.size() / sizeof(E));
        };
    }
    if (!ring_.get(sink, deadline, nowait)) {
        throw Empty(nowait ? "mp::Queue::get_nowait: the queue is empty"
                           : "mp::Queue::get: the queue stayed empty until the timeout");
    }
    return std::move(*out);
}

}  // namespace mp

#include "mp/detail/reduce_handles.hpp"  // NOLINT: Reduce<> for the queues
