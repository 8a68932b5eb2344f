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


def inc(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def value_locked(n=300_000):
    v = ctx.Value("l", 0)
    ps = [ctx.Process(target=inc, args=(v, n)) for _ in range(2)]
    t = time.perf_counter()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    dt = time.perf_counter() - t
    assert v.value == 2 * n, v.value
    return 2 * n / dt


def event_echo(ping, pong, n):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def event_pingpong(n=2000):
    ping, pong = ctx.Event(), ctx.Event()
    p = ctx.Process(target=event_echo, args=(ping, pong, n))
    p.start()
    t = time.perf_counter()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    dt = time.perf_counter() - t
    p.join()
    return dt / n * 1e6


def cond_echo(c, turn, n):
    for _ in range(n):
        with c:
            c.wait_for(lambda: turn.value == 1)
            turn.value = 0
            c.notify()


def cond_pingpong(n=2000):
    c = ctx.Condition()
    turn = ctx.RawValue("i", 0)
    p = ctx.Process(target=cond_echo, args=(c, turn, n))
    p.start()
    t = time.perf_counter()
    for _ in range(n):
        with c:
            turn.value = 1
            c.notify()
            c.wait_for(lambda: turn.value == 0)
    dt = time.perf_counter() - t
    p.join()
    return dt / n * 1e6


if __name__ == "__main__":
    print(f"py_lock_uncontended_ns {median(lock_uncontended):.1f} ns", flush=True)
    print(f"py_value_locked_2proc_incr_per_s {median(value_locked):.0f} ops/s", flush=True)
    print(f"py_event_pingpong_rt_us {median(event_pingpong):.2f} us", flush=True)
    print(f"py_condition_pingpong_rt_us {median(cond_pingpong):.2f} us", flush=True)
