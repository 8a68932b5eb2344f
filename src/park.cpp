// The park helper's out-of-line parts (see mp/detail/park.hpp): the spin policy and
// the wake-up system calls.
#include "mp/detail/park.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace mp::detail::park_detail {

namespace {

// Spin policy of this thread: after a spin that ended in a sleep anyway, the next
// 2^fails - 1 waits skip the spin (fails grows with each failure, up to 8); a spin
// that succeeds resets it.
thread_local unsigned t_fails = 0;
thread_local unsigned t_skip = 0;

int online_cpus() noexcept {
    static const int n = [] {
        cpu_set_t set;
        if (::sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
        return static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
    }();
    return n;
}

}  // namespace

// The part of the policy after the CPU count: this thread's recent spins, the waker's CPU.
bool spin_worth_it_policy(const ParkWord& p) noexcept;

bool spin_worth_it(const ParkWord& p) noexcept {
    if (online_cpus() < 2) return false;
    return spin_worth_it_policy(p);
}

bool spin_worth_it_system(const ParkWord& p) noexcept {
    static const long n = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
    if (n < 2) return false;
    return spin_worth_it_policy(p);
}

bool spin_worth_it_policy(const ParkWord& p) noexcept {
    if (t_skip != 0) {
        --t_skip;
        return false;
    }
    const int waker = p.waker_cpu1.load(std::memory_order_relaxed) - 1;
    return waker < 0 || waker != ::sched_getcpu();
}

void spin_result(bool success) noexcept {
    if (success) {
        t_fails = 0;
        return;
    }
    t_fails = std::min(t_fails + 1, 8u);
    t_skip = (1u << t_fails) - 1;
}

}  // namespace mp::detail::park_detail

namespace mp::detail {

bool spin_until_readable(int fd, Clock::duration spin) noexcept {
    using namespace park_detail;
    const ParkWord no_hint{};  // no waker CPU to compare with: only the policy decides
    if (spin <= Clock::duration::zero() || online_cpus() < 2 || !spin_worth_it_policy(no_hint))
        return false;
    const auto end = Clock::now() + spin;
    do {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 0) > 0) {
            spin_result(true);
            return true;
        }
        for (int i = 0; i < 16; ++i) cpu_relax();
    } while (Clock::now() < end);
    spin_result(false);
    return false;
}

}  // namespace mp::detail

namespace mp::detail::park_detail {

void note_waker_now(ParkWord& p) noexcept {
    p.waker_cpu1.store(::sched_getcpu() + 1, std::memory_order_relaxed);
}

void wake_slow(ParkWord& p, std::uint32_t seen) noexcept {
    if (!claim_wake(p, seen)) return;
    try {
        futex_wake_all(p.word);
    } catch (...) {  // FUTEX_WAKE cannot fail on a valid, mapped word
    }
}

void poll_until(std::span<pollfd> fds, ParkDeadline deadline) noexcept {
    int ms = -1;
    if (deadline) {
        auto left = *deadline - Clock::now();
        if (left <= Clock::duration::zero()) return;
        // Round up: a poll that returns a little early would only poll again.
        ms = static_cast<int>(std::min<long long>(
            std::chrono::ceil<std::chrono::milliseconds>(left).count(), 1 << 30));
    }
    (void)::poll(fds.data(), static_cast<nfds_t>(fds.size()), ms);
}

}  // namespace mp::detail::park_detail
