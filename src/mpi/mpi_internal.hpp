// Internal to mp::mpi: the runtime state, the message layer and the wire format
// between rank 0 and the worker ranks. Not installed.
//
// Messages travel on a duplicate of MPI_COMM_WORLD (so the program's own traffic on
// MPI_COMM_WORLD never matches ours):
//   kTagControl  rank 0 → worker: a Control (open a worker — then with the pool's
//                initializer after it, if it has one —, terminate a pool, exit);
//                worker → rank 0: a Control saying that a worker left (kLeft)
//   kTagTasks    rank 0 → worker: a batch of task records, back to back,
//                each [u64 length][TaskHeader][callable][args frame] (pool_shared.hpp)
//   kTagResults  worker → rank 0: a batch of result records, each
//                [u64 length][ResultHeader][frame]
// Every batch starts with a BatchHeader naming the pool it belongs to, so that what a
// terminated pool left in flight is recognized and dropped.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <type_traits>

#include "mp/mpi.hpp"
#include "mp/serialize.hpp"
#include "pool_shared.hpp"
#include "pool_transport.hpp"

namespace mp::mpi::detail {

// The Pool's machinery this transport plugs into (src/pool_transport.hpp, pool_shared.hpp).
using mp::detail::PoolTransport;
using mp::detail::ResultHeader;
using mp::detail::TaskHeader;
using mp::detail::TicketId;
using mp::detail::TransportEvent;
using mp::detail::WorkerChannel;
using mp::detail::WorkerConfig;

inline constexpr int kTagControl = 1;
inline constexpr int kTagTasks = 2;
inline constexpr int kTagResults = 3;

/// What rank 0 tells a worker rank besides tasks, and a worker rank's "left" reply.
struct Control {
    static constexpr std::uint32_t kOpen = 1;  // a worker for `slot` of `pool`; value: maxtasks
    static constexpr std::uint32_t kTerminate = 3;  // drop what you hold, leave `pool` now
    static constexpr std::uint32_t kExit = 4;       // rank 0's program ended: exit
    static constexpr std::uint32_t kLeft = 5;     // worker → rank 0: the worker of `slot` ended;
                                                  // value: exit code, flags: 1 = initialized
    static constexpr std::uint32_t kHasInit = 2;  // kOpen's flags: the initializer follows
    std::uint32_t kind = 0;
    std::uint32_t pool = 0;
    std::uint32_t slot = 0;
    std::uint32_t flags = 0;
    std::uint64_t value = 0;
};
static_assert(std::is_trivially_copyable_v<Control> && sizeof(Control) == 24, "Control layout");

/// The start of every task or result batch.
struct BatchHeader {
    std::uint32_t pool = 0;
    std::uint32_t slot = 0;
    std::uint32_t count = 0;  // records that follow
    std::uint32_t pad = 0;
};
static_assert(std::is_trivially_copyable_v<BatchHeader> && sizeof(BatchHeader) == 16,
              "BatchHeader layout");

/// The process-wide state made by init.
struct Runtime {
    bool initialized = false;
    int rank = 0;
    int size = 1;
    Options options;
    MPI_Comm comm = MPI_COMM_NULL;  // mp's duplicate of MPI_COMM_WORLD
    std::string host;
};
Runtime& runtime();

/// Every MPI call mp makes holds this lock (MPI_THREAD_SERIALIZED).
std::mutex& mpi_lock();

/// Throws mp::Error naming `what` and MPI's message for `code` unless it is MPI_SUCCESS.
void check_mpi(int code, const char* what);

/// The wait of an idle rank: probes for `poll_for` (yielding), then sleeps 1 µs doubling
/// to 1 ms between probes.
class Backoff {
  public:
    explicit Backoff(std::chrono::microseconds poll_for = std::chrono::microseconds(1000))
        : poll_for_(poll_for) {}
    void reset() noexcept { rounds_ = 0; }
    /// One wait step; `deadline` caps the sleep; a readable `wake_fd` (an eventfd) ends it.
    void pause(std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt,
               int wake_fd = -1);

  private:
    std::chrono::microseconds poll_for_;
    unsigned rounds_ = 0;
    std::chrono::steady_clock::time_point polling_since_{};
};

/// One message received (its source, tag and bytes).
struct Message {
    int source = -1;
    int tag = -1;
    Bytes bytes;
};
/// Receives one message matching (source, tag) if one is there; never blocks.
std::optional<Message> try_receive(int source = MPI_ANY_SOURCE, int tag = MPI_ANY_TAG);
/// Whether a message is waiting (MPI_Iprobe).
bool probe(int source = MPI_ANY_SOURCE, int tag = MPI_ANY_TAG);

/// A nonblocking send that owns its bytes until MPI is done with them.
class Outgoing {
  public:
    Outgoing() = default;
    Outgoing(Bytes bytes, int dest, int tag);
    Outgoing(Outgoing&& o) noexcept;
    Outgoing& operator=(Outgoing&&) = delete;
    ~Outgoing();
    /// True once MPI no longer needs the bytes.
    bool done();

  private:
    Bytes bytes_;
    MPI_Request request_ = MPI_REQUEST_NULL;
};
/// Sends and waits (with the back-off) until the bytes are out.
void send_and_wait(Bytes bytes, int dest, int tag);

/// Gathers every rank's build ids and module list; on a difference rank 0 prints which
/// rank differs and the job stops (MPI_Abort). Collective.
void check_same_code();
/// This process's module list, one "name<TAB>build id" line per module.
std::string module_identity();
/// Compares a rank's module identity to rank 0's; empty when they agree.
std::string compare_identity(const std::string& root, const std::string& other, int rank);

/// The pool's initializer as it travels with each kOpen: [CodeRef of its trampoline]
/// [u64 n][callable][u64 n][args frame]. ValueError naming the fix if it cannot go (not
/// sendable, or a handle among its arguments).
Bytes encode_initializer(const mp::detail::Initializer& init);
/// On a worker rank: a function that runs what `bytes` (encode_initializer's) names;
/// SerializationError if they are corrupt, mp::Error if its code is not loaded here.
std::function<void()> decode_initializer(std::span<const std::byte> bytes);

/// Worker ranks: serve the pools of rank 0 until told to exit; then finalize and exit.
[[noreturn]] void serve();

/// What a rank is doing, for the message it prints if it dies (async-signal-safe reads).
void note_task(std::uint32_t pool, std::uint32_t ticket, std::uint64_t code_offset) noexcept;
void note_idle() noexcept;
/// Installs the handlers that print which rank and task died (worker ranks) or which
/// tasks the ranks held when mpirun ends the job (rank 0).
void install_death_notes();
/// Rank 0: what rank `r` holds now, for its SIGTERM note (the first few tickets).
void note_in_flight(int rank, std::uint32_t pool, std::uint32_t first_ticket,
                    std::uint32_t count) noexcept;

}  // namespace mp::mpi::detail
