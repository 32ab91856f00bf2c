#!/usr/bin/python3
"""CPU-bound Python in a pyactor worker against the same code in python3.

Usage: cpu_host.py WORKER [--python PATH] [--quick] [--heap-states]

Starts WORKER (build/bin/pyactor-worker) on a socketpair, as a node would,
and a plain PATH process (default /usr/bin/python3) with the same flags the
worker's interpreter gets (-E -P -u -B). Both define the same workloads;
each is timed inside its own process (time.perf_counter, no IPC in the
figure), interleaved: every round runs each workload in the worker and in
python3, alternating which goes first. Per workload it prints the median of
the per-round ratios (worker / python3) and their spread (lowest, highest).
Prints JSON lines (suite "host") for bench/report.py. The worker's start to
ready is bench/start_ready.py.

--heap-states (a diagnostic, not run by bench/run): times sum(range(10**5))
in each process after 3000 ints were made and J of them dropped again.
CPython's small-object allocator runs that loop about 1.2x slower after some
allocation histories (J = 1 is one; apps/worker/block_primer.hpp explains
it): python3's figure moves with J, the worker's (repaired between calls)
should not.
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

SNIPPET = r'''
import re, time
_rx = re.compile(r"\b\w+@\w+\.com\b")
_text = " ".join("user%d@example.com and some filler words" % i for i in range(2000))
def _fib(n):
    return n if n < 2 else _fib(n - 1) + _fib(n - 2)
_work = {
    "sum(range(10**5))": lambda: sum(range(10**5)),
    "regex findall": lambda: len(_rx.findall(_text)),
    "fib(20)": lambda: _fib(20),
}
def _timed(name, reps):
    f = _work[name]
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0
'''

WORKLOADS = ["sum(range(10**5))", "regex findall", "fib(20)"]
FLAGS = ["-E", "-P", "-u", "-B"]


# -- a minimal msgpack for the few shapes used here (no python3-msgpack needed) --

def pack_str(s):
    b = s.encode()
    if len(b) < 32:
        return bytes([0xa0 | len(b)]) + b
    return b"\xdb" + struct.pack(">I", len(b)) + b


def request(op, code):
    """msgpack [op, code, {}] (eval) or [op, code] (exec)."""
    items = [bytes([op]), pack_str(code)] + ([b"\x80"] if op == 6 else [])
    return bytes([0x90 | len(items)]) + b"".join(items)


class Worker:
    """One pyactor worker process driven over its channel, as a node does."""

    def __init__(self, exe, python_dir):
        ours, theirs = socket.socketpair()
        self.t0 = time.perf_counter()
        self.pid = os.posix_spawn(exe, [exe, "--channel-fd", "3", "--worker-id", "1",
                                        "--worker-uid", "1", "--python-path", python_dir],
                                  os.environ,
                                  file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
        theirs.close()
        self.sock = ours
        self.next_id = 1
        call_id, status, _ = self.frame()
        self.ready_ms = (time.perf_counter() - self.t0) * 1000.0
        assert call_id == 0 and status == 0, "no ready frame"

    def frame(self):
        head = self.recv(4)
        (length,) = struct.unpack("<I", head)
        body = self.recv(length)
        return struct.unpack("<Q", body[:8])[0], body[8], body[9:]

    def recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("the worker closed its channel")
            data += chunk
        return data

    def call(self, op, code):
        body = struct.pack("<Q", self.next_id) + request(op, code)
        self.next_id += 1
        self.sock.sendall(struct.pack("<I", len(body)) + body)
        _, status, payload = self.frame()
        if status != 0:
            raise RuntimeError(f"worker error for {code!r}: {payload!r}")
        return payload

    def timed(self, name, reps):
        payload = self.call(6, f"_timed({name!r}, {reps})")
        assert payload[0] == 0xcb, payload
        return struct.unpack(">d", payload[1:9])[0]

    def close(self):
        self.sock.close()
        os.waitpid(self.pid, 0)


class Plain:
    """The same snippet in a plain python3 process, driven over pipes."""

    def __init__(self, python):
        loop = r"""
import sys
exec(sys.stdin.readline().encode().decode('unicode_escape'))
for line in sys.stdin:
    if line.startswith('exec '):
        exec(line[5:].encode().decode('unicode_escape'))
        print(0.0, flush=True)
    else:
        name, reps = line.rsplit(' ', 1)
        print(_timed(name, int(reps)), flush=True)
"""
        self.proc = subprocess.Popen([python, *FLAGS, "-c", loop], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(SNIPPET.encode("unicode_escape").decode() + "\n")
        self.proc.stdin.flush()

    def timed(self, name, reps):
        self.proc.stdin.write(f"{name} {reps}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def exec(self, code):
        """Runs code (no newlines) in the process's namespace."""
        self.proc.stdin.write("exec " + code.encode("unicode_escape").decode() + "\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def heap_states(worker, plain):
    """sum(range(10**5)) after J ints in the middle of full pools were dropped.

    3000 new ints (10**6 and up; floats would go to their own free list) fill
    pymalloc pools of 32-byte blocks; dropping J of them puts their full pool
    first in the list with J free blocks. With J = 1, python3 runs the loop
    about 1.2x slower: every int it creates fills that pool and every one it
    drops relinks it. The worker repairs that state after each call
    (apps/worker/block_primer.hpp), so its figure should not move.
    """
    name = "sum(range(10**5))"
    floor = statistics.median(plain.timed(name, 20) for _ in range(3))
    for j in [0, 1, 2, 3, 1, 0, 1]:
        for step in ["_keep = None", "_keep = [10**6 + i for i in range(3000)]",
                     f"_keep[1500:{1500 + j}] = [None] * {j}"]:
            worker.call(7, step)
            plain.exec(step)
        w = min(worker.timed(name, 20) for _ in range(2))
        p = min(plain.timed(name, 20) for _ in range(2))
        print(json.dumps({"suite": "host_diag", "name": "heap_state", "ints_dropped": j,
                          "worker_vs_floor": round(w / floor, 3),
                          "python3_vs_floor": round(p / floor, 3)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("worker")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--heap-states", action="store_true")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    python_dir = os.path.join(os.path.dirname(here), "python")
    rounds, reps = (5, 5) if args.quick else (15, 10)

    worker = Worker(args.worker, python_dir)
    worker.call(7, SNIPPET)
    plain = Plain(args.python)
    if args.heap_states:
        heap_states(worker, plain)
        worker.close()
        plain.close()
        return 0
    times = {name: {"worker": [], "python3": []} for name in WORKLOADS}
    for r in range(rounds):
        for name in WORKLOADS:
            order = [("worker", worker), ("python3", plain)]
            if r % 2:
                order.reverse()
            for label, who in order:
                times[name][label].append(who.timed(name, reps))
    worker.close()
    plain.close()
    for name in WORKLOADS:
        w, p = times[name]["worker"], times[name]["python3"]
        per_round = [a / b for a, b in zip(w, p)]
        print(json.dumps({"suite": "host", "name": "cpu_in_worker_vs_python3", "workload": name,
                          "rounds": rounds, "reps": reps,
                          "worker_best_ms": round(min(w), 4), "python3_best_ms": round(min(p), 4),
                          "ratio_best": round(min(w) / min(p), 3),
                          "ratio_median": round(statistics.median(per_round), 3),
                          "ratio_low": round(min(per_round), 3),
                          "ratio_high": round(max(per_round), 3),
                          "load": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    sys.exit(main())
