// mp/detail/byte_ring.hpp — the raw layer under mp::Queue: a ring of
// variable-length byte records in shared memory, many producers, many consumers.
// Internal building block; the typed queues in <mp/queue.hpp> are a thin layer on it.
//
// A ByteRing is a handle to one SharedRegion (anonymous, inherited by fork) holding a
// small header and a power-of-two byte ring, plus address space reserved for larger
// rings it grows into when full (and leaves again once drained): everything lives in
// that one region, so a handle that travels to another process is that region alone.
// put() writes one record, get() hands one whole record to a Sink. Records longer
// than a quarter of the ring stream through it in pieces; the producer lock is held
// for the whole record, so pieces of two records never interleave. The layout, the
// growth, the locking and what survives a SIGKILL are described at the top of
// src/queue_ring.cpp.
//
// Thread and process safety: every member may be called concurrently from any
// number of threads and processes holding a handle (close() excepted: it unmaps
// the ring for the whole calling process).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "mp/detail/reduction.hpp"
#include "mp/detail/shared_region.hpp"

namespace mp::detail {

struct RingShared;  // the shared header, defined in src/queue_ring.cpp

class ByteRing {
  public:
    using Clock = std::chrono::steady_clock;
    using Deadline = std::optional<Clock::time_point>;
    /// "No deadline" for put/get/join. (A plain time_point, not an optional: an
    /// optional built just before the call costs a store-forwarding stall per call.)
    static constexpr Clock::time_point kForever = Clock::time_point::max();

    /// Receives a record in get(). `check` sees the record's first bytes (at least
    /// min(record size, 32)) before anything is consumed: if it throws, the record
    /// stays in the ring. `take` receives the whole record once it is consumed; if
    /// it throws, the record is gone all the same (it was corrupt).
    /// `stream_begin`/`stream_append` (may be null) let the sink receive a long record
    /// without a reassembly copy: stream_begin sees the first bytes and the record's
    /// size; returning true (and setting skip, at most 32: the leading bytes it has
    /// read from `first`) makes the ring pass the rest of the record to stream_append
    /// piece by piece, then call take() with an empty span. A stream may also be
    /// abandoned (its producer died) and followed by another stream_begin() or take().
    struct Sink {
        void* ctx;
        void (*check)(void* ctx, std::span<const std::byte> first);
        void (*take)(void* ctx, std::span<const std::byte> record);
        bool (*stream_begin)(void* ctx, std::span<const std::byte> first, std::uint64_t size,
                             std::uint64_t& skip);
        void (*stream_append)(void* ctx, std::span<const std::byte> bytes);
    };

    /// A closed handle.
    ByteRing() = default;
    /// Maps a new ring. `ring_bytes` is rounded up to a power of two, at least 4 KiB;
    /// `maxsize` limits the number of whole records in the ring (0: no limit).
    /// `what` names the owner in error messages ("Queue", "SimpleQueue", …).
    ByteRing(std::size_t maxsize, std::size_t ring_bytes, const char* what);

    /// Appends one record: the bytes of `parts` (at most 3) one after the other. Waits
    /// only for a slot (maxsize) or, with every reserved segment in use, for room, until
    /// `deadline` passes (then returns false and no part of the
    /// record is ever delivered). `nowait`: do not wait for room, and wait for the
    /// producer lock only briefly.
    bool put(std::span<const std::span<const std::byte>> parts, Clock::time_point deadline,
             bool nowait);

    /// Takes the oldest record and hands it to `sink`. Returns false if none could be
    /// taken before `deadline` (or at once with `nowait`).
    bool get(const Sink& sink, Clock::time_point deadline, bool nowait);

    /// Whole records in the ring (put and not yet taken).
    [[nodiscard]] std::size_t qsize() const;
    [[nodiscard]] std::size_t maxsize() const;
    /// The ring's size in bytes (a power of two).
    [[nodiscard]] std::size_t ring_bytes() const;

    /// JoinableQueue: one record taken earlier is processed. ValueError if called
    /// more often than records were put.
    void task_done();
    /// JoinableQueue: waits until every record put has been task_done()'d (or lost
    /// with a consumer killed while taking it). False if `deadline` passed first.
    bool join(Clock::time_point deadline);

    /// Unmaps the ring for every handle in this process.
    void close() noexcept { region_.close(); }
    [[nodiscard]] bool closed() const noexcept { return region_.closed(); }

    /// For tests only: from now on this process _exits with kDiedAtStepExitCode at step
    /// `step` of its next commit (0-5: a put's, 10-15: a get's; see src/queue_ring.cpp),
    /// as a SIGKILL there would end it. -1 (the default): never.
    static void die_at_commit_step(int step) noexcept;
    static constexpr int kDiedAtStepExitCode = 86;
    /// For tests only: rings made from now on in this process grow to at most `n`
    /// segments (1: never; 0: the default, as far as memory allows).
    static void limit_segments_for_tests(unsigned n) noexcept;

    /// The default ring size: 1 MiB.
    static constexpr std::size_t kDefaultRingBytes = std::size_t{1} << 20;

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    RingShared& shared(const char* op) const {
        void* p = region_.data();
        if (p == nullptr) [[unlikely]]
            throw_closed(op);
        return *static_cast<RingShared*>(p);
    }
    [[noreturn]] void throw_closed(const char* op) const;

    SharedRegion region_;
    const char* what_ = "Queue";
};

}  // namespace mp::detail
