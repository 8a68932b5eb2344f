// Internal: the zygote keeper of a `fork` pool (src/pool_keeper.cpp). Not installed.
//
// Under `fork` a pool's workers must see the program as it was when the Pool was made,
// and nothing may be forked from the parent once the pool's thread runs. So the pool
// forks one *keeper* when it is made, before its thread starts: a single-threaded copy
// of the program at that moment, which does nothing but fork zygotes when the parent
// asks (the first one and each replacement of one that was killed). Every zygote is a
// fork of the keeper, hence of the program at Pool creation; the keeper reaps them.
//
//   parent ── keeper (fork at creation) ── zygote (fork of the keeper) ── workers
//
// The parent asks over a socket pair: [region memfd, zygote socket end] in, [pidfd of
// the new zygote] back (SCM_RIGHTS). The keeper ends when the parent closes its end
// (the pool is gone) or dies (a pidfd of the parent), killing the zygotes it made. A
// keeper that was itself killed cannot be replaced: its zygote goes on, and once that
// one dies too make_zygote throws OSError(ENOTRECOVERABLE) (the pool then fails its
// tasks saying why).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>

#include "popen.hpp"

namespace mp::detail {

class ZygoteKeeper {
  public:
    /// What a zygote runs, in the zygote: the region's memfd and its socket end (both
    /// owned by it). Never returns.
    using Body = std::function<void(int region_fd, int sock)>;

    /// Forks the keeper now (call it before the process runs a thread of mp's), which
    /// keeps `body` and `parent_pidfd` (a pidfd of this process; not taken). Throws
    /// OSError if it cannot.
    ZygoteKeeper(Body body, int parent_pidfd);
    /// Closes the channel and reaps the keeper (which kills the zygotes still there).
    ~ZygoteKeeper();
    ZygoteKeeper(const ZygoteKeeper&) = delete;
    ZygoteKeeper& operator=(const ZygoteKeeper&) = delete;

    /// A new zygote running body(dup of region_fd, dup of sock); a Popen of it (its
    /// sentinel a pidfd; it is the keeper's child, so poll() reports its end without a
    /// status: -SIGKILL). Throws OSError(ENOTRECOVERABLE) if the keeper is gone.
    std::unique_ptr<Popen> make_zygote(int region_fd, int sock);

  private:
    pid_t pid_ = -1;
    int sock_ = -1;
    std::unique_ptr<Popen> self_;
};

}  // namespace mp::detail
