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
// Lifetime: the handle is a handle — copies share the mapping; close() unmaps it for
// every handle in this process; dropping the last one unmaps too. The segment itself
// lives until unlink(): the creator's handle unlinks it when its last copy in the
// creating process is dropped, unless it was created with track = false (then someone
// must call unlink()). Attaching handles never unlink on their own.
//
// Leftovers: a creator killed by a signal (SIGKILL, a crash) runs no destructor, so its
// segment stays in /dev/shm. Find such segments with `ls -l /dev/shm/mp-*` (generated
// names are "mp-<creator pid>-<16 hex digits>": a pid that no longer runs marks a
// leftover) and remove one with `rm /dev/shm/<name>` or mp::SharedMemory::unlink("<name>").
//
// Errors: a size of 0 when creating → ValueError; attaching to a name that does not
// exist → mp::OSError with code() == ENOENT (Python's FileNotFoundError); creating a name
// that exists → mp::OSError with code() == EEXIST (FileExistsError).
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
    /// track: unlink it when the creator's last handle goes (Python 3.13's track=True).
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
    /// Removes the name (existing mappings stay valid until closed). OSError ENOENT if
    /// it was already removed. Call it once, from one process.
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
