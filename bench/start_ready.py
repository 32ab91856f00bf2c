#!/usr/bin/python3
"""A worker's start to ready, against a bare interpreter's start.

Usage: start_ready.py WORKER [--python PATH] [--quick] [--breakdown]

Starts a worker on a socketpair as a node does, and times spawn to its
ready frame. A node runs the Python executable directly with the command
the launcher WORKER (build/bin/pyactor-worker) would exec; the script gets
that command from `WORKER --print-command` and times it ("node"), and
also times WORKER itself ("launcher": one exec more, what a
worker-executable wrapper script pays). Interleaved with both, the floor:
the same interpreter with the worker's flags (-E -P -u -B) writing one byte
to the socketpair, timed spawn to that byte. Prints one JSON line (suite
"host", name "worker_start_to_ready") with the medians, the median of the
per-round ratios against the floor and their spread. The issue's target is
a ready frame within 30 ms.

--breakdown adds, interleaved the same way, the interpreter with the
flags and -S (no site), the floor plus loading the _pyactor_worker module,
and that plus importing the pyactor package (one JSON line each, suite
"host_diag").
"""

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_host import FLAGS  # noqa: E402

WORKER_ARGS = ["--channel-fd", "3", "--worker-id", "1", "--worker-uid", "1"]
WRITE_BYTE = "import os; os.write(3, b'x')"


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the process closed its channel")
        data += chunk
    return data


def timed_start(argv, ready_frame):
    """Milliseconds from spawning argv (channel on fd 3) to its first byte
    (ready_frame false) or to its ready frame (call id 0, status 0)."""
    ours, theirs = socket.socketpair()
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
    theirs.close()
    try:
        if ready_frame:
            (length,) = struct.unpack("<I", recv_exactly(ours, 4))
            body = recv_exactly(ours, length)
            ms = (time.perf_counter() - t0) * 1000.0
            if struct.unpack("<Q", body[:8])[0] != 0 or body[8] != 0:
                raise RuntimeError(f"{argv[0]}: no ready frame")
        else:
            if recv_exactly(ours, 1) != b"x":
                raise RuntimeError(f"{argv[0]} did not write its byte")
            ms = (time.perf_counter() - t0) * 1000.0
    finally:
        ours.close()
        os.waitpid(pid, 0)
    return ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("worker")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--breakdown", action="store_true")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    python_dir = os.path.join(os.path.dirname(here), "python")
    worker_args = WORKER_ARGS + ["--python-path", python_dir]
    launcher = [args.worker, "--python", args.python] + worker_args
    printed = subprocess.run([args.worker, "--print-command", "--python", args.python]
                             + worker_args, check=True, stdout=subprocess.PIPE).stdout
    node = [os.fsdecode(a) for a in printed.split(b"\0")[:-1]]
    module_dir = node[len(FLAGS) + 3]
    starts = {
        "bare": ([args.python, *FLAGS, "-c", WRITE_BYTE], False),
        "node": (node, True),
        "launcher": (launcher, True),
    }
    if args.breakdown:
        load = f"import sys; sys.path[:0] = [{module_dir!r}, {python_dir!r}]; import _pyactor_worker"
        starts["no_site"] = ([args.python, *FLAGS, "-S", "-c", WRITE_BYTE], False)
        starts["module"] = ([args.python, *FLAGS, "-c", f"{load}; {WRITE_BYTE}"], False)
        starts["package"] = ([args.python, *FLAGS, "-c",
                              f"{load}, pyactor, pyactor._worker; {WRITE_BYTE}"], False)
    rounds = 8 if args.quick else 30
    ms = {name: [] for name in starts}
    for r in range(rounds):
        order = list(starts) if r % 2 == 0 else list(reversed(starts))
        for name in order:
            ms[name].append(timed_start(*starts[name]))

    def ratios(name):
        per_round = [a / b for a, b in zip(ms[name], ms["bare"])]
        return {"ratio_median": round(statistics.median(per_round), 3),
                "ratio_low": round(min(per_round), 3), "ratio_high": round(max(per_round), 3)}

    load_avg = round(os.getloadavg()[0], 2)
    print(json.dumps({"suite": "host", "name": "worker_start_to_ready", "n": rounds,
                      "median_ms": round(statistics.median(ms["node"]), 2),
                      "min_ms": round(min(ms["node"]), 2),
                      "bare_python_median_ms": round(statistics.median(ms["bare"]), 2),
                      "bare_python_min_ms": round(min(ms["bare"]), 2),
                      **ratios("node"),
                      "launcher_median_ms": round(statistics.median(ms["launcher"]), 2),
                      "launcher_ratio_median": ratios("launcher")["ratio_median"],
                      "load": load_avg}))
    for name in ["no_site", "module", "package"] if args.breakdown else []:
        print(json.dumps({"suite": "host_diag", "name": f"start_{name}", "n": rounds,
                          "median_ms": round(statistics.median(ms[name]), 2),
                          **ratios(name), "load": load_avg}))


if __name__ == "__main__":
    sys.exit(main())
