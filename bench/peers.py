#!/usr/bin/python3
"""pyactor's peers on pyactor's workloads (bench/README.md), on Debian's python3.

    multiprocessing.Pool(2)                    apply / apply_async / map
    concurrent.futures.ProcessPoolExecutor(2)  submit / map
    dask.distributed LocalCluster(2 processes, 1 thread each) + Client

Each workload is the one pyactor-bench runs: operator.add(i, 1) for latency and
throughput (at most WINDOW calls in flight), abs over -i for map, 200 x
sum(range(10**5)) on 1 and on 2 workers, a 1 MiB bytes echo, and start to first
result. Every result is checked; a wrong one exits with code 1. Prints one JSON
object per line.

Usage: peers.py [--quick] [--only pool,ppe,dask]
       peers.py --serve pool     (the interleaved rounds' Pool side: see serve_pool)
"""

import argparse
import collections
import concurrent.futures
import json
import logging
import multiprocessing
import operator
import statistics
import sys
import time
import warnings

WINDOW = 256
CPU_N = 10**5
CPU_SUM = CPU_N * (CPU_N - 1) // 2


def cpu_task(n):
    return sum(range(n))


def emit(peer, name, **fields):
    print(json.dumps({"suite": "peer", "peer": peer, "name": name, **fields}), flush=True)


def fail(what):
    print("peers.py: WRONG RESULT: " + what, file=sys.stderr, flush=True)
    sys.exit(1)


def expect(got, want, what):
    if got != want:
        fail(f"{what}: expected {want!r}, got {got!r}"[:300])


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))]


def now():
    return time.perf_counter()


# -- generic drivers: `call(f, *args)` blocks, `submit(f, *args)` returns a handle,
#    `wait(handle)` gets its result -------------------------------------------------


def latency(peer, call, warmup, n):
    for i in range(warmup):
        expect(call(operator.add, i, 1), i + 1, "add")
    us = []
    for i in range(n):
        t0 = now()
        r = call(operator.add, i, 1)
        t1 = now()
        expect(r, i + 1, "add")
        us.append((t1 - t0) * 1e6)
    emit(peer, "call_latency", workers=2, n=n, median_us=round(pct(us, 0.5), 3),
         p99_us=round(pct(us, 0.99), 3), min_us=round(min(us), 3))


def throughput(peer, submit, wait, n, repeats):
    best = float("inf")
    for _ in range(repeats):
        window = collections.deque()
        t0 = now()
        for i in range(n):
            if len(window) >= WINDOW:
                j, h = window.popleft()
                expect(wait(h), j + 1, "add (async)")
            window.append((i, submit(operator.add, i, 1)))
        while window:
            j, h = window.popleft()
            expect(wait(h), j + 1, "add (async)")
        best = min(best, now() - t0)
    emit(peer, "async_throughput", workers=2, n=n, repeats=repeats, window=WINDOW,
         seconds=round(best, 4), calls_per_s=round(n / best))


def mapping(peer, map_fn, n, how, repeats):
    items = [-i for i in range(n)]
    want = list(range(n))
    runs = []
    for _ in range(repeats):
        t0 = now()
        out = list(map_fn(abs, items))
        runs.append(now() - t0)
        if out != want:
            fail(f"{peer} map returned wrong items")
    best = min(runs)
    emit(peer, "map", workers=2, items=n, chunking=how, repeats=repeats, seconds=round(best, 4),
         median_seconds=round(statistics.median(runs), 4), items_per_s=round(n / best))


