"""Python's multiprocessing.Pool and concurrent.futures.ProcessPoolExecutor on the tasks
bench_pool measures (fork, 2 workers).

Prints one line per figure: `name value unit`. Usage: python3 py_pool.py [N_MAP] [N_ASYNC] [N_APPLY]
"""
import concurrent.futures as cf
import multiprocessing as mp
import sys
import time


def sq(x):
    return x * x


def burn(n):
    # The CPU-bound task: the same integer loop as bench_pool's burn().
    s = 0
    for i in range(n):
        s = (s * 31 + i) % 1000003
    return s


def main():
    n_map = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    n_async = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    n_apply = int(sys.argv[3]) if len(sys.argv) > 3 else 2_000
    mp.set_start_method("fork")
    with mp.Pool(2) as pool:
        pool.map(sq, range(1000))  # warm up
        items = list(range(n_map))
        for _ in range(3):  # as the C++ side: three maps, each timed
            t = time.perf_counter()
            r = pool.map(sq, items)  # automatic chunksize
            dt = time.perf_counter() - t
            assert r[-1] == (n_map - 1) ** 2
            print(f"py_map_s {dt:.4f} s")

        t = time.perf_counter()
        rs = [pool.apply_async(sq, (i,)) for i in range(n_async)]
        total = sum(x.get() for x in rs)
        dt = time.perf_counter() - t
        assert total == sum(i * i for i in range(n_async))
        print(f"py_apply_async_us_per_task {dt / n_async * 1e6:.3f} us")

        t = time.perf_counter()
        for i in range(n_apply):
            pool.apply(sq, (i,))
        dt = time.perf_counter() - t
        print(f"py_apply_roundtrip_us {dt / n_apply * 1e6:.2f} us")

    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
        ex.submit(sq, 1).result()  # warm up
        t = time.perf_counter()
        fs = [ex.submit(sq, i) for i in range(n_async)]
        total = sum(f.result() for f in fs)
        dt = time.perf_counter() - t
        assert total == sum(i * i for i in range(n_async))
        print(f"py_executor_submit_us_per_task {dt / n_async * 1e6:.3f} us")
        n = n_map // 10
        t = time.perf_counter()
        r = list(ex.map(sq, range(n), chunksize=64))
        dt = time.perf_counter() - t
        assert r[-1] == (n - 1) ** 2
        print(f"py_executor_map_us_per_item {dt / n * 1e6:.3f} us")

    # Per start method: Pool(2) made, one apply, closed (the workers' start-up cost).
    for method in ("fork", "forkserver", "spawn"):
        ctx = mp.get_context(method)
        with ctx.Pool(2) as pool:  # the fork server itself starts once, outside the timing
            pool.apply(sq, (1,))
        t = time.perf_counter()
        with ctx.Pool(2) as pool:
            pool.apply(sq, (1,))
        dt = time.perf_counter() - t
        print(f"py_pool_start_{method}_ms {dt * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
