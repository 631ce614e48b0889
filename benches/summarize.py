"""Turns the JSON of benches/run.sh into the Markdown tables of BENCHMARKS.md.

Usage: python3 benches/summarize.py target/bench-results
"""

import json
import os
import sys

d = sys.argv[1]


def load(name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        text = f.read()
    return json.loads(text) if text.strip() else None


def get(obj, *path):
    for k in path:
        if obj is None:
            return None
        obj = obj.get(k) if isinstance(obj, dict) else None
    return obj


def num(x, unit=""):
    if x is None:
        return "—"
    if isinstance(x, float) and x < 100:
        return f"{x:,.1f}{unit}"
    return f"{x:,.0f}{unit}"


def us(x):
    if x is None:
        return "—"
    if x >= 1000:
        return f"{x / 1000:,.2f} ms"
    return f"{x:,.1f} µs"


def mib(x):
    return "—" if x is None else f"{x / 2**20:,.0f} MiB"


scales = sorted(
    {int(f.split("-")[1]) for f in os.listdir(d) if f.startswith("inproc-") and f.split("-")[1].isdigit()}
)
big = 1_000_000 if 1_000_000 in scales else (scales[-1] if scales else None)
ip = load(f"inproc-{big}-c2.json")
ip1 = load(f"inproc-{big}-c1.json")
hb = load(f"http-{big}-batch.json")
hs = load("http-single.json")
ten = load("inproc-10000000-c2.json")


def check(value, target, lower_is_better):
    if value is None:
        return "not measured"
    ok = value <= target if lower_is_better else value >= target
    return "**met**" if ok else "not met"


rows = []


def row(what, value, shown, target, target_text, lower):
    rows.append((what, shown, target_text, check(value, target, lower)))


best_ingest = max(filter(None, [get(ip, "ingest", "runs_per_s"), get(ip1, "ingest", "runs_per_s")]), default=None)
row(f"ingest in-process, batches of 1,000, fsync always ({big:,} runs; best of 1 and 2 writers)", best_ingest,
    f"{num(get(ip1, 'ingest', 'runs_per_s'))} runs/s (1 writer), {num(get(ip, 'ingest', 'runs_per_s'))} runs/s (2)",
    500_000, "≥ 500,000 runs/s", False)
row(f"ingest over HTTP, batches of 1,000, 4 connections ({big:,} runs)", get(hb, "ingest", "runs_per_s"),
    f"{num(get(hb, 'ingest', 'runs_per_s'))} runs/s", 200_000, "≥ 200,000 runs/s", False)
row("ingest over HTTP, single-run POSTs, 64 connections", get(hs, "ingest", "runs_per_s"),
    f"{num(get(hs, 'ingest', 'runs_per_s'))} runs/s", 20_000, "≥ 20,000 runs/s", False)
rep = get(ip, "open", "replay", "events_per_s")
row(f"replay (open without checkpoint, {big:,} runs)", rep, f"{num(rep)} events/s", 2_000_000, "≥ 2,000,000 events/s",
    False)
v = get(ip, "queries", "lineage_d10", "p50_us")
row(f"trace, depth-10 lineage, in-process, p50 ({num(get(ip, 'queries', 'lineage_d10', 'mean_nodes'))} runs)", v,
    us(v), 50, "< 50 µs", True)
v = get(hb, "queries", "trace_d10", "p99_us")
row("trace, depth 10, over HTTP (with run summaries), p99", v, us(v), 2000, "< 2 ms", True)
v = get(ip, "queries", "review", "p50_us")
row(f"review of {get(ip, 'queries', 'review', 'flagged')} flagged, in-process, p50", v, us(v), 20_000, "< 20 ms", True)
v = get(hb, "queries", "review", "p50_us")
row("review of ~1,000 flagged, over HTTP, p50", v, us(v), 50_000, "< 50 ms", True)
v = get(ip, "open", "replay", "resident_bytes_per_run")
row("resident memory per run (store opened in a fresh process)", v, f"{num(v)} bytes", 300, "< 300 bytes", True)
if ten:
    v = get(ten, "open", "with_checkpoint", "seconds")
    row("10M runs: open with a checkpoint", v, f"{num(v)} s", 5, "< 5 s", True)
    v = get(ten, "open", "replay", "seconds")
    row("10M runs: open by full replay", v, f"{num(v)} s", 30, "< 30 s", True)
    v = get(ten, "queries", "trace_d10", "p99_us")
    row("10M runs: trace depth 10 with summaries, in-process, p99", v, us(v), 10_000, "< 10 ms", True)
    v = get(ten, "open", "replay", "memory_after", "rss_bytes")
    row("10M runs: resident memory after open", v, mib(v), 3 * 2**30, "< 3 GB", True)

print("### Targets\n")
print("| target | measured | goal | status |")
print("|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")

print("\n### Load generator, every scale\n")
print("| scale | mode | ingest runs/s | request p50 / p99 | replay events/s | open with checkpoint | "
      "resident B/run | disk B/run |")
print("|---|---|---|---|---|---|---|---|")
files = [(f"inproc-{n}-c1.json", n, "in-process, 1 writer") for n in scales]
files += [(f"inproc-{n}-c2.json", n, "in-process, 2 writers") for n in scales]
files += [(f"http-{n}-batch.json", n, "HTTP, batches, 4 conns") for n in scales]
files += [("http-single.json", None, "HTTP, single runs, 64 conns")]
files += [("inproc-single-always.json", None, "in-process, single runs, fsync always, 2 writers")]
files += [("inproc-single-never.json", None, "in-process, single runs, fsync never")]
for name, n, mode in files:
    r = load(name)
    if not r:
        continue
    ing = r["ingest"]
    lat = ing["request_latency"]
    res = get(r, "open", "replay", "resident_bytes_per_run") or get(r, "server_memory", "resident_bytes_per_run")
    rep = get(r, "open", "replay", "events_per_s")
    ck = get(r, "open", "with_checkpoint", "seconds")
    http_open = get(r, "open", "seconds_until_healthy")
    print(f"| {ing['runs']:,} | {mode} | {num(ing['runs_per_s'])} | {us(lat['p50_us'])} / {us(lat['p99_us'])} | "
          f"{num(rep) if rep else (f'restart {http_open} s' if http_open else '—')} | "
          f"{f'{ck} s' if ck is not None else '—'} | {num(res)} | {num(get(r, 'disk', 'bytes_per_run'))} |")

print("\n### Queries (p50 / p99; mean runs in the answer)\n")
ops = ["lineage_d10", "lineage_full", "lineage_d10_as_of", "trace_d10", "trace_full", "downstream", "review",
       "history", "recent"]
cols = [(f"inproc-{n}-c2.json", f"in-process {n:,}") for n in scales]
cols += [(f"http-{n}-batch.json", f"HTTP {n:,}") for n in scales]
cols = [(load(f), label) for f, label in cols if load(f)]
print("| query | " + " | ".join(label for _, label in cols) + " |")
print("|---|" + "---|" * len(cols))
for op in ops:
    cells = []
    for r, _ in cols:
        q = get(r, "queries", op)
        if not q:
            cells.append("—")
            continue
        size = f" ({q['mean_nodes']:g})" if "mean_nodes" in q else ""
        cells.append(f"{us(q['p50_us'])} / {us(q['p99_us'])}{size}")
    print(f"| {op} | " + " | ".join(cells) + " |")

crit = os.path.join(d, "criterion.txt")
if os.path.exists(crit):
    print("\n### Criterion (median of the estimate)\n")
    print("| benchmark | time | throughput |")
    print("|---|---|---|")
    name = None
    lines = open(crit).read().split("\n")
    cur = {}
    order = []
    for line in lines:
        s = line.strip()
        if not s or "%" in s:  # criterion's comparison with the previous run
            continue
        if "time:" in s:
            head, _, rest = s.partition("time:")
            if head.strip():
                name = head.strip()
            vals = rest.strip().strip("[]").split()
            cur.setdefault(name, {})["time"] = " ".join(vals[2:4])
            order.append(name)
        elif "thrpt:" in s:
            vals = s.partition("thrpt:")[2].strip().strip("[]").split()
            cur.setdefault(name, {})["thrpt"] = " ".join(vals[2:4])
        else:
            name = s
    for n in order:
        print(f"| {n} | {cur[n].get('time', '')} | {cur[n].get('thrpt', '')} |")