def cpu_scatter(submit, wait, tasks, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = now()
        handles = [submit(cpu_task, CPU_N) for _ in range(tasks)]
        for h in handles:
            expect(wait(h), CPU_SUM, "sum(range(n))")
        best = min(best, now() - t0)
    return best * 1000


def echo(peer, call, rounds):
    payload = bytes((i * 131 + 7) & 0xFF for i in range(1 << 20))
    ms = []
    for i in range(rounds + 2):
        t0 = now()
        r = call(bytes, payload)
        t1 = now()
        if r != payload:
            fail(f"{peer}: the 1 MiB echo came back different")
        if i >= 2:
            ms.append((t1 - t0) * 1000)
    emit(peer, "echo_1MiB", workers=2, n=rounds, bytes=len(payload),
         median_ms=round(statistics.median(ms), 4), min_ms=round(min(ms), 4))


def warm(call, workers):
    # enough calls that every worker has run each function once
    for i in range(4 * workers):
        expect(call(cpu_task, 10), 45, "warm-up")


def cpu_floor():
    """One CPU-scatter task in this interpreter (Debian's python3 executable),
    to set beside the same task in an embedded libpython (the floors)."""
    for _ in range(10):
        cpu_task(CPU_N)
    ms = []
    for _ in range(100):
        t0 = now()
        expect(cpu_task(CPU_N), CPU_SUM, "sum(range(n))")
        ms.append((now() - t0) * 1000)
    print(json.dumps({"suite": "floor", "name": "cpu_task_python3", "n": len(ms),
                      "median_ms": round(statistics.median(ms), 4),
                      "min_ms": round(min(ms), 4)}), flush=True)


# -- multiprocessing.Pool --------------------------------------------------------------


def bench_pool(q):
    peer = "multiprocessing.Pool"
    starts = []
    for i in range(q["starts"]):
        t0 = now()
        with multiprocessing.Pool(1) as p:
            expect(p.apply(operator.add, (i, 1)), i + 1, "first call")
            starts.append((now() - t0) * 1000)
    emit(peer, "start_to_ready", workers=1, n=len(starts),
         first_result_median_ms=round(statistics.median(starts), 3))

    with multiprocessing.Pool(2) as p:
        warm(lambda f, *a: p.apply(f, a), 2)
        latency(peer, lambda f, *a: p.apply(f, a), q["warmup"], q["latency"])
        throughput(peer, lambda f, *a: p.apply_async(f, a), lambda h: h.get(), q["async"],
                   q["async_repeats"])
        mapping(peer, p.map, q["map"], "default (len/(4*workers))", q["map_repeats"])
        echo(peer, lambda f, *a: p.apply(f, a), q["echo"])
        two = cpu_scatter(lambda f, *a: p.apply_async(f, a), lambda h: h.get(), q["cpu_tasks"],
                          q["cpu_repeats"])
    with multiprocessing.Pool(1) as p:
        warm(lambda f, *a: p.apply(f, a), 1)
        one = cpu_scatter(lambda f, *a: p.apply_async(f, a), lambda h: h.get(), q["cpu_tasks"],
                          q["cpu_repeats"])
    emit(peer, "cpu_scatter", tasks=q["cpu_tasks"], n=CPU_N, ms_1_worker=round(one, 3),
         ms_2_workers=round(two, 3), speedup=round(one / two, 3))


# -- concurrent.futures.ProcessPoolExecutor ----------------------------------------------


def bench_ppe(q):
    peer = "ProcessPoolExecutor"
    starts = []
    for i in range(q["starts"]):
        t0 = now()
        with concurrent.futures.ProcessPoolExecutor(1) as ex:
            expect(ex.submit(operator.add, i, 1).result(), i + 1, "first call")
            starts.append((now() - t0) * 1000)
    emit(peer, "start_to_ready", workers=1, n=len(starts),
         first_result_median_ms=round(statistics.median(starts), 3))

    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        call = lambda f, *a: ex.submit(f, *a).result()  # noqa: E731
        warm(call, 2)
        latency(peer, call, q["warmup"], q["latency"])
        throughput(peer, ex.submit, lambda h: h.result(), q["async"], q["async_repeats"])
        mapping(peer, ex.map, q["ppe_map"], "default (chunksize=1)", 1)
        mapping(peer + " chunksize=1000", lambda f, xs: ex.map(f, xs, chunksize=1000), q["map"],
                "chunksize=1000", q["map_repeats"])
        echo(peer, call, q["echo"])
        two = cpu_scatter(ex.submit, lambda h: h.result(), q["cpu_tasks"], q["cpu_repeats"])
    with concurrent.futures.ProcessPoolExecutor(1) as ex:
        warm(lambda f, *a: ex.submit(f, *a).result(), 1)
        one = cpu_scatter(ex.submit, lambda h: h.result(), q["cpu_tasks"], q["cpu_repeats"])
    emit(peer, "cpu_scatter", tasks=q["cpu_tasks"], n=CPU_N, ms_1_worker=round(one, 3),
         ms_2_workers=round(two, 3), speedup=round(one / two, 3))


# -- dask.distributed -------------------------------------------------------------------


def bench_dask(q):
    import dask
    from distributed import Client, LocalCluster

    peer = "dask.distributed"
    # The 1 MiB echo is the workload here, not a mistake to warn about.
    warnings.filterwarnings("ignore", message="Large object of size")

    def cluster(n):
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                            dashboard_address=None, host="127.0.0.1",
                            silence_logs=logging.ERROR)

    def started(n):
        t0 = now()
        c = cluster(n)
        client = Client(c)
        expect(client.submit(operator.add, 1, 1, pure=False).result(), 2, "first call")
        return c, client, (now() - t0) * 1000

    c, client, ms_two = started(2)
    try:
        submit = lambda f, *a: client.submit(f, *a, pure=False)  # noqa: E731
        call = lambda f, *a: submit(f, *a).result()  # noqa: E731
        warm(call, 2)
        latency(peer, call, q["dask_warmup"], q["dask_latency"])
        throughput(peer, submit, lambda h: h.result(), q["dask_async"], 1)
        mapping(peer, lambda f, xs: client.gather(client.map(f, xs, pure=False)), q["dask_map"],
                "one task per item", 1)
        echo(peer, call, q["dask_echo"])
        two = cpu_scatter(submit, lambda h: h.result(), q["cpu_tasks"], q["cpu_repeats"])
    finally:
        client.close()
        c.close()
    c, client, ms_one = started(1)
    try:
        submit = lambda f, *a: client.submit(f, *a, pure=False)  # noqa: E731
        warm(lambda f, *a: submit(f, *a).result(), 1)
        one = cpu_scatter(submit, lambda h: h.result(), q["cpu_tasks"], q["cpu_repeats"])
    finally:
        client.close()
        c.close()
    emit(peer, "cpu_scatter", tasks=q["cpu_tasks"], n=CPU_N, ms_1_worker=round(one, 3),
         ms_2_workers=round(two, 3), speedup=round(one / two, 3))
    emit(peer, "start_to_ready", workers=1, n=1, first_result_median_ms=round(ms_one, 3),
         two_workers_ms=round(ms_two, 3))
    emit(peer, "version", dask=dask.__version__)


