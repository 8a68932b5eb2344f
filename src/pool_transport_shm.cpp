// The Pool's shared-memory transport (see pool_transport.hpp and pool_shared.hpp):
// rings in one SharedRegion, the shared ticket table, an eventfd, and a zygote.
//
// The zygote runs no thread and only ever forks workers (and reaps them). How it is
// made follows the pool's start method: under `fork` it is forked when the transport is
// made, before the pool starts its background thread (the workers see the program as
// it was then); under `forkserver` and `spawn` it is a child of the launch seam
// (popen.hpp: forked by the fork server, or a fresh exec), which runs zygote_entry
// with the region's memfd, the eventfd, its socket end, a pidfd of the parent and the
// initializer's fds in the child description — so its workers come from a fresh image
// and see none of the parent's state but what the initializer and the tasks bring.
// Under `fork` the zygote is not forked by the parent itself but by the pool's keeper
// (pool_keeper.hpp), a fork of the parent made with the transport, before the pool's
// thread: so every zygote, the first and each replacement, is a copy of the program as
// it was when the Pool was made, and nothing is forked from a process running a thread.
// A zygote that dies (killed) takes its workers with it: the parent reports each as
// ended (WorkerLost for a running task), maps a fresh region and makes a new zygote
// the same way the first was made. The parent talks
// to it over a SOCK_SEQPACKET socket pair: commands {spawn slot}, {signal slot sig}, {quit};
// answers {started slot pid}, {start_failed slot errno}, {exited slot pid code}. The zygote watches
// its parent with a pidfd: when the parent dies (any signal, SIGKILL included) it SIGKILLs the
// workers and exits at once; the workers also have PR_SET_PDEATHSIG(SIGKILL) towards the zygote.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "mp/detail/park.hpp"
#include "mp/detail/reduction.hpp"
#include "mp/detail/shared_region.hpp"
#include "mp/pool.hpp"
#include "mp/process.hpp"
#include "pool_keeper.hpp"
#include "pool_shared.hpp"
#include "pool_transport.hpp"
#include "popen.hpp"
#include "system.hpp"

