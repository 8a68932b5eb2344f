// Internal: the shared-memory path of a Pipe() Connection (see <mp/connection.hpp>, "Fast
// path"). Not installed.
//
// A Pipe() makes, beside its socketpair, one memfd holding a byte ring per direction. The
// bytes of every frame (mp's header and payload, the same stream the socket would carry)
// go through the ring; the socket carries only one-byte tokens:
//   'W'  "data is in the ring": the wake byte, so that poll()/select() on fileno() and a
//        reader asleep in poll() see readiness;
//   'F'  the carrier of fds (SCM_RIGHTS) of a frame that holds handles, sent just before
//        that frame is published in the ring (fds and frames keep their order);
// and the socket's HUP is how either side learns that the other is gone (also by SIGKILL).
//
// The protocol of one direction (writer P, reader R; `lock`, `torn`, `spinning`,
// `pending`, `head` and `tail` live in the shared header, every one an atomic):
//   P0  take the writers' pid lock (pid_lock.hpp) for the whole frame: several processes
//       may write one end; torn != 0 (an earlier writer stopped inside a partly published
//       frame): BrokenPipeError
//   P1  copy bytes into the ring; tail.store(release)                     (publish)
//       (a frame larger than the room: torn = 1, publish what is copied, wait for room,
//       go on; torn = 0 once the frame is whole)
//   P2  seq_cst fence; s = spinning; h = head
//   P3  if s and h == old tail (R is spinning and this is the only data): nothing
//       else if pending == 0 and CAS pending 0 -> 1: send 'W'      (EPIPE: BrokenPipeError)
//       else if not s: poll(fd, 0) for HUP                          (HUP: BrokenPipeError)
//   R1  spinning.store(1); seq_cst fence; spin (park_spin's policy) until tail != head
//   R2  spinning.exchange(0) (seq_cst) — before consuming anything
//   R3  consume; head.store(release); unpark the writer if it waits for room
//   R4  when the ring is empty after consuming ("settle"): drain the surplus 'W' bytes so
//       poll() on fileno() does not report data that is gone (see settle() in the .cpp)
//   R5  nothing in the ring: poll(fd) — woken by 'W', by 'F', or by HUP (then EOF once
//       the ring is empty)
// Why no readiness is lost: P3 skips the byte only while R is flagged spinning and the
// ring held nothing else; R consumes only after R2, so a later publication either sees
// the flag clear (and sends 'W' if none is pending) or finds the earlier data still in
// the ring (not "the only data": it sends 'W'). Either way, whenever R is outside recv
// with data in the ring, a 'W' is in the socket. `pending` counts the 'W' bytes in the
// socket (the writer adds before sending, the reader subtracts before reading).
//
// Room: a writer that finds the ring full parks on `room` (park.hpp) in 20 ms slices,
// polling its socket for HUP between them (BrokenPipeError when the reader is gone).
//
// What a SIGKILL leaves: a writer killed in P0..P1 before publishing leaves nothing (its
// bytes past `tail` are overwritten by the next writer, which takes the lock over). One
// killed in a frame it published in part leaves a torn frame: the reader gets
// SerializationError ("truncated frame") at the socket's HUP, as on the socket path, and
// a writer in another process holding the same end gets BrokenPipeError (torn); one
// killed in P2/P3 leaves data without a 'W' and the HUP wakes the reader, which reads it
// and then EOF. A reader killed anywhere only stops consuming; the writer's next send
// that must signal or must wait for room finds the HUP (BrokenPipeError).
// Limit: a writer killed between counting a 'W' in `pending` and sending it, while another
// process still holds that writing end open, leaves the reader waiting for that byte
// (it reads it in settle()) until the other holder sends again or closes. And one killed
// after sending the 'F' of a frame with handles but before publishing it, while another
// process goes on writing that end, leaves fds that the reader gives to the next frame
// that carries handles (a wrong handle, or SerializationError when the counts differ).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>

#include "mp/detail/shared_region.hpp"
#include "system.hpp"

namespace mp::detail {

struct ConnShared;  // the shared header (connection_ring.cpp)

class ConnRing {
  public:
    /// Bytes of one direction's ring.
    static constexpr std::size_t kRingBytes = std::size_t{1} << 17;

    /// The two sides of a new ring pair (side 0 and side 1 of one region).
    static std::pair<ConnRing, ConnRing> make();
    /// Side `side` of the region in memfd `fd` (owned from now on), as sent by another
    /// process. ValueError if it is not a Connection ring.
    static ConnRing adopt(int fd, int side);

    ConnRing() = default;

    [[nodiscard]] int memfd() const noexcept { return region_.fd(); }
    [[nodiscard]] int side() const noexcept { return side_; }
    void close() noexcept { region_.close(); }

    // ---- reader side ----------------------------------------------------------------
    /// Data waiting in the ring (never blocks).
    [[nodiscard]] bool has_data() const noexcept;
    /// Copies up to `n` bytes; blocks until at least one is there. 0: the peer is gone
    /// and the ring is empty. Fds that came on `sock` are appended to `fds`.
    std::size_t read_some(int sock, std::deque<int>& fds, void* out, std::size_t n);
    /// Waits until data is in the ring or the peer is gone (true) or `deadline` passes.
    bool wait_readable(int sock, std::deque<int>& fds, std::optional<Clock::time_point> deadline);
    /// Reads 'F' bytes from `sock` until `fds` holds at least `n` fds (false: the peer
    /// closed first).
    bool take_fds(int sock, std::deque<int>& fds, std::size_t n);

    // ---- writer side ----------------------------------------------------------------
    /// Writes the bytes of `parts` as one stream (waiting for room as needed); `fds` go
    /// first on `sock`, in an 'F' byte. BrokenPipeError if the reader is gone.
    void write(int sock, std::span<const std::span<const std::byte>> parts,
               std::span<const int> fds);

  private:
    enum class Waited { data, eof, timeout };
    Waited wait_data(int sock, std::deque<int>& fds, std::optional<Clock::time_point> deadline,
                     bool spin);
    void settle(int sock, std::deque<int>& fds);
    void spin_for_data();
    void signal(int sock, std::uint64_t old_tail, bool always);
    void wait_room(int sock, std::uint64_t need);

    ConnShared* shared() const noexcept { return static_cast<ConnShared*>(region_.data()); }

    SharedRegion region_;
    int side_ = 0;
};

}  // namespace mp::detail
