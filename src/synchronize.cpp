// Lock, RLock, Semaphore, Event, Condition, Barrier: the shared state and its protocols.
//
// Lock and RLock are robust, process-shared pthread mutexes (the kernel's robust-futex
// list reports a holder's death as EOWNERDEAD); who holds one and at what depth is kept
// per process (LockOwner), confirmed by the mutex's futex word, so the uncontended path
// touches only the mutex's cache line. Semaphore, Event and Condition are futex words. The Barrier
// is a robust mutex guarding Python's barrier state machine, plus one robust "slot" mutex per party
// that a waiting party holds: a dead party's slot reports EOWNERDEAD to the others' periodic
// checks.
#include "mp/synchronize.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <ctime>
#include <limits>
#include <new>
#include <string>
#include <thread>
#include <utility>

#include "mp/detail/futex.hpp"
#include "mp/detail/park.hpp"
#include "protocol_steps.hpp"
#include "system.hpp"

namespace mp::detail {

void (*protocol_step_hook)(Protocol, int) noexcept = nullptr;

// ---- shared layouts ------------------------------------------------------------------------

static_assert(sizeof(pid_t) == sizeof(std::int32_t), "a tid is a 32-bit word");
static_assert(FUTEX_TID_MASK == 0x3fffffff && FUTEX_OWNER_DIED == 0x40000000,
              "LockCore::kernel_says_mine assumes the kernel's robust-futex bits");

struct SemaphoreState {
    std::atomic<std::uint32_t> value;    // futex word: units available
    std::atomic<std::uint32_t> waiters;  // callers between "saw 0" and "woke up"
    std::uint32_t max;                   // bounded: the start value; else 0
    std::uint32_t bounded;
};
static_assert(std::is_standard_layout_v<SemaphoreState> && sizeof(SemaphoreState) == 16,
              "SemaphoreState: four 32-bit words");

struct EventState {
    ParkWord park;                    // waiters park here (mp/detail/park.hpp)
    std::atomic<std::uint32_t> flag;  // 0 clear, 1 set
};
static_assert(std::is_standard_layout_v<EventState> && sizeof(EventState) == 12,
              "EventState: a ParkWord and a flag");

// Condition: `gen` counts notifications; `tokens` are wake-ups not yet taken;
// `sleepers` are waiters not yet notified. A waiter records gen on entry and may take a
// token only once gen has moved: so a waiter arriving after notify() cannot steal the
// wake-up of an earlier one. sleepers and gen change only under the lock; tokens are
// taken with a CAS by woken waiters. Invariant (under the lock, ignoring dead waiters):
// sleepers + tokens == waiters that have not returned. Waiters sleep with the park
// helper on `park`; notify() publishes gen and tokens, then unparks.
struct ConditionState {
    ParkWord park;
    std::atomic<std::uint32_t> gen;
    std::atomic<std::uint32_t> tokens;
    std::atomic<std::uint32_t> sleepers;
};
static_assert(std::is_standard_layout_v<ConditionState> && sizeof(ConditionState) == 20,
              "ConditionState: a ParkWord and three 32-bit words");

enum : std::int32_t { kFilling = 0, kDraining = 1, kResetting = -1, kBroken = -2 };

struct BarrierState {
    pthread_mutex_t mutex;           // robust: guards everything below but seq
    std::atomic<std::uint32_t> seq;  // futex word, bumped on every state change
    std::int32_t state;              // kFilling, kDraining, kResetting, kBroken
    std::uint32_t count;             // parties inside wait()
    std::uint32_t parties;
    std::uint32_t break_next;  // a party died in wait() during the drain: break once it ends
    // followed by `parties` slot mutexes at kSlotsOffset (held by the parties that took an
    // index in this cycle), then `parties` waiting-room mutexes (held by parties that
    // called wait() while the previous cycle drained, before they take an index)
};
static_assert(std::is_standard_layout_v<BarrierState>, "BarrierState lives in shared memory");
constexpr std::size_t kSlotsOffset = 64;
static_assert(sizeof(BarrierState) <= kSlotsOffset && kSlotsOffset % alignof(pthread_mutex_t) == 0,
              "Barrier slots follow the header");
constexpr std::size_t kMaxParties = 65536;

namespace {

// ---- robust mutex helpers ------------------------------------------------------------------

void init_robust_mutex(pthread_mutex_t* m, int type) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, type);
    int r = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    if (r != 0) throw_errno("pthread_mutex_init (robust, process-shared)", r);
}