namespace mp::detail {
namespace {

constexpr int kMaxSleepMs = 1000;

std::size_t ring_bytes_for(std::size_t workers) {
    std::size_t ring = std::size_t{1} << 20;
    while (ring > (std::size_t{64} << 10) && ring * workers > (std::size_t{32} << 20)) ring >>= 1;
    return ring;
}

// At most this many tasks wait in one worker's inbox (the scheduler's limit too).
constexpr std::size_t kTicketsPerWorker = 1024;

struct ZygoteCmd {
    enum : std::uint32_t { spawn = 1, signal = 2, quit = 3 };
    std::uint32_t op = 0;
    std::uint32_t slot = 0;
    std::int32_t arg = 0;
};

struct ZygoteMsg {
    enum : std::uint32_t { started = 1, start_failed = 2, exited = 3 };
    std::uint32_t kind = 0;
    std::uint32_t slot = 0;
    std::int32_t pid = 0;
    std::int32_t code = 0;
};

int pidfd_signal(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

int decode_status(const siginfo_t& info) {
    if (info.si_code == CLD_EXITED) return info.si_status;
    return -info.si_status;
}

// ---- the zygote (runs in its own single-threaded process) ------------------------------

struct ZygoteArgs {
    void* region;
    PoolLayout layout;
    int efd;
    int sock;
    int parent_pidfd;
    const WorkerConfig* config;
};

[[noreturn]] void zygote_main(const ZygoteArgs& a) {
    ::prctl(PR_SET_NAME, "mp-pool-zygote");
    preload_code_map();
    // Ignore what the terminal sends the process group: the parent decides, and the
    // zygote follows its parent's death through the pidfd.
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGPIPE, SIG_IGN);
    std::size_t n = a.layout.workers;
    std::vector<int> pidfds(n, -1);
    std::vector<pid_t> pids(n, 0);
    PoolControl* ctl = a.layout.control(a.region);
    pid_t self = ::getpid();
    auto tell = [&](ZygoteMsg m, int fd = -1) {
        iovec iov{&m, sizeof m};
        sendmsg_all(a.sock, std::span(&iov, 1), fd >= 0 ? std::span(&fd, 1) : std::span<int>());
        ctl->zygote_events.fetch_add(1, std::memory_order_release);
        ::eventfd_write(a.efd, 1);
    };
    auto kill_all_and_exit = [&](int code) {
        for (std::size_t i = 0; i < n; ++i) {
            if (pidfds[i] >= 0) pidfd_signal(pidfds[i], SIGKILL);
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (pidfds[i] < 0) continue;
            siginfo_t info{};
            retry_eintr(
                [&] { return ::waitid(P_PIDFD, static_cast<id_t>(pidfds[i]), &info, WEXITED); });
        }
        ::_exit(code);
    };
    std::vector<pollfd> fds;
    std::vector<std::size_t> who;
    for (;;) {
        fds.clear();
        who.clear();
        fds.push_back(pollfd{a.sock, POLLIN, 0});
        fds.push_back(pollfd{a.parent_pidfd, POLLIN, 0});
        for (std::size_t i = 0; i < n; ++i) {
            if (pidfds[i] < 0) continue;
            fds.push_back(pollfd{pidfds[i], POLLIN, 0});
            who.push_back(i);
        }
        int r = ::poll(fds.data(), fds.size(), -1);
        if (r < 0) {
            if (errno == EINTR) continue;
            kill_all_and_exit(3);
        }
        if (fds[1].revents != 0) kill_all_and_exit(0);  // the parent is gone
        for (std::size_t k = 2; k < fds.size(); ++k) {
            if (fds[k].revents == 0) continue;
            std::size_t i = who[k - 2];
            siginfo_t info{};
            int w = retry_eintr([&] {
                return ::waitid(P_PIDFD, static_cast<id_t>(pidfds[i]), &info, WEXITED | WNOHANG);
            });
            if (w < 0 || info.si_pid == 0) continue;
            ::close(pidfds[i]);
            pidfds[i] = -1;
            tell(ZygoteMsg{ZygoteMsg::exited, static_cast<std::uint32_t>(i), pids[i],
                           decode_status(info)});
        }
        if (fds[0].revents == 0) continue;
        ZygoteCmd c;
        ssize_t got = ::recv(a.sock, &c, sizeof c, MSG_DONTWAIT);
        if (got == 0) kill_all_and_exit(0);  // the parent closed its end
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            kill_all_and_exit(3);
        }
        if (got != sizeof c || c.slot >= n) continue;
        if (c.op == ZygoteCmd::quit) kill_all_and_exit(0);
        if (c.op == ZygoteCmd::signal) {
            if (pidfds[c.slot] >= 0) pidfd_signal(pidfds[c.slot], c.arg);
            continue;
        }
        if (c.op != ZygoteCmd::spawn || pidfds[c.slot] >= 0) continue;
        WorkerSlot* s = a.layout.slot(a.region, c.slot);
        s->ready.store(WorkerSlot::kNew);
        s->busy.store(0);
        a.layout.inbox(a.region, c.slot).reset();
        a.layout.outbox(a.region, c.slot).reset();
        // The socket the parent sends this worker's tasks' fds on (one per worker, so a
        // replacement never reads what was sent to the one before it).
        int fsv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fsv) < 0) {
            tell(ZygoteMsg{ZygoteMsg::start_failed, c.slot, 0, errno});
            continue;
        }
        pid_t pid = ::fork();
        if (pid < 0) {
            int err = errno;
            ::close(fsv[0]);
            ::close(fsv[1]);
            tell(ZygoteMsg{ZygoteMsg::start_failed, c.slot, 0, err});
            continue;
        }
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != self) ::_exit(1);
            ::close(a.sock);
            ::close(a.parent_pidfd);
            ::close(fsv[0]);
            for (int fd : pidfds) {
                if (fd >= 0) ::close(fd);
            }
            ::signal(SIGINT, SIG_DFL);
            ::signal(SIGPIPE, SIG_DFL);
            ::prctl(PR_SET_NAME, "mp-pool-worker");
            int code = shm_worker_main(a.region, a.layout, c.slot, a.efd, *a.config, self, fsv[1]);
            flush_std_streams();
            ::_exit(code);
        }
        ::close(fsv[1]);
        int pfd = pidfd_open(pid);
        if (pfd < 0) {
            int err = errno;
            ::close(fsv[0]);
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            tell(ZygoteMsg{ZygoteMsg::start_failed, c.slot, 0, err});
            continue;
        }
        pidfds[c.slot] = pfd;
        pids[c.slot] = pid;
        tell(ZygoteMsg{ZygoteMsg::started, c.slot, pid, 0}, fsv[0]);
        ::close(fsv[0]);
    }
}

// ---- the zygote of a fresh image (forkserver, spawn) ----------------------------------------

/// What a fresh-image zygote is told besides its fds.
struct ZygoteBoot {
    std::uint64_t workers = 0;
    std::uint64_t ring_bytes = 0;
    std::uint64_t tickets = 0;
    std::uint64_t maxtasks = 0;
    std::uint32_t has_init = 0;
    std::uint32_t init_fds = 0;
    CodeRef init_trampoline{};
};
static_assert(std::is_trivially_copyable_v<ZygoteBoot>);

// The fds of the child description, in this order, then the initializer's.
enum : std::uint32_t { kFdRegion = 0, kFdEvent = 1, kFdSock = 2, kFdParent = 3, kFdInit = 4 };

