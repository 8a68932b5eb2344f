"""Python multiprocessing peers for bench_process and bench_pipe (fork start method).

    python3 py_peers.py process N   -> microseconds per Process start+join (median of 5)
    python3 py_peers.py pipe N      -> microseconds per 8-byte Pipe round trip (median of 5)
"""
import multiprocessing as mp
import statistics
import sys
import time


def noop():
    pass


def echo(conn):
    while True:
        x = conn.recv()
        if x is None:
            break
        conn.send(x)


def bench_process(n):
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            p = mp.Process(target=noop)
            p.start()
            p.join()
        rounds.append((time.perf_counter() - t0) / n)
    return statistics.median(rounds) * 1e6


def bench_pipe(n):
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b,))
    p.start()
    for _ in range(1000):
        a.send(12345678)
        a.recv()
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            a.send(12345678)
            a.recv()
        rounds.append((time.perf_counter() - t0) / n)
    a.send(None)
    p.join()
    return statistics.median(rounds) * 1e6


if __name__ == "__main__":
    mp.set_start_method("fork")
    what, n = sys.argv[1], int(sys.argv[2])
    print({"process": bench_process, "pipe": bench_pipe}[what](n))