/// Locks `m`: 0, EOWNERDEAD (held, previous holder died) or ETIMEDOUT/EBUSY (not held).
int lock_mutex(pthread_mutex_t* m, Deadline deadline) {
    int r;
    if (!deadline) {
        r = pthread_mutex_lock(m);
    } else if (*deadline == no_wait || *deadline <= SyncClock::now()) {
        r = pthread_mutex_trylock(m);
    } else {
        timespec ts = to_timespec(*deadline);
        r = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
    }
    if (r == 0 || r == EOWNERDEAD || r == ETIMEDOUT || r == EBUSY) return r;
    if (r == ENOTRECOVERABLE)
        throw Error(
            "mp: a lock whose holder died was released without being repaired; it is "
            "unusable (ENOTRECOVERABLE)");
    throw_errno("pthread_mutex_lock", r);
}

}  // namespace

pid_t init_current_tid() noexcept {
    static const int registered = pthread_atfork(nullptr, nullptr, [] { tls_tid = 0; });
    (void)registered;
    tls_tid = static_cast<pid_t>(::gettid());
    return tls_tid;
}

// ---- Lock and RLock ------------------------------------------------------------------------

namespace {
constexpr std::size_t kLockHintOffset = LockCore::kHintOffset;  // the hint's own cache line
static_assert(sizeof(pthread_mutex_t) <= kLockHintOffset, "the mutex fits its cache line");
// A robust mutex is held for a few instructions in a typical critical section: a
// waiter on another CPU than the holder spins this long before it sleeps.
constexpr auto kMutexSpin = std::chrono::microseconds(4);
}  // namespace

LockCore::LockCore(bool recursive, const char* kind)
    : region_(kLockHintOffset + sizeof(ParkWord)),
      owner_(std::make_shared<LockOwner>()),
      kind_(kind),
      recursive_(recursive) {
    m_ = new (region_.data()) pthread_mutex_t{};
    init_robust_mutex(m_, PTHREAD_MUTEX_NORMAL);
    hint_ = new (static_cast<std::byte*>(region_.data()) + kLockHintOffset) ParkWord{};
}

int LockCore::lock_contended() noexcept {
    int r = EBUSY;
    auto word = std::atomic_ref<int>(m_->__data.__lock);
    auto take = [&] {  // test, then test-and-set: polling leaves the holder's line alone
        if (word.load(std::memory_order_relaxed) != 0) return false;
        r = pthread_mutex_trylock(m_);
        return r != EBUSY;
    };
    // The hint stays "unknown" (every taker would leave its own CPU there, and a waiter
    // would then read its own): whether to spin is the policy's call alone.
    if (!park_spin(*hint_, take, kMutexSpin)) r = pthread_mutex_lock(m_);
    return r;
}

bool LockCore::locked() const noexcept {
    auto word = std::atomic_ref<int>(m_->__data.__lock).load(std::memory_order_relaxed);
    return (static_cast<unsigned>(word) & FUTEX_TID_MASK) != 0;
}

bool LockCore::took_over(int r, pid_t me) {
    if (r == ETIMEDOUT || r == EBUSY) return false;
    owner_->tid.store(me, std::memory_order_relaxed);
    owner_->depth = 1;
    if (r == EOWNERDEAD) {
        protocol_step(Protocol::lock_takeover, kLockGotOwnerDead);
        pthread_mutex_consistent(m_);
        protocol_step(Protocol::lock_takeover, kLockMadeConsistent);
        throw LockAbandoned(std::string(kind_) +
                            ".acquire: the previous holder died while holding it; this thread now "
                            "holds it: repair the data it guards, then release() it");
    }
    return true;
}

