// The typed queues' out-of-line helpers (see mp/queue.hpp; the ring is in queue_ring.cpp).
#include "mp/queue.hpp"

namespace mp::detail {

namespace {
constexpr std::size_t kKeepScratch = std::size_t{16} << 20;
thread_local Bytes t_scratch;
}  // namespace

Bytes& queue_scratch() {
    return t_scratch;
}

void queue_scratch_trim() noexcept {
    if (t_scratch.capacity() > kKeepScratch) Bytes().swap(t_scratch);
}

}  // namespace mp::detail
