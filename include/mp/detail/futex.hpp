// mp/detail/futex.hpp — sleeping on a 32-bit word in shared memory (Linux futex).
// Internal building block of the queues and locks; not part of the API contract.
//
// The word must live in memory shared by the processes involved (a SharedRegion);
// the calls use the non-private futex operations so they work across processes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace mp::detail {

using Clock = std::chrono::steady_clock;
static_assert(std::atomic<std::uint32_t>::is_always_lock_free &&
                  sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "a futex word must be a plain 32-bit word");

/// Sleeps while `*word == expected`, until woken, interrupted, or `deadline`
/// (steady clock) passes. Returns false only if the deadline passed. Spurious
/// returns are possible: callers re-check their condition in a loop.
bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<Clock::time_point> deadline = std::nullopt);

/// Wakes up to `n` waiters sleeping on `word`; returns how many were woken.
int futex_wake(std::atomic<std::uint32_t>& word, int n);

/// Wakes every waiter on `word`.
int futex_wake_all(std::atomic<std::uint32_t>& word);

}  // namespace mp::detail