bool LockCore::acquire_slow(Deadline deadline, pid_t me) {
    if (owner_->tid.load(std::memory_order_relaxed) == me && kernel_says_mine(me)) {
        if (recursive_) {
            if (owner_->depth == std::numeric_limits<std::uint32_t>::max())
                throw ValueError(std::string(kind_) + ".acquire: recursion depth overflow");
            ++owner_->depth;
            return true;
        }
        if (!deadline)
            throw ValueError(std::string(kind_) +
                             ".acquire: this thread already holds the lock; acquiring it again "
                             "would deadlock forever (use mp::RLock to re-enter)");
        if (*deadline != no_wait) std::this_thread::sleep_until(*deadline);
        return false;
    }
    return took_over(lock_mutex(m_, deadline), me);
}

void LockCore::release_slow(pid_t me) {
    if (owner_->tid.load(std::memory_order_relaxed) != me || !kernel_says_mine(me))
        throw ValueError(std::string(kind_) +
                         ".release: the lock is not held by this thread (Python: 'released too "
                         "many times' / 'not owned'); release only what this thread acquired");
    if (owner_->depth > 1) {
        --owner_->depth;
        return;
    }
    owner_->depth = 0;
    owner_->tid.store(0, std::memory_order_relaxed);
    int r = unlock_and_wake();
    if (r != 0) throw_errno(std::string(kind_) + ".release: pthread_mutex_unlock", r);
}

int LockCore::unlock_and_wake() noexcept {
    ParkWord* wake = std::exchange(owner_->wake, nullptr);
    SharedRegion keep = std::move(owner_->wake_region);  // mapped until the unpark is done
    int r = pthread_mutex_unlock(m_);
    if (wake != nullptr) unpark_all(*wake, false);
    return r;
}

void LockCore::unpark_at_release(ParkWord& p, const SharedRegion& region) {
    if (owner_->wake == &p) return;
    if (owner_->wake != nullptr) unpark_all(*owner_->wake, false);
    owner_->wake = &p;
    owner_->wake_region = region;
}

std::uint32_t LockCore::release_all() {
    std::uint32_t depth = owner_->depth;
    owner_->depth = 0;
    owner_->tid.store(0, std::memory_order_relaxed);
    int r = unlock_and_wake();
    if (r != 0) throw_errno(std::string(kind_) + ": pthread_mutex_unlock", r);
    return depth;
}

void LockCore::reacquire(std::uint32_t depth) {
    int r = pthread_mutex_trylock(m_);
    if (r == EBUSY) r = lock_contended();
    if (r == ENOTRECOVERABLE) r = lock_mutex(m_, std::nullopt);  // throws, saying why
    owner_->tid.store(current_tid(), std::memory_order_relaxed);
    owner_->depth = depth;
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(m_);
        throw LockAbandoned(std::string(kind_) +
                            ": a holder died while this thread waited on the Condition; this "
                            "thread now holds the lock again (at its depth before wait()): "
                            "repair the data it guards, then release() it");
    }
}

// ---- Semaphore -----------------------------------------------------------------------------

namespace {
constexpr long kMaxSemaphore = std::numeric_limits<std::int32_t>::max();

bool expired(Deadline deadline) {
    return deadline && (*deadline == no_wait || SyncClock::now() >= *deadline);
}
}  // namespace

}  // namespace mp::detail

