"""mpi4py.futures on the tasks bench_mpi measures, as its peer.

Run as `mpirun -n 3 /usr/bin/python3 -m mpi4py.futures bench/py_mpi.py [N_MAP] [N_ASYNC] [N_APPLY]`:
rank 0 runs this script, ranks 1 and 2 serve (MPIPoolExecutor's workers). Prints one line
per figure: `name value unit`.
"""
import sys
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor


def sq(x):
    return x * x


def main():
    n_map = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    n_async = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    n_apply = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000
    with MPIPoolExecutor() as ex:
        workers = MPI.COMM_WORLD.Get_size() - 1  # MPIPoolExecutor() serves on the other ranks
        list(ex.map(sq, range(100)))  # warm up: the workers exist and have imported us
        # map: mpi4py's default (chunksize=1), and the chunksize Python's Pool.map picks.
        t = time.perf_counter()
        r = list(ex.map(sq, range(n_map)))
        dt = time.perf_counter() - t
        assert r[-1] == (n_map - 1) ** 2
        print(f"py_map_us_per_item {dt / n_map * 1e6:.3f} us")
        chunk = max(1, -(-n_map // (4 * workers)))
        t = time.perf_counter()
        r = list(ex.map(sq, range(n_map), chunksize=chunk))
        dt = time.perf_counter() - t
        assert r[-1] == (n_map - 1) ** 2
        print(f"py_map_chunked_us_per_item {dt / n_map * 1e6:.3f} us")

        t = time.perf_counter()
        fs = [ex.submit(sq, i) for i in range(n_async)]
        total = sum(f.result() for f in fs)
        dt = time.perf_counter() - t
        assert total == sum(i * i for i in range(n_async))
        print(f"py_submit_us_per_task {dt / n_async * 1e6:.3f} us")

        t = time.perf_counter()
        for i in range(n_apply):
            ex.submit(sq, i).result()
        dt = time.perf_counter() - t
        print(f"py_roundtrip_us {dt / n_apply * 1e6:.2f} us")


if __name__ == "__main__":
    main()
