// Internal: the resource tracker, Python's multiprocessing.resource_tracker for mp.
//
// One tracker process per program removes the shared-memory segments the program made
// (SharedMemory with track = true) and did not unlink, once the program has ended —
// however it ended, SIGKILL included. "The program" is the process that first created a
// tracked segment and every process forked from it afterwards: they share one socket to
// the tracker, and the tracker sees end-of-file when the last of them has exited.
//
// Not installed.
#pragma once

#include <string_view>

namespace mp::detail {

/// Tells the tracker that this program made segment `name` (starting the tracker the
/// first time). OSError if no tracker can be started or reached.
void tracker_register(std::string_view name);
/// Tells the tracker that `name` was unlinked (no-op if this process has no tracker).
void tracker_unregister(std::string_view name) noexcept;
/// The tracker's pid as started by this process (0 if this process started none): for tests.
int tracker_pid() noexcept;

}  // namespace mp::detail
