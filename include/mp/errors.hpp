// mp/errors.hpp — the exception family of mp.
//
// Python: the exceptions that multiprocessing raises (ProcessError, TimeoutError,
// queue.Empty/Full, EOFError, BrokenPipeError, BrokenBarrierError, ValueError,
// pickling errors, RemoteError, AuthenticationError) plus two that Python lacks because it hangs or
// deadlocks instead: WorkerLost and LockAbandoned.
//
//     try { auto v = conn.recv<int>(); }
//     catch (const mp::EOFError&) { /* the other end was closed */ }
//     catch (const mp::Error& e)   { std::cerr << e.what(); }  // every mp error
//
// Every class derives from mp::Error, itself a std::runtime_error, and carries a
// message that names the object and what to do. Exceptions hold only value
// data, so they are safe to copy between threads.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mp {

/// Base of every exception mp throws.
class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Misuse of a Process: start() twice, join() before start(), set_name() after start().
class ProcessError : public Error {
  public:
    using Error::Error;
};

/// A wait with a timeout ran out (AsyncResult::get(timeout)).
class TimeoutError : public Error {
  public:
    using Error::Error;
};

/// get()/get_nowait() on a queue that stayed empty.
class Empty : public Error {
  public:
    using Error::Error;
};

/// put()/put_nowait() on a queue that stayed full.
class Full : public Error {
  public:
    using Error::Error;
};

/// recv() on a Connection whose other end is closed and that holds no more data.
class EOFError : public Error {
  public:
    using Error::Error;
};

/// A barrier was broken (a wait timed out), aborted or reset while waiting.
class BrokenBarrierError : public Error {
  public:
    using Error::Error;
};

/// A bad argument: a negative size, a BoundedSemaphore released too often, …
class ValueError : public Error {
  public:
    using Error::Error;
};

/// A frame that cannot be decoded as the type asked for: another type was
/// sent, the frame is truncated, or its length or contents are corrupt.
class SerializationError : public Error {
  public:
    using Error::Error;
};

/// A failed system call; code() is the errno it left.
class OSError : public Error {
  public:
    OSError(int code, const std::string& what);
    /// The errno value of the failed call.
    [[nodiscard]] int code() const noexcept { return code_; }

  private:
    int code_;
};

/// send() on a Connection whose other end is closed (Python's BrokenPipeError).
class BrokenPipeError : public OSError {
  public:
    using OSError::OSError;
};

/// A Pool task threw; type_name() is the original exception's type, what() its message.
class RemoteError : public Error {
  public:
    RemoteError(std::string type_name, const std::string& message);
    /// The demangled type of the exception the task threw, e.g. "std::out_of_range".
    [[nodiscard]] const std::string& type_name() const noexcept { return type_name_; }

  private:
    std::string type_name_;
};

/// The worker running a Pool task died (killed by a signal, _exit, OOM) before
/// it returned a result. exitcode() follows Process::exitcode(): -N for signal N.
class WorkerLost : public Error {
  public:
    WorkerLost(const std::string& what, std::optional<int> exitcode);
    [[nodiscard]] std::optional<int> exitcode() const noexcept { return exitcode_; }

  private:
    std::optional<int> exitcode_;
};

/// The holder of a Lock or RLock died while holding it. Thrown by the acquire that
/// took the lock over: the caller now holds it and should repair the state it guards.
class LockAbandoned : public Error {
  public:
    using Error::Error;
};

/// A Listener/Client handshake failed: the peer's authkey differs, or it sent something
/// that is not Python's challenge/response (garbage, nothing in time, a message too long).
class AuthenticationError : public Error {
  public:
    using Error::Error;
};

}  // namespace mp

namespace mp::detail {
/// A readable form of a compiler type name ("std::__cxx11::basic_string<char>" → "std::string").
std::string readable_type_name(std::string_view name);
/// The demangled, readable type of the exception being handled (call inside a catch block).
std::string current_exception_type_name();
}  // namespace mp::detail