namespace mp {

using detail::Deadline;
using detail::expired;
using detail::SyncClock;

Lock::Lock() : LockCore(false, "mp::Lock") {}
RLock::RLock() : LockCore(true, "mp::RLock") {}

Semaphore::Semaphore(long value) : Semaphore(value, false) {}

Semaphore::Semaphore(long value, bool bounded) : region_(sizeof(detail::SemaphoreState)) {
    const char* kind = bounded ? "mp::BoundedSemaphore" : "mp::Semaphore";
    if (value < 0 || value > detail::kMaxSemaphore)
        throw ValueError(std::string(kind) + ": initial value must be in [0, 2^31-1], got " +
                         std::to_string(value));
    s_ = new (region_.data()) detail::SemaphoreState{};
    s_->value.store(static_cast<std::uint32_t>(value));
    s_->max = bounded ? static_cast<std::uint32_t>(value) : 0;
    s_->bounded = bounded ? 1 : 0;
}

BoundedSemaphore::BoundedSemaphore(long value) : Semaphore(value, true) {}

bool Semaphore::acquire_until(Deadline deadline) {
    auto& v = s_->value;
    std::uint32_t cur = v.load();
    for (;;) {
        while (cur > 0) {
            if (v.compare_exchange_weak(cur, cur - 1)) return true;
        }
        if (expired(deadline)) return false;
        s_->waiters.fetch_add(1);
        try {
            detail::futex_wait(v, 0, deadline);
        } catch (...) {
            s_->waiters.fetch_sub(1);
            throw;
        }
        s_->waiters.fetch_sub(1);
        cur = v.load();
    }
}

void Semaphore::release() {
    auto& v = s_->value;
    std::uint32_t cur = v.load();
    do {
        if (s_->bounded && cur >= s_->max)
            throw ValueError(
                "mp::BoundedSemaphore.release: released too many times (the value "
                "would exceed its start value " +
                std::to_string(s_->max) + ")");
        if (cur >= static_cast<std::uint32_t>(detail::kMaxSemaphore))
            throw ValueError("mp::Semaphore.release: the value would exceed 2^31-1");
    } while (!v.compare_exchange_weak(cur, cur + 1));
    if (s_->waiters.load() > 0) detail::futex_wake(v, 1);
}

long Semaphore::get_value() const noexcept {
    return static_cast<long>(s_->value.load());
}

// ---- Event ---------------------------------------------------------------------------------

Event::Event() : region_(sizeof(detail::EventState)) {
    s_ = new (region_.data()) detail::EventState{};
}

void Event::set() {
    s_->flag.store(1, std::memory_order_release);
    detail::unpark_all(s_->park);
}

void Event::clear() {
    s_->flag.store(0);
}

bool Event::is_set() const noexcept {
    return s_->flag.load() != 0;
}

bool Event::wait_until(Deadline deadline) {
    auto is_set = [this] { return s_->flag.load(std::memory_order_acquire) != 0; };
    if (is_set()) return true;
    if (expired(deadline)) return false;
    return detail::park_until(s_->park, is_set, deadline);
}

// ---- Condition -----------------------------------------------------------------------------

Condition::Condition() : Condition(RLock()) {}
Condition::Condition(const Lock& lock) : lock_(lock), region_(sizeof(detail::ConditionState)) {
    s_ = new (region_.data()) detail::ConditionState{};
}
Condition::Condition(const RLock& lock) : lock_(lock), region_(sizeof(detail::ConditionState)) {
    s_ = new (region_.data()) detail::ConditionState{};
}

namespace {
bool take_token(std::atomic<std::uint32_t>& tokens) {
    std::uint32_t t = tokens.load();
    while (t > 0) {
        if (tokens.compare_exchange_weak(t, t - 1)) return true;
    }
    return false;
}
}  // namespace

namespace {
/// A Condition waiter re-checks for a notification this often while parked: its
/// wake-up comes with the notifier's release of the lock, which a notifier that
/// dies holding the lock never does.
constexpr auto kNotifySlice = std::chrono::milliseconds(100);
}  // namespace

bool Condition::wait_until(Deadline deadline) {
    if (!lock_.is_mine())
        throw ValueError(
            "mp::Condition.wait: this thread does not hold the condition's lock; "
            "acquire it first (with std::unique_lock or acquire())");
    auto& c = *s_;
    const std::uint32_t entry = c.gen.load();
    c.sleepers.fetch_add(1);
    const std::uint32_t depth = lock_.release_all();
    bool woken = false;
    try {
        auto notified = [&] { return c.gen.load() != entry && take_token(c.tokens); };
        // Spinning, a notification is taken only once the notifier has released the lock
        // too: polling the lock word (a read) leaves its line with the notifier instead of
        // contending for a lock it still holds.
        auto notified_and_free = [&] {
            return c.gen.load() != entry && !lock_.locked() && take_token(c.tokens);
        };
        woken = notified() || (!expired(deadline) &&
                               detail::park_spin(c.park, notified_and_free, detail::kParkSpin));
        while (!woken && !expired(deadline)) {  // in slices: see notify()
            Deadline slice = SyncClock::now() + kNotifySlice;
            if (deadline && *deadline < *slice) slice = deadline;
            woken = detail::park_until(c.park, notified, slice, SyncClock::duration::zero());
        }
    } catch (...) {
        lock_.reacquire(depth);
        c.sleepers.fetch_sub(1);
        throw;
    }
    std::exception_ptr abandoned;
    try {
        lock_.reacquire(depth);
    } catch (const LockAbandoned&) {
        abandoned = std::current_exception();
    }
    if (!woken) {
        // Timed out: a notify that raced with the timeout may have counted us already.
        if (c.gen.load() != entry && take_token(c.tokens)) {
            woken = true;
        } else if (c.sleepers.load() > 0) {
            c.sleepers.fetch_sub(1);
        }
    }
    if (abandoned) std::rethrow_exception(abandoned);
    return woken;
}

void Condition::notify(std::size_t n) {
    if (!lock_.is_mine())
        throw ValueError(
            "mp::Condition.notify: this thread does not hold the condition's lock; "
            "acquire it first");
    auto& c = *s_;
    std::uint32_t sleepers = c.sleepers.load();
    auto k = static_cast<std::uint32_t>(std::min<std::size_t>(n, sleepers));
    if (k == 0) return;
    c.sleepers.fetch_sub(k);
    c.tokens.fetch_add(k);
    c.gen.fetch_add(1);
    // The wake-up itself waits for the lock's release: a waiter woken now would find the
    // lock held by us and sleep again on it (two sleeps and wake-ups per hand-off).
    // Waiters park in slices, so a notifier that dies before releasing delays them by
    // one slice at most (they find gen moved and go on to LockAbandoned).
    lock_.unpark_at_release(c.park, region_);
}

void Condition::notify_all() {
    notify(std::numeric_limits<std::size_t>::max());
}

// ---- Barrier -------------------------------------------------------------------------------

namespace {

constexpr auto kLivenessPeriod = std::chrono::milliseconds(100);

pthread_mutex_t* slot(detail::BarrierState* b, std::size_t i) {
    return reinterpret_cast<pthread_mutex_t*>(reinterpret_cast<std::byte*>(b) +
                                              detail::kSlotsOffset) +
           i;
}

void wake_all(detail::BarrierState* b) {
    b->seq.fetch_add(1);
    detail::futex_wake_all(b->seq);
}

pthread_mutex_t* waiting_room(detail::BarrierState* b, std::size_t i) {
    return slot(b, b->parties + i);
}

void break_barrier(detail::BarrierState* b) {
    b->state = detail::kBroken;
    b->break_next = 0;
    wake_all(b);
}

/// One party left the barrier (normally, or by dying): Python's _exit().
void party_left(detail::BarrierState* b) {
    if (b->count > 0) --b->count;
    if (b->count == 0 && (b->state == detail::kDraining || b->state == detail::kResetting)) {
        b->state = detail::kFilling;
        if (b->break_next != 0) b->state = detail::kBroken;  // its dead party never comes
        b->break_next = 0;
        wake_all(b);
    }
}

/// A party died in the waiting room (it had called wait() for the next cycle): that cycle
/// can never fill, so it is broken — at once if it is filling, else when the drain ends.
void waiting_party_died(detail::BarrierState* b) {
    if (b->state == detail::kFilling)
        break_barrier(b);
    else if (b->state != detail::kBroken)
        b->break_next = 1;
}

/// Under the barrier lock: finds parties that died holding their slot or their waiting-room
/// place and accounts for them.
void reap_dead_parties(detail::BarrierState* b) {
    for (std::size_t i = 0; i < 2 * std::size_t{b->parties}; ++i) {
        int r = pthread_mutex_trylock(slot(b, i));
        if (r == EOWNERDEAD) {
            pthread_mutex_consistent(slot(b, i));
            pthread_mutex_unlock(slot(b, i));
            if (i >= b->parties) {
                waiting_party_died(b);
                continue;
            }
            // It died inside wait(): while the cycle filled (it breaks now), or released
            // but before it left (the cycle it passed drains without it, and the next one
            // would wait for a party that never comes: it breaks when the drain ends).
            if (b->state == detail::kFilling)
                break_barrier(b);
            else if (b->state == detail::kDraining)
                b->break_next = 1;
            party_left(b);
        } else if (r == 0) {
            pthread_mutex_unlock(slot(b, i));
        }
    }
}

/// Under the barrier lock: takes a free waiting-room place (a robust mutex this party holds
/// while it waits for the previous cycle to drain, so that its death is seen); nullptr if
/// more callers wait than there are parties (then such a death goes unseen).
pthread_mutex_t* enter_waiting_room(detail::BarrierState* b) {
    for (std::size_t i = 0; i < b->parties; ++i) {
        int r = pthread_mutex_trylock(waiting_room(b, i));
        if (r == EOWNERDEAD) {  // a dead waiter not yet seen: account for it, then take it
            pthread_mutex_consistent(waiting_room(b, i));
            waiting_party_died(b);
            return waiting_room(b, i);
        }
        if (r == 0) return waiting_room(b, i);
    }
    return nullptr;
}

/// Holds the barrier's lock; a holder that died leaves a broken barrier with a recount.
class BarrierGuard {
  public:
    explicit BarrierGuard(detail::BarrierState* b) : b_(b) { lock(); }
    ~BarrierGuard() {
        if (held_) pthread_mutex_unlock(&b_->mutex);
    }
    BarrierGuard(const BarrierGuard&) = delete;
    BarrierGuard& operator=(const BarrierGuard&) = delete;

