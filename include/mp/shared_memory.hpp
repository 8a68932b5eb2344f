// mp/shared_memory.hpp — SharedMemory (Python: multiprocessing.shared_memory).
//
//     mp::SharedMemory shm(4096);                 // SharedMemory(create=True, size=4096)
//     std::string name = shm.name();              // e.g. "mp-12345-9f3c0a1b2c3d4e5f"
//     ...in any process, forked or not:
//     mp::SharedMemory other(name);               // SharedMemory(name): attach
//     std::span<std::byte> bytes = other.buf();
//
// A named POSIX shared-memory segment (shm_open; it appears as /dev/shm/<name>), so a
// process that was not forked from the creator can attach by name. Names are given
// without the leading '/' (as in Python); they may not contain '/', be empty, "." or
// "..", or be longer than 250 characters (ValueError).
//
// Lifetime (as in Python, with its resource tracker): the handle is a handle — copies
// share the mapping; close() unmaps it for every handle in this process; dropping the
// last one unmaps too, and never removes the segment. A segment created here lives until
// unlink() or until the program that made it ends, however it ends (SIGKILL, a crash):
// a tracker process removes what the program left. "The program" is the process that
// first created a tracked segment and every process forked from it after that (they
// share the tracker), so a segment a child makes and returns by name outlives the child —
// provided the parent had already made a tracked segment before starting the child (else
// the child's own tracker removes it when that child ends; Python behaves the same). With
// track = false the segment is not tracked: it stays until someone calls unlink(). The
// tracker is one small process per program (it ignores SIGINT and SIGTERM, holds none of
// the program's fds, and exits as soon as the program has ended); see src/resource_tracker.cpp.
//
// Errors: a size of 0 when creating → ValueError; not enough room in /dev/shm → mp::OSError
// with code() == ENOSPC (the pages are reserved at creation, never a SIGBUS later); attaching to a
// name that does not exist → mp::OSError with code() == ENOENT (Python's FileNotFoundError);
// creating a name that exists → mp::OSError with code() == EEXIST (FileExistsError).
//
// Thread and process safety: the bytes are plain shared memory; synchronize access
// yourself (an mp::Lock, or std::atomic_ref on suitably aligned objects).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace mp {

class SharedMemory {
  public:
    /// Creates a new segment of `size` bytes with a unique generated name, zero-filled.
    /// track: remove it when this program ends, if not unlinked (Python 3.13's track=True).
    explicit SharedMemory(std::size_t size, bool track = true);
    /// Creates a new segment called `name` (OSError EEXIST if it exists).
    SharedMemory(std::string_view name, std::size_t size, bool track = true);
    /// Attaches to the existing segment `name` (OSError ENOENT if there is none).
    explicit SharedMemory(std::string_view name);
    SharedMemory(const char* name) : SharedMemory(std::string_view(name)) {}

    /// The name, without the leading '/', as other processes pass it to attach.
    [[nodiscard]] const std::string& name() const noexcept;
    /// The size in bytes (as created, or as found when attaching).
    [[nodiscard]] std::size_t size() const noexcept;
    /// The mapped bytes; empty once closed.
    [[nodiscard]] std::span<std::byte> buf() const noexcept;
    /// Unmaps the segment for every handle in this process (the segment stays).
    void close() noexcept;
    [[nodiscard]] bool closed() const noexcept;
    /// Removes the name (existing mappings stay valid until closed) and stops tracking it.
    /// OSError ENOENT if it was already removed. Call it once, from one process.
    void unlink();
    /// Removes the segment called `name` (e.g. one left by a crashed creator).
    /// OSError ENOENT if there is none; ValueError for an invalid name.
    static void unlink(std::string_view name);

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace mp

#include "mp/detail/reduce_handles.hpp"  // NOLINT: Reduce<SharedMemory>