// The task a fresh-image zygote runs (a Trampoline, named by CodeRef in the child spec).
void zygote_entry(std::span<const std::byte>, std::span<const std::byte> args, Bytes&) {
    FdSource* src = current_fd_source();
    if (src == nullptr) throw Error("mp::Pool: the zygote got no fds");
    auto in = args;
    auto boot = get_pod<ZygoteBoot>(in);
    auto init_callable = get_bytes(in);
    auto init_args = get_bytes(in);
    PoolLayout layout{static_cast<std::size_t>(boot.workers),
                      static_cast<std::size_t>(boot.ring_bytes),
                      static_cast<std::size_t>(boot.tickets)};
    SharedRegion region =
        SharedRegion::adopt(src->take(kFdRegion, "the pool's region"), layout.total());
    int efd = src->take(kFdEvent, "the pool's eventfd");
    int sock = src->take(kFdSock, "the pool's socket");
    int parent = src->take(kFdParent, "the pool's parent");
    std::vector<int> init_fds;
    for (std::uint32_t i = 0; i < boot.init_fds; ++i)
        init_fds.push_back(src->take(kFdInit + i, "an initializer argument"));
    std::function<void()> init;
    if (boot.has_init != 0) {
        const void* code = resolve_code(boot.init_trampoline);
        if (code == nullptr) throw Error("mp::Pool: the initializer's code is not loaded here");
        auto tramp = reinterpret_cast<Trampoline>(const_cast<void*>(code));
        // Runs in a worker (a fork of this zygote): its copies of the fds become the handles'.
        init = [tramp, init_callable, init_args, &init_fds] {
            FdSource fds(init_fds);
            current_fd_source() = &fds;
            Bytes none;
            tramp(init_callable, init_args, none);
            current_fd_source() = nullptr;
        };
    }
    WorkerConfig config{init ? &init : nullptr, nullptr, static_cast<std::size_t>(boot.maxtasks)};
    zygote_main(ZygoteArgs{region.data(), layout, efd, sock, parent, &config});
}

// ---- the parent side -----------------------------------------------------------------------

class ShmTransport final : public PoolTransport {
  public:
    ShmTransport(std::size_t workers, WorkerConfig config, StartMethod method)
        : config_(config),
          method_(method),
          layout_{workers, ring_bytes_for(workers), workers * kTicketsPerWorker},
          slots_(workers) {
        if (method_ != StartMethod::fork && config_.source != nullptr &&
            static_cast<bool>(*config_.source)) {
            config_.source->encode(init_);  // checked sendable by the Pool
        }
        region_ = SharedRegion(layout_.total());
        base_.store(region_.data());
        efd_ = check(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "Pool: eventfd");
        try {
            if (method_ == StartMethod::fork) make_keeper();
            launch_zygote();
        } catch (...) {
            keeper_.reset();
            close_fd(self_pidfd_);
            close_fd(efd_);
            efd_ = -1;
            region_.close();
            throw;
        }
    }

    ~ShmTransport() override { shutdown(std::chrono::milliseconds(1000)); }

    std::size_t slots() const noexcept override { return slots_.size(); }
    std::size_t tickets() const noexcept override { return layout_.tickets; }

    void start(std::size_t i) override {
        auto& s = slots_[i];
        reset(s);
        if (!zygote_) {  // it died: the next receive() makes another, then asks it
            s.starting = true;
            relaunch_.store(true, std::memory_order_relaxed);
            return;
        }
        command(ZygoteCmd{ZygoteCmd::spawn, static_cast<std::uint32_t>(i), 0});
    }

    bool can_send(std::size_t i) const noexcept override {
        const auto& s = slots_[i];
        return s.alive && !s.stopping && s.partial.empty();
    }

    void send(std::size_t i, TicketId t, std::span<const std::byte> rec,
              std::span<const int> fds) override {
        auto& s = slots_[i];
        layout_.ticket_table(region_.data())[t.number].store(
            ticket::pack(t.generation, ticket::kQueued), std::memory_order_relaxed);
        if (!fds.empty() && !send_fds(s, t, fds)) {
            // The worker's socket is full: the fds and the whole record wait here, in
            // order, until flush() gets the fds out (the worker, reading, wakes us).
            s.held_fds = TaskFds(fds, "a task's handle");
            s.held_ticket = t;
            s.partial.assign(rec.begin(), rec.end());
            s.partial_at = 0;
            touch(i);
            return;
        }
        std::size_t k = layout_.inbox(region_.data(), i).write_some(rec.data(), rec.size());
        if (k != rec.size()) {
            s.partial.assign(rec.begin() + static_cast<std::ptrdiff_t>(k), rec.end());
            s.partial_at = 0;
        }
        touch(i);
    }

