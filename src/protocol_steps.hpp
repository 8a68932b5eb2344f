// Internal: a test hook at the numbered steps of mp's shared-memory protocols, so a test
// can stop or kill a party at exactly step k (tests/test_synchronize.cpp kills a party at
// every step of the lock takeover and of the barrier cycle). Process-local; null — one
// predictable branch — in normal use. Not installed.
#pragma once

namespace mp::detail {

enum class Protocol { lock_takeover, barrier, connection_ring };

/// Called at each step when set (a test sets it in a child, then kills the child there).
extern void (*protocol_step_hook)(Protocol protocol, int step) noexcept;

inline void protocol_step(Protocol protocol, int step) noexcept {
    if (auto hook = protocol_step_hook) hook(protocol, step);
}

// Lock takeover (LockCore) steps.
inline constexpr int kLockGotOwnerDead = 1;    // pthread said EOWNERDEAD, not yet consistent
inline constexpr int kLockMadeConsistent = 2;  // consistent, LockAbandoned not yet thrown

// Barrier steps (in Barrier::wait_until).
inline constexpr int kBarrierEntered = 1;        // holds the barrier's lock
inline constexpr int kBarrierInWaitingRoom = 2;  // asleep until the previous cycle drains
inline constexpr int kBarrierTookSlot = 3;       // has its index and its slot, lock held
inline constexpr int kBarrierLastArrived = 4;    // the last party, before the release
inline constexpr int kBarrierFilling = 5;        // asleep until the cycle fills
inline constexpr int kBarrierLeaving = 6;        // slot released, not yet counted out
inline constexpr int kBarrierLeft = 7;           // counted out, lock still held

// Pipe() ring steps (src/connection_ring.cpp; the protocol is in connection_ring.hpp).
inline constexpr int kConnWriterCopied = 1;     // bytes copied into the ring, not published
inline constexpr int kConnWriterPublished = 2;  // tail stored, no wake byte decided yet
inline constexpr int kConnWriterCounted = 3;    // pending counted, its 'W' not yet sent
inline constexpr int kConnWriterLocked = 4;     // holds the writers' lock, nothing written
inline constexpr int kConnReaderSpinning = 11;  // about to flag itself spinning
inline constexpr int kConnReaderSleeping = 12;  // about to sleep in poll()
inline constexpr int kConnReaderCopied = 13;    // bytes copied out, head not yet advanced

}  // namespace mp::detail
