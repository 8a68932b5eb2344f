"""Python's multiprocessing.Queue on the rows of bench_queue (run by it; prints NAME VALUE).

    python3 py_queue.py [n_small] [n_big]

small_1to1: ints, one producer process, the main process consumes.
small_2to2: ints, two producer processes, two consumer processes.
big_1to1:   1 MiB bytes objects, maxsize 64 (as in shared/anchors/py_mp_bench.py).
"""
import multiprocessing as mp
import sys
import time


def produce(q, n, go):
    go.wait()
    for i in range(n):
        q.put(i)


def consume(q, out):
    n = 0
    s = 0
    while True:
        v = q.get()
        if v is None:
            break
        n += 1
        s += v
    out.put((n, s))


def produce_bytes(q, n, size, go):
    b = b"x" * size
    go.wait()
    for _ in range(n):
        q.put(b)


def small_1to1(n):
    q, go = mp.Queue(), mp.Event()
    p = mp.Process(target=produce, args=(q, n, go))
    p.start()
    go.set()
    t = time.perf_counter()
    s = 0
    for _ in range(n):
        s += q.get()
    dt = time.perf_counter() - t
    p.join()
    assert s == n * (n - 1) // 2
    return n / dt


def small_2to2(n):
    q, out, go = mp.Queue(), mp.Queue(), mp.Event()
    prods = [mp.Process(target=produce, args=(q, n // 2, go)) for _ in range(2)]
    cons = [mp.Process(target=consume, args=(q, out)) for _ in range(2)]
    for p in prods + cons:
        p.start()
    go.set()
    t = time.perf_counter()
    for p in prods:
        p.join()
    for _ in cons:
        q.put(None)
    got = sum(out.get()[0] for _ in cons)
    dt = time.perf_counter() - t
    for p in cons:
        p.join()
    assert got == 2 * (n // 2)
    return got / dt


def big_1to1(n, size=1 << 20):
    q, go = mp.Queue(maxsize=64), mp.Event()
    p = mp.Process(target=produce_bytes, args=(q, n, size, go))
    p.start()
    go.set()
    t = time.perf_counter()
    for _ in range(n):
        assert len(q.get()) == size
    dt = time.perf_counter() - t
    p.join()
    return n / dt


if __name__ == "__main__":
    mp.set_start_method("fork")
    n_small = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    n_big = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    print(f"small_1to1 {small_1to1(n_small):.0f}", flush=True)
    print(f"small_2to2 {small_2to2(n_small):.0f}", flush=True)
    print(f"big_1to1 {big_1to1(n_big):.1f}", flush=True)
