// The message layer of mp::mpi: nonblocking sends that own their bytes, receives that
// never block, and the back-off an idle rank waits with (Open MPI's blocking calls
// spin a core at 100%: mpi4py issue #419).
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

#include <climits>
#include <string>
#include <utility>

#include "mp/errors.hpp"
#include "mpi/mpi_internal.hpp"

namespace mp::mpi::detail {

namespace {
// An idle rank probes for a while (yielding the CPU between probes: the next task of a
// round-trip loop comes within it), then sleeps 1 µs, 2 µs, 4 µs … up to 1 ms between
// probes (as mpi4py.futures' Backoff). The thread's timer slack is cut to 1 µs so that
// a 1 µs sleep is not Linux's default 50 µs.
constexpr long kFirstSleepNs = 1'000;
constexpr long kMaxSleepNs = 1'000'000;
}  // namespace

std::mutex& mpi_lock() {
    static std::mutex m;
    return m;
}

void check_mpi(int code, const char* what) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, text, &len);
    throw Error(std::string("mp::mpi: ") + what + " failed: " + std::string(text, len));
}

void Backoff::pause(std::optional<std::chrono::steady_clock::time_point> deadline, int wake_fd) {
    if (rounds_ == 0) {
        polling_since_ = std::chrono::steady_clock::now();
        rounds_ = 1;
        return;
    }
    if (rounds_ == 1 && std::chrono::steady_clock::now() - polling_since_ < poll_for_) {
        ::sched_yield();
        return;
    }
    unsigned r = rounds_++;
    thread_local bool slack_set = false;
    if (!slack_set) {
        ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
        slack_set = true;
    }
    unsigned doublings = r - 1;
    long ns = doublings >= 10 ? kMaxSleepNs : std::min(kMaxSleepNs, kFirstSleepNs << doublings);
    if (deadline) {
        auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        *deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) return;
        if (left < ns) ns = static_cast<long>(left);
    }
    timespec ts{0, ns};
    if (wake_fd < 0) {
        ::nanosleep(&ts, nullptr);
        return;
    }
    pollfd p{wake_fd, POLLIN, 0};
    ::ppoll(&p, 1, &ts, nullptr);
}

bool probe(int source, int tag) {
    std::lock_guard lk(mpi_lock());
    int flag = 0;
    check_mpi(MPI_Iprobe(source, tag, runtime().comm, &flag, MPI_STATUS_IGNORE), "MPI_Iprobe");
    return flag != 0;
}

std::optional<Message> try_receive(int source, int tag) {
    std::lock_guard lk(mpi_lock());
    int flag = 0;
    MPI_Message handle;
    MPI_Status status;
    check_mpi(MPI_Improbe(source, tag, runtime().comm, &flag, &handle, &status), "MPI_Improbe");
    if (flag == 0) return std::nullopt;
    int count = 0;
    check_mpi(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    Message m;
    m.source = status.MPI_SOURCE;
    m.tag = status.MPI_TAG;
    m.bytes.resize(static_cast<std::size_t>(count));
    check_mpi(MPI_Mrecv(m.bytes.data(), count, MPI_BYTE, &handle, MPI_STATUS_IGNORE), "MPI_Mrecv");
    return m;
}

Outgoing::Outgoing(Bytes bytes, int dest, int tag) : bytes_(std::move(bytes)) {
    if (bytes_.size() > static_cast<std::size_t>(INT_MAX)) {
        throw ValueError("mp::mpi: a message of " + std::to_string(bytes_.size()) +
                         " bytes is larger than MPI's limit of 2 GiB; split the task's "
                         "arguments (a map with a smaller chunksize) or pass a file name instead");
    }
    std::lock_guard lk(mpi_lock());
    check_mpi(MPI_Isend(bytes_.data(), static_cast<int>(bytes_.size()), MPI_BYTE, dest, tag,
                        runtime().comm, &request_),
              "MPI_Isend");
}

Outgoing::Outgoing(Outgoing&& o) noexcept
    : bytes_(std::move(o.bytes_)), request_(std::exchange(o.request_, MPI_REQUEST_NULL)) {}

Outgoing::~Outgoing() {
    if (request_ == MPI_REQUEST_NULL) return;
    // Still in flight: MPI may read the bytes until it completes, so wait (bounded by
    // the peer's progress; the job's end aborts it otherwise).
    Backoff b;
    while (!done()) b.pause();
}

bool Outgoing::done() {
    if (request_ == MPI_REQUEST_NULL) return true;
    std::lock_guard lk(mpi_lock());
    int flag = 0;
    MPI_Test(&request_, &flag, MPI_STATUS_IGNORE);
    return flag != 0;
}

void send_and_wait(Bytes bytes, int dest, int tag) {
    Outgoing o(std::move(bytes), dest, tag);
    Backoff b;
    while (!o.done()) b.pause();
}

}  // namespace mp::mpi::detail
