// Internal: a lock in shared memory that outlives a holder killed while holding it. Used by
// Queue's ring (queue_ring.cpp: one per side) and Pipe's ring (connection_ring.cpp: one per
// direction, so that two processes writing one end never interleave their frames).
// Not installed.
//
// The lock is a futex word holding its holder's pid (CAS to take, xchg to give: half the
// cost of a robust pthread mutex, which keeps a per-thread list); its top bit says that
// somebody may sleep on it. A waiter spins briefly (the park policy of `hint`), then sleeps
// in slices of kPidLockSlice; after each it checks that the holder's process still exists
// (a pidfd: a zombie counts as gone) and, if not, takes the lock over — the caller then
// repairs what the dead holder left.
// Limits: a dead holder whose pid is already reused by a new process looks alive (the
// kernel hands out pids in increasing order, so this needs the counter to wrap around
// pid_max between the death and the next check); a thread that exits while holding a lock
// (not a crash: its process lives) is not detected; the lock is not recursive (a thread
// that takes it twice waits for itself). The pid is cached per process and reset after
// fork() by a pthread_atfork handler, so a child made with a raw clone() must not use one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "mp/detail/park.hpp"

namespace mp::detail {

inline constexpr std::uint32_t kPidLockWaiters = 0x80000000u;  // pids are below 2^22
inline constexpr auto kPidLockSlice = std::chrono::milliseconds(20);

/// This process's pid, cached (getpid() is a system call); a fork child forgets it.
std::uint32_t self_pid() noexcept;

/// True if process `pid` has ended; a zombie counts as ended (it will never release a
/// lock or finish a record), though kill(pid, 0) still finds it.
bool process_gone(std::uint32_t pid) noexcept;

enum class PidLocked {
    no,           // the deadline passed
    yes,          // taken
    over_a_dead,  // taken from a holder that died holding it: repair what it guards
};

/// Takes `word`: spins up to `spin` where `hint`'s policy says a spin pays, then sleeps.
PidLocked pid_lock(std::atomic<std::uint32_t>& word, ParkWord& hint, Clock::duration spin,
                   std::optional<Clock::time_point> deadline);

/// Takes `word` now unless a live process holds it (no: it does; yes: it was free;
/// over_a_dead: its holder had died). Never waits.
PidLocked pid_lock_unless_held(std::atomic<std::uint32_t>& word) noexcept;

void pid_unlock(std::atomic<std::uint32_t>& word) noexcept;

/// Holds a pid lock for a scope.
class PidLockGuard {
  public:
    explicit PidLockGuard(std::atomic<std::uint32_t>& w) noexcept : w_(&w) {}
    PidLockGuard(const PidLockGuard&) = delete;
    PidLockGuard& operator=(const PidLockGuard&) = delete;
    ~PidLockGuard() { release(); }
    void release() noexcept {
        if (w_ != nullptr) pid_unlock(*w_);
        w_ = nullptr;
    }

  private:
    std::atomic<std::uint32_t>* w_;
};

}  // namespace mp::detail
