"""Python peers for bench_managers (fork start method).

    python3 py_managers.py dict N   -> microseconds per Manager().dict() d[k] = v; d[k] pair
    python3 py_managers.py conn N   -> microseconds per 8-byte send_bytes/recv_bytes round trip
                                       over multiprocessing.connection Listener/Client
                                       (Unix socket, with an authkey)
"""
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Client, Listener


def median_us(op, n):
    for _ in range(min(n, 1000)):
        op()
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            op()
        rounds.append((time.perf_counter() - t0) / n)
    return statistics.median(rounds) * 1e6


def bench_dict(n):
    with mp.Manager() as manager:
        d = manager.dict()
        state = {"i": 0}

        def op():
            state["i"] += 1
            d["k"] = state["i"]
            d["k"]

        return median_us(op, n)


def echo(address, key):
    with Client(address, authkey=key) as c:
        try:
            while True:
                c.send_bytes(c.recv_bytes())
        except EOFError:
            pass


def bench_conn(n):
    key = b"bench key"
    with tempfile.TemporaryDirectory() as d:
        address = os.path.join(d, "py.sock")
        with Listener(address, authkey=key) as listener:
            p = mp.Process(target=echo, args=(address, key))
            p.start()
            with listener.accept() as c:
                msg = b"12345678"

                def op():
                    c.send_bytes(msg)
                    c.recv_bytes()

                us = median_us(op, n)
            p.join()
            return us


if __name__ == "__main__":
    mp.set_start_method("fork")
    what, n = sys.argv[1], int(sys.argv[2])
    print(f"{bench_dict(n) if what == 'dict' else bench_conn(n):.3f}")
