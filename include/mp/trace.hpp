// mp/trace.hpp — a timeline of every Pool and executor task (no Python counterpart;
// Python users reach for viztracer). Chrome's trace-event format: open the file in
// https://ui.perfetto.dev or chrome://tracing.
//
//     mp::trace_to("trace.json");      // or run the program as MP_TRACE=trace.json ./app
//     mp::Pool pool(4);
//     pool.map(f, items);              // at exit: one track per worker, one slice per task
//
// Each task is one slice on its worker's track, named after its function (demangled;
// a plain function of an executable shows its name only if the executable exports its
// symbols, e.g. linked with -rdynamic, else its type: "int (*)(int)"; a lambda shows
// its closure type), from the moment the worker started it to its end; its arguments say when it
// was queued (µs before it started), the bytes of its task record and of its result, and whether it
// failed. The file is written when the program exits (std::exit or return from main) or by
// trace_flush(). Tracing costs nothing while it is off; on, a few hundred ns per task in the
// parent. Needs nlohmann-json at build time (Debian `nlohmann-json3-dev`); without it trace_to()
// throws mp::Error saying so and MP_TRACE prints one warning.
#pragma once

#include <string>

namespace mp {

/// Starts recording; the trace goes to `path` at exit. A second call changes the path.
void trace_to(const std::string& path);
/// Writes what was recorded so far (the file is rewritten whole at exit again).
void trace_flush();
/// Whether tasks are being recorded (trace_to() was called or MP_TRACE is set).
[[nodiscard]] bool tracing() noexcept;

}  // namespace mp