    void lock() {
        int r = detail::lock_mutex(&b_->mutex, std::nullopt);
        held_ = true;
        if (r == EOWNERDEAD) {
            pthread_mutex_consistent(&b_->mutex);
            // The dead party may have been half-way through an update: recount the live
            // parties (those holding their slot) and break the barrier. (The waiting room
            // holds no count; its dead are found by reap_dead_parties.)
            std::uint32_t alive = 0;
            for (std::size_t i = 0; i < b_->parties; ++i) {
                int s = pthread_mutex_trylock(slot(b_, i));
                if (s == EBUSY || s == EDEADLK) {
                    ++alive;
                } else if (s == EOWNERDEAD) {
                    pthread_mutex_consistent(slot(b_, i));
                    pthread_mutex_unlock(slot(b_, i));
                } else if (s == 0) {
                    pthread_mutex_unlock(slot(b_, i));
                }
            }
            b_->count = alive;
            break_barrier(b_);
        }
    }
    void unlock() {
        pthread_mutex_unlock(&b_->mutex);
        held_ = false;
    }
    /// Sleeps until the state changes, `deadline`, or the next liveness check.
    void sleep(Deadline deadline, int step) {
        std::uint32_t seq = b_->seq.load();
        auto next_check = SyncClock::now() + kLivenessPeriod;
        unlock();
        detail::protocol_step(detail::Protocol::barrier, step);
        detail::futex_wait(b_->seq, seq, deadline ? std::min(*deadline, next_check) : next_check);
        lock();
        reap_dead_parties(b_);
    }

