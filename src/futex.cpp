#include "mp/detail/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include "system.hpp"

namespace mp::detail {
namespace {

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t val, const timespec* ts,
           std::uint32_t bitset) {
    return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, val, ts, nullptr,
                     bitset);
}

}  // namespace

bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<Clock::time_point> deadline) {
    timespec ts{};
    if (deadline) ts = to_timespec(*deadline);  // FUTEX_WAIT_BITSET: absolute, CLOCK_MONOTONIC
    long r =
        futex(word, FUTEX_WAIT_BITSET, expected, deadline ? &ts : nullptr, FUTEX_BITSET_MATCH_ANY);
    if (r == 0) return true;
    if (errno == ETIMEDOUT) return false;
    if (errno == EAGAIN || errno == EINTR) return true;  // value changed, or a signal: re-check
    throw_errno("futex wait");
}

int futex_wake(std::atomic<std::uint32_t>& word, int n) {
    long r = futex(word, FUTEX_WAKE, static_cast<std::uint32_t>(n), nullptr, 0);
    if (r < 0) throw_errno("futex wake");
    return static_cast<int>(r);
}

int futex_wake_all(std::atomic<std::uint32_t>& word) {
    return futex_wake(word, INT_MAX);
}

}  // namespace mp::detail
