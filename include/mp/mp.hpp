// mp/mp.hpp — everything in mp: Python's multiprocessing, in C++20.
//
//     #include <mp/mp.hpp>
//
//     int square(int x) { return x * x; }
//
//     int main() {
//         mp::Pool pool(4);
//         auto squares = pool.map(square, std::vector{1, 2, 3, 4});  // {1, 4, 9, 16}
//     }
//
// One header per concept, as in Lib/multiprocessing:
//   <mp/process.hpp>        Process, current_process, active_children, cpu_count
//   <mp/connection.hpp>     Pipe, Connection, wait
//   <mp/queue.hpp>          Queue, SimpleQueue, JoinableQueue
//   <mp/synchronize.hpp>    Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier
//   <mp/sharedctypes.hpp>   Value, RawValue, Array, RawArray
//   <mp/shared_memory.hpp>  SharedMemory
//   <mp/pool.hpp>           Pool, AsyncResult
//   <mp/thread_pool.hpp>    ThreadPool (the Pool API on threads)
//   <mp/futures.hpp>        futures::ProcessPoolExecutor, Future, as_completed, wait
//   <mp/listener.hpp>       Listener, Client, Address          (link mp::net)
//   <mp/managers.hpp>       Manager and its proxies            (link mp::net)
//   <mp/trace.hpp>          trace_to: a Chrome trace of every pool task (MP_TRACE=file.json)
//   <mp/progress.hpp>       progress(range): a progress bar on stderr
//   <mp/serialize.hpp>      what can cross a process boundary, and how
//   <mp/errors.hpp>         the exception family under mp::Error
#pragma once

#include "mp/connection.hpp"
#include "mp/context.hpp"
#include "mp/errors.hpp"
#include "mp/futures.hpp"
#include "mp/listener.hpp"
#include "mp/managers.hpp"
#include "mp/pool.hpp"
#include "mp/process.hpp"
#include "mp/progress.hpp"
#include "mp/queue.hpp"
#include "mp/serialize.hpp"
#include "mp/shared_memory.hpp"
#include "mp/sharedctypes.hpp"
#include "mp/synchronize.hpp"
#include "mp/thread_pool.hpp"
#include "mp/trace.hpp"
