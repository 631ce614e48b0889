"""Shared by the peer drivers: the workload (NDJSON from `loadgen dump`) and latency summaries.

Every driver logs the same runs, in the same order, with the same names, times and flags as
mltrace's own load generator, and measures the same queries on the same kind of targets.
"""

import json
import math
import random
import time


def read_workload(path):
    """Steps in order: ("run", run dict) or ("flag", output name)."""
    steps = []
    with open(path) as f:
        for line in f:
            obj = json.loads(line)
            if "run" in obj:
                steps.append(("run", obj["run"]))
            else:
                steps.append(("flag", obj["flag"]))
    return steps


def summary(samples_s):
    """Nearest-rank percentiles in microseconds, as loadgen reports them."""
    xs = sorted(samples_s)
    if not xs:
        return {"count": 0}

    def at(q):
        rank = min(max(math.ceil(q * len(xs)), 1), len(xs))
        return round(xs[rank - 1] * 1e6, 1)

    return {
        "count": len(xs),
        "mean_us": round(sum(xs) / len(xs) * 1e6, 1),
        "p50_us": at(0.5),
        "p90_us": at(0.9),
        "p99_us": at(0.99),
        "max_us": at(1.0),
    }


def measure(op, targets, max_count, max_seconds):
    """Runs op(target) over targets, bounded in count and time; returns summary plus mean size."""
    samples, sizes = [], []
    until = time.monotonic() + max_seconds
    for t in targets[:max_count]:
        t0 = time.perf_counter()
        size = op(t)
        samples.append(time.perf_counter() - t0)
        if size is not None:
            sizes.append(size)
        if time.monotonic() >= until:
            break
    out = summary(samples)
    if sizes:
        out["mean_nodes"] = round(sum(sizes) / len(sizes), 1)
    return out


def ingest(steps, log_run, flag, max_seconds):
    """Logs the runs one at a time (flags untimed, as loadgen does); bounded in time."""
    lat, flag_lat, logged = [], [], []
    started = time.monotonic()
    busy = 0.0
    for kind, value in steps:
        if kind == "flag":
            t0 = time.perf_counter()
            flag(value)
            flag_lat.append(time.perf_counter() - t0)
            continue
        t0 = time.perf_counter()
        log_run(value)
        d = time.perf_counter() - t0
        busy += d
        lat.append(d)
        logged.append(value)
        if time.monotonic() - started > max_seconds:
            break
    return logged, {
        "runs": len(logged),
        "seconds": round(busy, 3),
        "runs_per_s": round(len(logged) / busy, 1) if busy else 0,
        "request_latency": summary(lat),
        "flag_latency": summary(flag_lat),
    }


def targets(logged, component_suffix, stage, n, seed=7):
    """Random outputs of `stage` files (e.g. preds) among the logged runs."""
    names = [o["name"] for r in logged for o in r["outputs"] if f"/{stage}/" in o["name"]]
    rng = random.Random(seed)
    return [rng.choice(names) for _ in range(n)] if names else []