# -- the Pool side of pyactor-bench-interleaved ---------------------------------------------


def last_cpu(pid):
    """The core `pid` last ran on (/proc/PID/stat field 39); -1 if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[39 - 3])
    except (OSError, IndexError, ValueError):
        return -1


def serve_pool():
    """Serves timed Pool(2) workloads to bench/interleaved.cpp, one per line.

    Prints {"ready": true, "pids": [...]} once the pool runs, then answers each
    command on stdin with one JSON line: "async N" (N apply_async calls of
    operator.add, at most WINDOW in flight), "map N" (Pool.map of abs over N
    items, default chunks), "quit". Each answer carries "seconds" and "cpus",
    the core each process of the pool (this one first) last ran on."""
    with multiprocessing.Pool(2) as p:
        warm(lambda f, *a: p.apply(f, a), 2)
        procs = [c.pid for c in p._pool]  # noqa: SLF001 (the pool's own processes)
        pids = [multiprocessing.current_process().pid] + procs
        print(json.dumps({"ready": True, "pids": pids}), flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if not cmd or cmd[0] == "quit":
                break
            n = int(cmd[1])
            items = [-i for i in range(n)] if cmd[0] == "map" else None
            t0 = now()
            if cmd[0] == "async":
                window = collections.deque()
                for i in range(n):
                    if len(window) >= WINDOW:
                        j, h = window.popleft()
                        expect(h.get(), j + 1, "add (async)")
                    window.append((i, p.apply_async(operator.add, (i, 1))))
                while window:
                    j, h = window.popleft()
                    expect(h.get(), j + 1, "add (async)")
            elif cmd[0] == "map":
                out = p.map(abs, items)
                if out != list(range(n)):
                    fail("Pool.map returned wrong items")
            else:
                fail(f"unknown command {cmd[0]!r}")
            seconds = now() - t0
            print(json.dumps({"seconds": seconds, "cpus": [last_cpu(x) for x in pids]}),
                  flush=True)


FULL = dict(starts=10, warmup=500, latency=5000, async_=20000, async_repeats=3, map=100000,
            map_repeats=7, ppe_map=100000, echo=100, cpu_tasks=200, cpu_repeats=5,
            dask_warmup=50, dask_latency=300, dask_async=3000, dask_map=10000, dask_echo=20)
QUICK = dict(starts=4, warmup=200, latency=1000, async_=10000, async_repeats=1, map=100000,
             map_repeats=3, ppe_map=20000, echo=20, cpu_tasks=200, cpu_repeats=2,
             dask_warmup=20, dask_latency=100, dask_async=1000, dask_map=2000, dask_echo=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="pool,ppe,dask")
    ap.add_argument("--serve", choices=["pool"])
    args = ap.parse_args()
    if args.serve:
        serve_pool()
        return
    q = dict(QUICK if args.quick else FULL)
    q["async"] = q.pop("async_")
    emit("python", "version", python=sys.version.split()[0], executable=sys.executable)
    if "pool" in args.only.split(","):
        cpu_floor()
    runs = {"pool": bench_pool, "ppe": bench_ppe, "dask": bench_dask}
    for name in args.only.split(","):
        runs[name](q)


if __name__ == "__main__":
    main()
