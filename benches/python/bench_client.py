"""Python client benchmarks: decorator overhead per call, and runs/s logged one
at a time and in batching mode, into the embedded store and over HTTP.

    python benches/python/bench_client.py --server-bin target/release/mltrace

Each measurement gets a fresh store (a temporary directory, or a server started
on a free loopback port with its own data directory) and prints one row of a
Markdown table. Counts are bounded by --calls / --runs so a run stays short on
a shared machine.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import mltrace
from mltrace import ComponentRun, _batch, _config, _embedded, _http, register


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpServer:
    def __init__(self, binary, fsync):
        self.tmp = tempfile.mkdtemp(prefix="mltrace-bench-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "serve", "--addr", f"127.0.0.1:{self.port}", "--data-dir",
             os.path.join(self.tmp, "data"), "--fsync", fsync],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/health", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start")

    @property
    def uri(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)


class LocalDir:
    def __init__(self, fsync):
        self.tmp = tempfile.mkdtemp(prefix="mltrace-bench-")
        self.uri = "file://" + os.path.join(self.tmp, "data") + f"?fsync={fsync}"

    def close(self):
        _embedded.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def use(store, batching):
    _batch.reset()
    _config.reset()
    _http.close()
    mltrace.set_db_uri(store.uri)
    mltrace.set_batching(batching, max_batch=1000)
    mltrace.create_component("warmup", "", "")  # opens the store / the connection


def decorator_overhead(calls):
    """(wall, CPU) µs per call of a decorated function minus the same function
    undecorated. CPU is the whole process's (the store's threads included): on a
    shared machine it moves less with the load than the wall clock does."""
    def plain(src):
        dst = src + ".out"
        return dst

    @register("bench-decorated", input_vars=["src"], output_vars=["dst"])
    def decorated(src):
        dst = src + ".out"
        return dst

    decorated("warm")
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(calls):
        plain(f"in-{i}")
    t1, c1 = time.perf_counter(), time.process_time()
    for i in range(calls):
        decorated(f"in-{i}")
    mltrace.flush()
    t2, c2 = time.perf_counter(), time.process_time()
    return ((t2 - t1) - (t1 - t0)) / calls * 1e6, ((c2 - c1) - (c1 - c0)) / calls * 1e6


def runs_per_second(runs):
    """(runs/s by the wall clock, CPU µs per run)."""
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(runs):
        cr = ComponentRun("bench-explicit")
        cr.set_start_timestamp()
        cr.add_input(f"in-{i}")
        cr.add_output(f"out-{i}")
        cr.set_end_timestamp()
        mltrace.log_component_run(cr)
    mltrace.flush()
    return runs / (time.perf_counter() - t0), (time.process_time() - c0) / runs * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-bin", help="the mltrace binary for the HTTP rows (omit: embedded only)")
    ap.add_argument("--calls", type=int, default=20_000, help="decorated calls per row")
    ap.add_argument("--runs", type=int, default=50_000, help="runs per row (one at a time: a tenth)")
    args = ap.parse_args()

    setups = [
        ("embedded, fsync never", lambda: LocalDir("never")),
        ("embedded, fsync always", lambda: LocalDir("always")),
    ]
    if args.server_bin:
        setups += [
            ("HTTP, server fsync never", lambda: HttpServer(args.server_bin, "never")),
            ("HTTP, server fsync always", lambda: HttpServer(args.server_bin, "always")),
        ]
    print(f"python {sys.version.split()[0]}, mltrace {mltrace.__version__}, "
          f"load {open('/proc/loadavg').read().split()[:3]}")
    print("| store | mode | decorator overhead, µs/call (CPU µs) | runs/s (CPU µs/run) |")
    print("|---|---|---|---|")
    for label, make in setups:
        for batching in (False, True):
            store = make()
            try:
                use(store, batching)
                # one at a time with fsync always is bounded by the disk: fewer runs
                scale = 1 if batching else 10
                if "always" in label and not batching:
                    scale = 50
                overhead = decorator_overhead(max(200, args.calls // scale))
                rate = runs_per_second(max(200, args.runs // scale))
            finally:
                _batch.reset()
                store.close()
            mode = "batching" if batching else "one at a time"
            print(f"| {label} | {mode} | {overhead[0]:,.1f} ({overhead[1]:,.1f}) "
                  f"| {rate[0]:,.0f} ({rate[1]:,.1f}) |", flush=True)


if __name__ == "__main__":
    main()
