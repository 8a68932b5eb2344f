"""Python's peers for bench_sync: multiprocessing (fork) Lock, Value+get_lock, Event and
Condition ping-pong across two processes. Prints NAME VALUE UNIT lines (median of REPS)."""
import multiprocessing as mp
import os
import statistics
import sys
import time

ctx = mp.get_context("fork")
REPS = int(os.environ.get("REPS", "3"))


def median(f):
    return statistics.median(f() for _ in range(REPS))


def lock_uncontended(n=500_000):
    l = ctx.Lock()
    t = time.perf_counter()
    for _ in range(n):
        l.acquire()
        l.release()
    return (time.perf_counter() - t) / n * 1e9


def inc(v, n, go):
    go.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def value_locked(n=300_000):
    v = ctx.Value("l", 0)
    go = ctx.Event()  # a start gate: both count together, as in bench_sync.cpp
    ps = [ctx.Process(target=inc, args=(v, n, go)) for _ in range(2)]
    for p in ps:
        p.start()
    time.sleep(0.05)
    t = time.perf_counter()
    go.set()
    for p in ps:
        p.join()
    dt = time.perf_counter() - t
    assert v.value == 2 * n, v.value
    return 2 * n / dt


def pinned(cpu):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def event_echo(ping, pong, n, cpu=None):
    pinned(cpu)
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def pingpong(child, child_args, parent_round, n, cross):
    """Microseconds per round trip: the parent runs parent_round() n times while the child
    runs child(*child_args, n, cpu); with cross=True the ends are pinned to CPUs 0 and 1."""
    saved = os.sched_getaffinity(0)
    p = ctx.Process(target=child, args=(*child_args, n, 1 if cross else None))
    pinned(0 if cross else None)
    p.start()
    t = time.perf_counter()
    for _ in range(n):
        parent_round()
    dt = time.perf_counter() - t
    p.join()
    os.sched_setaffinity(0, saved)
    return dt / n * 1e6


def event_pingpong(n=2000, cross=False):
    ping, pong = ctx.Event(), ctx.Event()

    def round_trip():
        ping.set()
        pong.wait()
        pong.clear()

    return pingpong(event_echo, (ping, pong), round_trip, n, cross)


def cond_echo(c, turn, n, cpu=None):
    pinned(cpu)
    for _ in range(n):
        with c:
            c.wait_for(lambda: turn.value == 1)
            turn.value = 0
            c.notify()


def cond_pingpong(n=2000, cross=False):
    c = ctx.Condition()
    turn = ctx.RawValue("i", 0)

    def round_trip():
        with c:
            turn.value = 1
            c.notify()
            c.wait_for(lambda: turn.value == 0)

    return pingpong(cond_echo, (c, turn), round_trip, n, cross)


if __name__ == "__main__":
    print(f"py_lock_uncontended_ns {median(lock_uncontended):.1f} ns", flush=True)
    print(f"py_value_locked_2proc_incr_per_s {median(value_locked):.0f} ops/s", flush=True)
    print(f"py_event_pingpong_rt_us {median(event_pingpong):.2f} us", flush=True)
    print(f"py_condition_pingpong_rt_us {median(cond_pingpong):.2f} us", flush=True)
    if len(os.sched_getaffinity(0)) >= 2:
        print(f"py_event_pingpong_cross_rt_us {median(lambda: event_pingpong(cross=True)):.2f} us", flush=True)
        print(f"py_condition_pingpong_cross_rt_us {median(lambda: cond_pingpong(cross=True)):.2f} us", flush=True)