  private:
    detail::BarrierState* b_;
    bool held_ = false;
};

}  // namespace

Barrier::Barrier(std::size_t parties, std::function<void()> action)
    : region_((parties == 0 || parties > detail::kMaxParties)
                  ? throw ValueError("mp::Barrier: parties must be in [1, 65536], got " +
                                     std::to_string(parties))
                  : detail::kSlotsOffset + 2 * parties * sizeof(pthread_mutex_t)),
      action_(std::move(action)) {
    s_ = new (region_.data()) detail::BarrierState{};
    detail::init_robust_mutex(&s_->mutex, PTHREAD_MUTEX_NORMAL);
    s_->parties = static_cast<std::uint32_t>(parties);
    for (std::size_t i = 0; i < 2 * parties; ++i)
        detail::init_robust_mutex(slot(s_, i), PTHREAD_MUTEX_ERRORCHECK);
}

std::size_t Barrier::wait_until(Deadline deadline) {
    using detail::Protocol, detail::protocol_step;
    BarrierGuard g(s_);
    auto* b = s_;
    protocol_step(Protocol::barrier, detail::kBarrierEntered);
    if (b->state == detail::kDraining || b->state == detail::kResetting) {
        pthread_mutex_t* place = enter_waiting_room(b);
        try {
            while (b->state == detail::kDraining || b->state == detail::kResetting)
                g.sleep(std::nullopt, detail::kBarrierInWaitingRoom);
        } catch (...) {
            if (place != nullptr) pthread_mutex_unlock(place);
            throw;
        }
        if (place != nullptr) pthread_mutex_unlock(place);
    }
    // The last to arrive first looks for parties that died waiting in this cycle: else it
    // would count a dead party as arrived and release a cycle nobody can drain.
    if (b->state == detail::kFilling && b->count + 1 == b->parties) reap_dead_parties(b);
    if (b->state == detail::kBroken)
        throw BrokenBarrierError("mp::Barrier.wait: the barrier is broken");
    const std::size_t index = b->count++;
    pthread_mutex_t* mine = slot(b, index);
    int r = pthread_mutex_trylock(mine);
    if (r == EOWNERDEAD) pthread_mutex_consistent(mine);
    protocol_step(Protocol::barrier, detail::kBarrierTookSlot);
    bool ok = true;
    if (index + 1 == b->parties) {
        protocol_step(Protocol::barrier, detail::kBarrierLastArrived);
        if (action_) {
            try {
                action_();
            } catch (...) {
                break_barrier(b);
                pthread_mutex_unlock(mine);
                party_left(b);
                throw;
            }
        }
        b->state = detail::kDraining;
        wake_all(b);
    } else {
        try {
            while (b->state == detail::kFilling) {
                if (expired(deadline)) {
                    break_barrier(b);
                    break;
                }
                g.sleep(deadline, detail::kBarrierFilling);
            }
        } catch (...) {
            pthread_mutex_unlock(mine);
            party_left(b);
            throw;
        }
        ok = b->state == detail::kDraining;
    }
    pthread_mutex_unlock(mine);
    protocol_step(Protocol::barrier, detail::kBarrierLeaving);
    party_left(b);
    protocol_step(Protocol::barrier, detail::kBarrierLeft);
    if (!ok)
        throw BrokenBarrierError(
            "mp::Barrier.wait: the barrier was broken (aborted, reset, a "
            "wait timed out or a party died) while waiting");
    return index;
}

void Barrier::abort() {
    BarrierGuard g(s_);
    break_barrier(s_);
}

void Barrier::reset() {
    BarrierGuard g(s_);
    s_->break_next = 0;
    if (s_->count > 0) {
        if (s_->state == detail::kFilling || s_->state == detail::kBroken)
            s_->state = detail::kResetting;
    } else {
        s_->state = detail::kFilling;
    }
    wake_all(s_);
}

std::size_t Barrier::parties() const noexcept {
    return s_->parties;
}

std::size_t Barrier::n_waiting() const {
    BarrierGuard g(s_);
    return s_->state == detail::kFilling ? s_->count : 0;
}

bool Barrier::broken() const {
    BarrierGuard g(s_);
    return s_->state == detail::kBroken;
}

}  // namespace mp