    void flush() override {
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            auto& s = slots_[i];
            if (!s.alive || s.partial.empty()) continue;
            if (!s.held_fds.fds().empty()) {
                if (!send_fds(s, s.held_ticket, s.held_fds.fds())) continue;
                s.held_fds = TaskFds();
            }
            s.partial_at +=
                layout_.inbox(region_.data(), i)
                    .write_some(s.partial.data() + s.partial_at, s.partial.size() - s.partial_at);
            if (s.partial_at == s.partial.size()) {
                s.partial.clear();
                s.partial.shrink_to_fit();
            }
            touch(i);
        }
        if (touched_.empty()) return;
        for (std::size_t i : touched_)
            unpark_all(layout_.inbox(region_.data(), i).control().data_park);
        touched_.clear();
    }

    bool revoke(std::size_t, TicketId t) override {
        std::uint32_t expected = ticket::pack(t.generation, ticket::kQueued);
        return layout_.ticket_table(region_.data())[t.number].compare_exchange_strong(
            expected, ticket::pack(t.generation, ticket::kRevoked));
    }

    bool running(std::size_t, TicketId t) const override {
        return layout_.ticket_table(region_.data())[t.number].load(std::memory_order_acquire) ==
               ticket::pack(t.generation, ticket::kRunning);
    }

    bool stop(std::size_t i) override {
        auto& s = slots_[i];
        if (!s.alive) return true;
        if (s.stopping) return true;
        if (!s.partial.empty()) return false;
        Bytes rec = stop_record();
        if (layout_.inbox(region_.data(), i).write_some(rec.data(), rec.size()) != rec.size())
            return false;
        s.stopping = true;
        touch(i);
        flush();
        return true;
    }

    void shutdown(std::chrono::milliseconds grace) noexcept override {
        if (efd_ < 0) return;
        try {
            // Idle workers get a stop record (they exit flushing their output); the
            // others SIGTERM; whoever is left after `grace` is SIGKILLed by the zygote.
            for (std::size_t i = 0; i < slots_.size() && zygote_; ++i) {
                auto& s = slots_[i];
                if (!s.alive && !s.starting) continue;
                bool idle = s.alive && s.partial.empty() &&
                            layout_.inbox(region_.data(), i).readable() == 0 && !has_running(i);
                if (idle && !s.stopping) idle = stop(i);
                if (!idle) {
                    command(ZygoteCmd{ZygoteCmd::signal, static_cast<std::uint32_t>(i), SIGTERM});
                }
            }
            auto deadline = Clock::now() + grace;
            auto any_left = [this] {
                return std::any_of(slots_.begin(), slots_.end(),
                                   [](const Slot& s) { return s.alive || s.starting; });
            };
            while (zygote_ && any_left() && Clock::now() < deadline &&
                   !zygote_down_.load(std::memory_order_relaxed)) {
                if (poll_fd(sock_, POLLIN, deadline) == 0) break;
                read_zygote([](const TransportEvent&) {});
            }
        } catch (...) {
        }
        end_zygote();
        keeper_.reset();
        close_fd(self_pidfd_);
        self_pidfd_ = -1;
        for (auto& s : slots_) reset(s);
        base_.store(nullptr, std::memory_order_release);  // interrupt() now touches no region
        region_.close();
        retired_.clear();
        close_fd(efd_);
        efd_ = -1;
    }

    std::size_t receive(const std::function<void(const TransportEvent&)>& on_event) override {
        std::size_t delivered = 0;
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            if (slots_[i].alive) delivered += drain(i, on_event);
        }
        if (efd_ < 0) return delivered;
        auto* ctl = layout_.control(region_.data());
        std::uint32_t ev = ctl->zygote_events.load(std::memory_order_acquire);
        if (zygote_ && ev != seen_events_.load(std::memory_order_relaxed))
            delivered += read_zygote(on_event);
        if (zygote_ && zygote_down_.load(std::memory_order_relaxed))
            delivered += zygote_died(on_event);
        // A waiter's late poll of a zygote already ended (none now): old news.
        if (!zygote_) zygote_down_.store(false, std::memory_order_relaxed);
        if (relaunch_.load(std::memory_order_relaxed)) delivered += relaunch(on_event);
        return delivered;
    }

    bool pending() const noexcept override {
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            const auto& s = slots_[i];
            if (!s.alive) continue;
            if (layout_.outbox(region_.data(), i).readable() != 0) return true;
            if (!s.partial.empty() && s.held_fds.fds().empty() &&
                layout_.inbox(region_.data(), i).writable() != 0)
                return true;
        }
        if (zygote_down_.load(std::memory_order_relaxed) ||
            relaunch_.load(std::memory_order_relaxed))
            return true;
        return layout_.control(region_.data())->zygote_events.load(std::memory_order_acquire) !=
               seen_events_.load(std::memory_order_relaxed);
    }

    void wait(std::optional<Clock::time_point> deadline) override { wait_thread(deadline, true); }
    void wait_quiet(std::optional<Clock::time_point> deadline) override {
        wait_thread(deadline, false);
    }

    void wait_result(std::optional<Clock::time_point> deadline, std::uint64_t seen) override {
        // Without the lock, as wait_thread. Spins first (results of a round trip arrive
        // within µs), then parks on the callers' futex, which every result unparks.
        void* base = base_.load(std::memory_order_acquire);
        auto ready = [&] {
            return interrupts_.load(std::memory_order_acquire) != seen || news(base) ||
                   results_ready(base);
        };
        if (park_spin_yielding(ready, kCallerSpin)) return;
        park_until(layout_.control(base)->caller_park, ready, capped(deadline),
                   Clock::duration::zero());
    }

    void rearm() noexcept override {
        // W2-W3 for the pool's thread asleep in wait_quiet (see park.hpp): from now on a
        // result writes the eventfd; one that came before is seen here.
        void* base = base_.load(std::memory_order_acquire);
        if (base == nullptr) return;  // shut down
        park_announce(layout_.control(base)->thread_park);
        if (results_ready(base) && efd_ >= 0) ::eventfd_write(efd_, 1);
    }

    std::uint64_t interrupts() const noexcept override {
        return interrupts_.load(std::memory_order_acquire);
    }

    void interrupt() noexcept override {
        interrupts_.fetch_add(1, std::memory_order_acq_rel);
        void* base = base_.load(std::memory_order_acquire);
        if (base != nullptr) unpark_all(layout_.control(base)->caller_park, false);
        if (efd_ >= 0) ::eventfd_write(efd_, 1);
    }

    bool alive(std::size_t i) const noexcept override { return slots_[i].alive; }
    pid_t pid(std::size_t i) const noexcept override {
        return slots_[i].alive ? slots_[i].pid : -1;
    }
    std::string name(std::size_t i) const override {
        return slots_[i].name.empty() ? worker_prefix() + "?" : slots_[i].name;
    }

  private:
    // A caller waiting for a result polls for this long, yielding, before it parks.
    static constexpr Clock::duration kCallerSpin = std::chrono::microseconds(50);

    /// The zygote said something, died, or a start waits for a new one (atomics only).
    bool news(void* base) const noexcept {
        return layout_.control(base)->zygote_events.load(std::memory_order_acquire) !=
                   seen_events_.load(std::memory_order_relaxed) ||
               zygote_down_.load(std::memory_order_relaxed) ||
               relaunch_.load(std::memory_order_relaxed);
    }
    /// Some worker's outbox holds bytes (atomics only).
    bool results_ready(void* base) const noexcept {
        for (std::size_t i = 0; i < layout_.workers; ++i) {
            if (layout_.outbox(base, i).readable() != 0) return true;
        }
        return false;
    }
    static Clock::time_point capped(std::optional<Clock::time_point> deadline) {
        auto cap = Clock::now() + std::chrono::milliseconds(kMaxSleepMs);
        return deadline && *deadline < cap ? *deadline : cap;
    }

    /// The pool's thread: parks on thread_park, sleeping in poll() of the eventfd and the
    /// zygote's pidfd. Runs without the scheduler's lock: reads only atomics (a region
    /// that receive() retires stays mapped until shutdown, so a stale base_ is still
    /// valid). `results`: whether results end the wait (else only the zygote's news,
    /// interrupt() and the deadline; see wait_quiet).
    void wait_thread(std::optional<Clock::time_point> deadline, bool results) {
        void* base = base_.load(std::memory_order_acquire);
        pollfd fds[2] = {{efd_, POLLIN, 0}, {zygote_sentinel_.load(), POLLIN, 0}};
        // Any write of the eventfd ends the wait (interrupt(), the zygote, a result).
        auto ready = [&] {
            if ((fds[1].revents & POLLIN) != 0) zygote_down_.store(true, std::memory_order_relaxed);
            return (fds[0].revents & POLLIN) != 0 || news(base) || (results && results_ready(base));
        };
        auto until = capped(deadline);
        if (results) {
            park_until_fd(layout_.control(base)->thread_park, fds, ready, until,
                          Clock::duration::zero());
            return;
        }
        // Quiet: not announced on thread_park (a rearm() may announce it meanwhile).
        park_quiet_fd(fds, ready, until);
    }

    struct Slot {
        bool alive = false;
        bool starting = false;
        bool stopping = false;
        pid_t pid = -1;
        std::string name;
        Bytes partial;  // the rest of a record that did not fit in the inbox
        std::size_t partial_at = 0;
        Bytes rbuf;  // the outbox record being assembled
        std::size_t rgot = 0;
        bool have_len = false;
        int fd_sock = -1;  // tasks' fds go to the worker here (from the zygote; non-blocking)
        TaskFds held_fds;  // fds of the record in `partial`, not yet sent (socket full)
        TicketId held_ticket{};
    };

    /// Back to "no worker": its fd socket closed (what it held in flight is dropped with it).
    static void reset(Slot& s) noexcept {
        if (s.fd_sock >= 0) close_fd(s.fd_sock);
        s = Slot{};
    }

    /// Sends a task's fds to the worker of `s`; false if its socket is full now. A worker
    /// that is gone (EPIPE) or any other failure: the record goes on, and the worker (if
    /// any) fails the task saying its handles did not arrive.
    static bool send_fds(Slot& s, TicketId t, std::span<const int> fds) noexcept {
        if (s.fd_sock < 0) return true;
        int e = send_task_fds(s.fd_sock, t, fds);
        return !(e == EAGAIN || e == EWOULDBLOCK || e == ETOOMANYREFS || e == ENOBUFS);
    }

    /// Makes the zygote for region_ (see the file's comment). Throws if it cannot.
    void launch_zygote() {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
            throw_errno("Pool: socketpair");
        int parent_pidfd = pidfd_open(::getpid());
        if (parent_pidfd < 0) {
            int err = errno;
            close_fd(sv[0]);
            close_fd(sv[1]);
            throw_errno("Pool: pidfd_open (mp needs Linux 5.3 or later)", err);
        }
        try {
            if (method_ == StartMethod::fork) {
                zygote_ = keeper_->make_zygote(region_.fd(), sv[1]);
            } else {
                ChildSpec spec;
                spec.name = "PoolZygote";
                spec.daemon = true;  // ends with this process, whatever ends it
                spec.parent_pid = ::getpid();
                spec.parent_name = "MainProcess";
                spec.trampoline = code_ref(reinterpret_cast<const void*>(&zygote_entry));
                ZygoteBoot boot;
                boot.workers = layout_.workers;
                boot.ring_bytes = layout_.ring_bytes;
                boot.tickets = layout_.tickets;
                boot.maxtasks = config_.maxtasks;
                boot.has_init = init_.trampoline.module != 0 || init_.trampoline.offset != 0;
                boot.init_fds = static_cast<std::uint32_t>(init_.fds.fds.size());
                boot.init_trampoline = init_.trampoline;
                put_pod(spec.args, boot);
                put_bytes(spec.args, init_.callable);
                put_bytes(spec.args, init_.args);
                spec.fds = {region_.fd(), efd_, sv[1], parent_pidfd};
                spec.fds.insert(spec.fds.end(), init_.fds.fds.begin(), init_.fds.fds.end());
                zygote_ = launch(method_, spec);
            }
        } catch (...) {
            close_fd(sv[0]);
            close_fd(sv[1]);
            close_fd(parent_pidfd);
            throw;
        }
        close_fd(sv[1]);
        close_fd(parent_pidfd);
        sock_ = sv[0];
        zygote_said_ = 0;
        zygote_down_.store(false);
        zygote_sentinel_.store(zygote_->sentinel());
    }

    /// Under `fork`: the keeper that forks every zygote (see the file's comment).
    void make_keeper() {
        self_pidfd_ = pidfd_open(::getpid());
        if (self_pidfd_ < 0) throw_errno("Pool: pidfd_open (mp needs Linux 5.3 or later)");
        // Runs in a zygote, a fork of the keeper: this object is the keeper's copy of it
        // as it was here, before the pool's thread.
        keeper_ = std::make_unique<ZygoteKeeper>(
            [this](int region_fd, int sock) {
                SharedRegion region = SharedRegion::adopt(region_fd, layout_.total());
                zygote_main(ZygoteArgs{region.data(), layout_, efd_, sock, self_pidfd_, &config_});
            },
            self_pidfd_);
    }

    /// Tells the zygote to quit (it kills its workers) and reaps it.
    void end_zygote() noexcept {
        if (!zygote_) return;
        command(ZygoteCmd{ZygoteCmd::quit, 0, 0});
        close_fd(sock_);
        sock_ = -1;
        zygote_sentinel_.store(-1);
        try {
            zygote_->wait(std::nullopt);
        } catch (...) {
        }
        zygote_.reset();
    }

    /// Reads the zygote's messages ready now.
    std::size_t read_zygote(const std::function<void(const TransportEvent&)>& on_event) {
        std::size_t delivered = 0;
        for (;;) {
            ZygoteMsg m;
            int fd = -1;  // a started worker's fd socket
            ssize_t got = recv_zygote(m, fd);
            if (got == 0) zygote_down_.store(true, std::memory_order_relaxed);  // it is gone
            if (got != sizeof m || m.slot >= slots_.size() || m.kind != ZygoteMsg::started) {
                if (fd >= 0) close_fd(fd);
                fd = -1;
            }
            if (got != sizeof m) break;
            seen_events_.fetch_add(1, std::memory_order_relaxed);
            ++zygote_said_;
            if (m.slot >= slots_.size()) continue;
            auto& s = slots_[m.slot];
            TransportEvent e;
            e.slot = m.slot;
            e.pid = m.pid;
            if (m.kind == ZygoteMsg::started) {
                s.alive = true;
                s.starting = false;
                s.pid = m.pid;
                if (s.fd_sock >= 0) close_fd(s.fd_sock);
                s.fd_sock = fd;
                if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
                s.name = worker_prefix() + std::to_string(++spawned_);
                e.kind = TransportEvent::started;
            } else if (m.kind == ZygoteMsg::start_failed) {
                s.starting = false;
                e.kind = TransportEvent::start_failed;
                e.error = m.code;
                e.message = std::strerror(m.code);
            } else {
                delivered += drain(m.slot, on_event);  // what it wrote before it ended
                e = exited_event(m.slot, m.code);
            }
            on_event(e);
            ++delivered;
        }
        return delivered;
    }

    /// One message of the zygote (recv(2) of a ZygoteMsg), with the fd it may carry.
    ssize_t recv_zygote(ZygoteMsg& m, int& fd) {
        std::deque<int> fds;
        ssize_t got = recv_with_fds(sock_, &m, sizeof m, MSG_DONTWAIT, fds);
        if (got > 0 && !fds.empty()) {
            fd = fds.front();
            fds.pop_front();
        }
        for (int extra : fds) close_fd(extra);  // a zygote sends at most one
        return got;
    }

    TransportEvent exited_event(std::size_t i, int code) {
        auto& s = slots_[i];
        TransportEvent e;
        e.slot = i;
        e.pid = s.pid;
        e.kind = TransportEvent::exited;
        e.code = code;
        e.initialized = layout_.slot(region_.data(), i)->ready.load(std::memory_order_acquire) ==
                        WorkerSlot::kReady;
        s.alive = false;
        s.stopping = false;
        s.partial.clear();
        s.held_fds = TaskFds();
        if (s.fd_sock >= 0) close_fd(s.fd_sock);
        s.fd_sock = -1;
        return e;
    }

    /// The zygote died (killed): its workers died with it (PR_SET_PDEATHSIG). Each is
    /// reported ended; the next start (now, for those being started) makes a new zygote.
    std::size_t zygote_died(const std::function<void(const TransportEvent&)>& on_event) {
        std::size_t delivered = read_zygote(on_event);  // what it said before it died
        // The flag comes from a poll of its pidfd by a waiter that may have raced with a
        // replacement (an fd number reused): believe only a reaped exit.
        if (!zygote_->poll()) {
            zygote_down_.store(false, std::memory_order_relaxed);
            return delivered;
        }
        bool said_nothing = zygote_said_ == 0;
        end_zygote();
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            auto& s = slots_[i];
            if (s.starting && said_nothing) {
                // It died before it made anything: a start failure (retried with backoff).
                s.starting = false;
                TransportEvent e;
                e.slot = i;
                e.kind = TransportEvent::start_failed;
                e.error = ECHILD;
                e.message = "the pool's zygote ended before it made a worker";
                on_event(e);
                ++delivered;
            } else if (s.starting) {
                relaunch_.store(true, std::memory_order_relaxed);
            }
            if (!s.alive) continue;
            delivered += drain(i, on_event);
            on_event(exited_event(i, -SIGKILL));
            ++delivered;
        }
        // The dead workers may still be finishing in the old region: keep it mapped, use a new one.
        retired_.push_back(std::move(region_));
        region_ = SharedRegion(layout_.total());
        seen_events_.store(0, std::memory_order_relaxed);
        base_.store(region_.data(), std::memory_order_release);
        return delivered;
    }

    /// Makes a new zygote and asks it for the slots being started; if it cannot be made,
    /// those starts fail (the scheduler retries them with backoff).
    std::size_t relaunch(const std::function<void(const TransportEvent&)>& on_event) {
        relaunch_.store(false, std::memory_order_relaxed);
        if (zygote_) return 0;
        int err = 0;
        std::string what;
        try {
            launch_zygote();
        } catch (const OSError& e) {
            err = e.code() != 0 ? e.code() : EAGAIN;
            what = e.what();
        } catch (const std::exception& e) {
            err = EAGAIN;
            what = e.what();
        }
        std::size_t delivered = 0;
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            auto& s = slots_[i];
            if (!s.starting) continue;
            if (err == 0) {
                command(ZygoteCmd{ZygoteCmd::spawn, static_cast<std::uint32_t>(i), 0});
                continue;
            }
            s.starting = false;
            TransportEvent e;
            e.slot = i;
            e.kind = TransportEvent::start_failed;
            e.error = err;
            e.message = what;
            on_event(e);
            ++delivered;
        }
        return delivered;
    }

    std::string worker_prefix() const {
        switch (method_) {
            case StartMethod::fork:
                return "ForkPoolWorker-";
            case StartMethod::forkserver:
                return "ForkServerPoolWorker-";
            case StartMethod::spawn:
                return "SpawnPoolWorker-";
        }
        return "PoolWorker-";
    }

    bool has_running(std::size_t i) const noexcept {
        return layout_.slot(region_.data(), i)->busy.load(std::memory_order_acquire) != 0;
    }

    void touch(std::size_t i) {
        if (std::find(touched_.begin(), touched_.end(), i) == touched_.end()) touched_.push_back(i);
    }

    void command(ZygoteCmd c) noexcept {
        if (sock_ < 0 || !zygote_) return;
        if (c.op == ZygoteCmd::spawn) slots_[c.slot].starting = true;
        ::send(sock_, &c, sizeof c, MSG_NOSIGNAL);
    }

    std::size_t drain(std::size_t i, const std::function<void(const TransportEvent&)>& on_event) {
        auto& s = slots_[i];
        Ring out = layout_.outbox(region_.data(), i);
        bool progressed = false;
        std::size_t delivered = 0;
        for (;;) {
            if (!s.have_len) {
                if (out.readable() < sizeof(std::uint64_t)) break;
                std::uint64_t len = 0;
                out.read_some(reinterpret_cast<std::byte*>(&len), sizeof len);
                s.rbuf.resize(static_cast<std::size_t>(len));
                s.rgot = 0;
                s.have_len = true;
                progressed = true;
            }
            std::size_t k = out.read_some(s.rbuf.data() + s.rgot, s.rbuf.size() - s.rgot);
            s.rgot += k;
            progressed = progressed || k != 0;
            if (s.rgot < s.rbuf.size()) break;
            s.have_len = false;
            ResultHeader h;
            if (s.rbuf.size() < sizeof h) continue;  // corrupt: dropped
            std::memcpy(&h, s.rbuf.data(), sizeof h);
            TransportEvent e;
            e.kind = h.kind == ResultHeader::kInitError ? TransportEvent::init_error
                                                        : TransportEvent::result;
            e.slot = i;
            e.ticket = TicketId{h.ticket, h.generation};
            e.status = h.kind;
            e.started_ns = h.started_ns;
            e.ended_ns = h.ended_ns;
            e.frame = std::span<const std::byte>(s.rbuf).subspan(sizeof h);
            e.pid = s.pid;
            on_event(e);
            ++delivered;
        }
        if (s.rbuf.capacity() > (std::size_t{4} << 20) && !s.have_len) s.rbuf = Bytes();
        if (progressed) unpark_all(out.control().space_park);
        return delivered;
    }

    WorkerConfig config_;
    StartMethod method_;
    TaskValue init_;  // forkserver/spawn: the initializer as a value (fds borrowed from it)
    PoolLayout layout_;
    SharedRegion region_;
    std::vector<SharedRegion> retired_;  // regions of dead zygotes (see zygote_died)
    std::atomic<void*> base_{nullptr};   // region_.data(), for wait()
    int efd_ = -1;
    int sock_ = -1;
    std::unique_ptr<ZygoteKeeper> keeper_;  // fork: what forks each zygote
    int self_pidfd_ = -1;                   // fork: a pidfd of this process, for the keeper
    std::unique_ptr<Popen> zygote_;
    std::atomic<int> zygote_sentinel_{-1};  // its pidfd, for wait()
    std::atomic<bool> zygote_down_{false};  // it died; receive() will say so
    std::atomic<bool> relaunch_{false};     // a start waits for a new zygote
    std::uint64_t zygote_said_ = 0;         // messages from the current zygote
    std::vector<Slot> slots_;
    std::vector<std::size_t> touched_;
    std::atomic<std::uint32_t> seen_events_{0};  // messages received (read by wait())
    std::atomic<std::uint64_t> interrupts_{0};   // calls of interrupt() (read by wait_result())
    unsigned spawned_ = 0;
};

}  // namespace

