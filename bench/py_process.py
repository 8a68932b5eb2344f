"""Python peers for bench_process: Process start+join per start method.

    /usr/bin/python3 py_process.py METHOD N  -> microseconds per start+join (median of 3)
"""
import multiprocessing as mp
import statistics
import sys
import time


def noop():
    pass


def main():
    method, n = sys.argv[1], int(sys.argv[2])
    ctx = mp.get_context(method)
    p = ctx.Process(target=noop)  # warm-up: starts the fork server once
    p.start()
    p.join()
    rounds = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            p = ctx.Process(target=noop)
            p.start()
            p.join()
        rounds.append((time.perf_counter() - t0) / n)
    print(statistics.median(rounds) * 1e6)


if __name__ == "__main__":
    main()
