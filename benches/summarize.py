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

# Issue 11's targets: shares of the disk's limit measured in the same run, and ratios between modes.
lim = get(ip, "limit")
lq, lr = load("lineage-quiet.json"), load("lineage-reader.json")


def ratio(a, b):
    return None if a is None or not b else a / b


ingest_share = ratio(get(ip, "ingest", "runs_per_s"), get(lim, "append", "records_per_s"))
ingest1_share = ratio(get(ip1, "ingest", "runs_per_s"), get(lim, "append", "records_per_s"))
replay = get(ip, "open", "replay", "events_per_s")
read_limit = get(lim, "read", "records_per_s")
replay_share = ratio(replay, read_limit)
replay_goal = min(3_000_000, 0.5 * read_limit) if read_limit else 3_000_000
http_share = ratio(get(hb, "ingest", "runs_per_s"), get(ip, "ingest", "runs_per_s"))
lineage_ratio = ratio(get(lr, "ingest", "runs_per_s"), get(lq, "ingest", "runs_per_s"))
rss = get(ip, "open", "replay", "resident_bytes_per_run")
single = get(hs, "ingest", "runs_per_s")
single_p99 = get(hs, "ingest", "request_latency", "p99_us")


def pct(x):
    return "—" if x is None else f"{x * 100:.1f}%"


shares = [
    (f"in-process ingest, 2 writers, {big:,} runs, vs raw durable append of its log",
     f"{num(get(ip, 'ingest', 'runs_per_s'))} vs {num(get(lim, 'append', 'records_per_s'))} records/s "
     f"(1 writer: {pct(ingest1_share)})", pct(ingest_share), "≥ 30%", check(ingest_share, 0.30, False)),
    (f"replay at open, {big:,} runs, vs raw read-and-crc32 of the same records", f"{num(replay)} vs {num(read_limit)} "
     "events/s", pct(replay_share), f"≥ {num(replay_goal)} events/s (50% of the read, at most 3M)",
     check(replay, replay_goal, False)),
    (f"HTTP batches of 1,000, 4 connections, vs in-process ingest ({big:,} runs)",
     f"{num(get(hb, 'ingest', 'runs_per_s'))} vs {num(get(ip, 'ingest', 'runs_per_s'))} runs/s", pct(http_share),
     "≥ 60%", check(http_share, 0.60, False)),
    ("HTTP single-run POSTs, 64 connections", f"{num(single)} runs/s, p99 {us(single_p99)}", "—",
     "≥ 50,000 runs/s, p99 < 5 ms",
     check(single, 50_000, False) if single_p99 is None or single_p99 < 5000 else "not met (p99)"),
    (f"resident memory per run after open ({big:,} runs)", f"{num(rss)} B", "—", "< 200 B", check(rss, 199.5, True)),
    ("ingest with a reader tracing a 100,000-run lineage in a loop, vs without",
     f"{num(get(lr, 'ingest', 'runs_per_s'))} vs {num(get(lq, 'ingest', 'runs_per_s'))} runs/s "
     f"({get(lr, 'chain', 'trace_loop', 'traces')} traces, p50 {us(get(lr, 'chain', 'trace_loop', 'latency', 'p50_us'))})",
     pct(lineage_ratio), "≥ 90%", check(lineage_ratio, 0.90, False)),
]
print("### Shares of the limit, measured in this run\n")
print(f"Limit: the log's own {num(get(lim, 'append', 'records'))} records "
      f"({num(get(lim, 'append', 'bytes'))} bytes), appended raw with one fdatasync per "
      f"{num(get(lim, 'records_per_sync'))} records in {get(lim, 'append', 'seconds')} s "
      f"({get(lim, 'append', 'mib_per_s')} MiB/s), read back with a crc32 of each in "
      f"{get(lim, 'read', 'seconds')} s ({get(lim, 'read', 'mib_per_s')} MiB/s).\n")
print("| measure | figures | share | goal | status |")
print("|---|---|---|---|---|")
for r in shares:
    print("| " + " | ".join(r) + " |")
loads = os.path.join(d, "load.txt")
if os.path.exists(loads):
    print("\nLoad average (1, 5, 15 min) before each step:\n")
    print("```")
    print(open(loads).read().rstrip())
    print("```")
print()


def kv(x, digits=3):
    return "na" if x is None else (f"{x:.{digits}f}" if isinstance(x, float) else str(x))


machine = open(os.path.join(d, "machine.txt")).read().split("\n") if os.path.exists(os.path.join(d, "machine.txt")) else []
commit = machine[3].strip() if len(machine) > 3 else "na"
load_avg = "na"
if os.path.exists(loads):
    firsts = [float(l.split()[-3]) for l in open(loads) if l.strip()]
    load_avg = f"{min(firsts):.1f}-{max(firsts):.1f}" if firsts else "na"
summary = (f"SUMMARY commit={commit} runs={big} ingest_share={kv(ingest_share)} ingest1_share={kv(ingest1_share)} "
           f"replay_share={kv(replay_share)} replay_eps={kv(replay, 0)} http_batch_share={kv(http_share)} "
           f"single_rps={kv(single, 0)} single_p99_ms={kv(None if single_p99 is None else single_p99 / 1000, 2)} "
           f"rss_b_per_run={kv(rss)} lineage_reader_ratio={kv(lineage_ratio)} "
           f"append_limit_rps={kv(get(lim, 'append', 'records_per_s'), 0)} read_limit_rps={kv(read_limit, 0)} "
           f"load={load_avg}")

print("### Absolute targets of the first benchmark issue (machine-dependent)\n")
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

print()
print(summary)
