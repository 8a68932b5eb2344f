// mp/context.hpp — start methods and contexts (Python: multiprocessing.context).
//
//     mp::set_start_method("forkserver");           // once, early (or per context:)
//     mp::Context ctx = mp::get_context("spawn");
//     mp::Process p = ctx.Process(work, 42);        // as mp::Process(work, 42), spawned
//     p.start(); p.join();
//     mp::Pool pool = ctx.Pool(4);                  // the pool's workers too (<mp/pool.hpp>)
//
// The methods (see the README's "Choosing a start method"):
//  * "fork" (the default): the child is a copy of the parent; any target, captures
//    included. Unsafe in a program that runs threads (mp warns once on stderr).
//  * "forkserver": a server process — a fresh image of the program, started the first
//    time it is needed — forks each child. Safe with threads; the target must be
//    sendable (a function, a captureless lambda or a trivially copyable function object;
//    arguments serializable values or mp handles). Each process keeps one authenticated
//    connection to it for all its starts; the server's loader binds every symbol once,
//    at its start (LD_BIND_NOW, which its children do not inherit), so that no child
//    redoes it.
//  * "spawn": each child is a fresh image of the program (posix_spawn of
//    /proc/self/exe), with the same rule for the target.
// A fresh image never runs main: it runs the program's static initializers, then the
// child (src/boot.cpp says exactly what runs). It sees no state the parent set later.
//
// Thread safety: all functions here may be called from any thread; set_start_method
// should be called once, before any Process is started.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mp/process.hpp"

namespace mp {

class Pool;

/// A start method, chosen by name. Copyable; cheap.
class Context {
  public:
    /// "fork", "forkserver", "spawn" (or "mpi", <mp/mpi.hpp>).
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    /// As mp::Process(f, args...), started with this context's method.
    template <class F, class... Args>
    requires std::invocable < std::decay_t<F>
    &, std::decay_t<Args>&... > mp::Process Process(F&& target, Args&&... args) const {
        mp::Process p(std::forward<F>(target), std::forward<Args>(args)...);
        detail::set_process_start_method(p, name_);
        return p;
    }

    /// As mp::Pool(mp::PoolOptions{.processes = processes, .context = *this}); 0: the
    /// context's default size (cpu_count(); "mpi": one worker per other rank).
    [[nodiscard]] mp::Pool Pool(int processes = 0) const;
    /// As mp::Pool(processes, init, args...) with this context's start method.
    template <class Init, class... InitArgs>
    [[nodiscard]] mp::Pool Pool(int processes, Init&& initializer, InitArgs&&... initargs) const;

    friend bool operator==(const Context&, const Context&) = default;

  private:
    explicit Context(std::string name) : name_(std::move(name)) {}
    std::string name_;
    friend Context get_context(const std::string& method);
};

/// The context of `method`; "" for the current default. ValueError naming the known
/// methods if there is no such method.
Context get_context(const std::string& method = "");

/// Sets the default start method. A second call — even with the same name — throws
/// ProcessError unless `force` is true; an unknown name → ValueError.
void set_start_method(const std::string& method, bool force = false);

/// The default start method: "fork" unless set_start_method chose another.
std::string get_start_method();

/// {"fork", "forkserver", "spawn"}, and "mpi" once mp::mpi::init ran (<mp/mpi.hpp>).
std::vector<std::string> get_all_start_methods();

}  // namespace mp

#include "mp/pool.hpp"  // Context::Pool returns one (included last: pool.hpp needs Context)
