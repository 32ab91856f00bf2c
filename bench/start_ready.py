#!/usr/bin/python3
"""A worker's start to ready, against a bare interpreter's start.

Usage: start_ready.py WORKER [--python PATH] [--quick]

Spawns WORKER (build/bin/pyactor-worker) on a socketpair, as a node does,
and times spawn to its ready frame. Interleaved with it, the floor: the same
interpreter (default /usr/bin/python3) with the worker's flags
(-E -P -u -B) that writes one byte to the socketpair and exits, timed spawn
to that byte. Prints one JSON line (suite "host", name
"worker_start_to_ready") with both medians, the median of the per-round
ratios and their spread. The issue's target is a ready frame within 30 ms.
"""

import argparse
import json
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_host import FLAGS, Worker  # noqa: E402


def bare_start(python):
    """Spawn to the first byte of a bare interpreter with the worker's flags."""
    ours, theirs = socket.socketpair()
    t0 = time.perf_counter()
    pid = os.posix_spawn(python, [python, *FLAGS, "-c", "import os; os.write(3, b'x')"],
                         os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
    theirs.close()
    if ours.recv(1) != b"x":
        raise RuntimeError(f"{python} did not write its byte")
    ms = (time.perf_counter() - t0) * 1000.0
    ours.close()
    os.waitpid(pid, 0)
    return ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("worker")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    python_dir = os.path.join(os.path.dirname(here), "python")
    rounds = 8 if args.quick else 30
    worker_ms, bare_ms = [], []
    for r in range(rounds):
        order = ["worker", "bare"] if r % 2 == 0 else ["bare", "worker"]
        for who in order:
            if who == "worker":
                w = Worker(args.worker, python_dir)
                worker_ms.append(w.ready_ms)
                w.close()
            else:
                bare_ms.append(bare_start(args.python))
    per_round = [a / b for a, b in zip(worker_ms, bare_ms)]
    print(json.dumps({"suite": "host", "name": "worker_start_to_ready", "n": rounds,
                      "median_ms": round(statistics.median(worker_ms), 2),
                      "min_ms": round(min(worker_ms), 2),
                      "bare_python_median_ms": round(statistics.median(bare_ms), 2),
                      "bare_python_min_ms": round(min(bare_ms), 2),
                      "ratio_median": round(statistics.median(per_round), 3),
                      "ratio_low": round(min(per_round), 3),
                      "ratio_high": round(max(per_round), 3),
                      "load": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    sys.exit(main())