// ---- tasks' fds beside the ring --------------------------------------------------------------
//
// One message per task marked kTaskWithFds, on the worker's own stream socket: the
// task's TicketId (8 bytes) with its fds as SCM_RIGHTS, written before the record enters
// the ring, so the worker finds it when it reads the record. A message is one skb of the
// socket, so a non-blocking send either queues it whole or fails (EAGAIN: the parent
// keeps the task until there is room), and the worker's read of 8 bytes takes one (the
// kernel never hands the fds of two messages to one read).

int send_task_fds(int sock, const TicketId& ticket, std::span<const int> fds) noexcept {
    // The parent's end is non-blocking: 8 bytes go whole or not at all (EAGAIN).
    std::uint32_t words[2] = {ticket.number, ticket.generation};
    iovec iov{words, sizeof words};
    return sendmsg_all(sock, std::span(&iov, 1), fds);
}

bool recv_task_fds(int sock, const TicketId& ticket, std::vector<int>& fds) noexcept {
    for (;;) {
        std::uint32_t words[2] = {0, 0};
        std::vector<int> came;
        std::size_t got = 0;
        try {
            got = recv_exact_with_fds(sock, words, sizeof words, came);
        } catch (...) {  // fds lost in transit, or the socket failed
        }
        if (got < sizeof words) {
            for (int fd : came) close_fd(fd);
            return false;  // the parent is gone, or fds were lost
        }
        if (words[0] == ticket.number && words[1] == ticket.generation) {
            fds.insert(fds.end(), came.begin(), came.end());
            return true;
        }
        for (int fd : came) close_fd(fd);  // not this task's: drop it and read on
    }
}

std::unique_ptr<PoolTransport> make_shm_transport(std::size_t workers, WorkerConfig config,
                                                  StartMethod method) {
    return std::make_unique<ShmTransport>(workers, config, method);
}

}  // namespace mp::detail
