"""Puts the results side by side: absolute numbers and ratios (how many times faster mltrace is).

Usage: python3 compare.py DIR   (reads DIR/*.json written by run.sh, prints a Markdown table)
"""

import json
import os
import sys


def load(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def q(r, op, key="p50_us"):
    try:
        return r["queries"][op][key]
    except (KeyError, TypeError):
        return None


def rate(r):
    try:
        return r["ingest"]["runs_per_s"]
    except (KeyError, TypeError):
        return None


def fmt_rate(x):
    return "n/a" if x is None else f"{x:,.0f} runs/s" if x >= 100 else f"{x:,.1f} runs/s"


def fmt_time(us):
    if us is None:
        return "n/a"
    if us >= 1e6:
        return f"{us / 1e6:,.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:,.2f} ms"
    return f"{us:,.1f} µs"


def ratio(ours, theirs, higher_is_better):
    if ours is None or theirs is None or ours == 0 or theirs == 0:
        return "n/a"
    x = ours / theirs if higher_is_better else theirs / ours
    return f"{x:,.0f}×" if x >= 10 else f"{x:,.1f}×"


def nodes(r, op):
    n = q(r, op, "mean_nodes")
    return "" if n is None else f" ({n:g} runs)"


def main():
    d = sys.argv[1]
    single = load(d, "mltrace-inproc-single.json")
    batch = load(d, "mltrace-inproc-batch.json")
    http = load(d, "mltrace-http-single.json")
    old = load(d, "mltrace017.json")
    mlflow = load(d, "mlflow.json")
    ours = http or single
    rows = []
    rows.append((
        "ingest, one run per call, fsync on (runs/s)",
        f"{fmt_rate(rate(single))} in-process" + (f"; {fmt_rate(rate(http))} HTTP" if http else ""),
        fmt_rate(rate(old)), fmt_rate(rate(mlflow)),
        ratio(rate(ours), rate(old), True), ratio(rate(ours), rate(mlflow), True),
    ))
    rows.append((
        "ingest, batches of 1,000, fsync on (runs/s)",
        fmt_rate(rate(batch)) + " in-process", "no batch API", "no batch API",
        ratio(rate(batch), rate(old), True), ratio(rate(batch), rate(mlflow), True),
    ))
    trace_old = q(old, "trace_full_db") or q(old, "trace_full")
    rows.append((
        "trace, whole lineage, p50",
        fmt_time(q(ours, "trace_full")) + nodes(single, "trace_full"),
        f"{fmt_time(trace_old)}{nodes(old, 'trace_full_db')} database layer; "
        f"{fmt_time(q(old, 'trace_full'))} client `backtrace`",
        "n/a",
        ratio(q(ours, "trace_full"), trace_old, False), "",
    ))
    rows.append((
        "trace, depth 10, p50",
        fmt_time(q(ours, "trace_d10")) + nodes(single, "trace_d10"),
        "no depth limit",
        fmt_time(q(mlflow, "trace_d10")) + nodes(mlflow, "trace_d10") + ", walked by the client",
        "", ratio(q(ours, "trace_d10"), q(mlflow, "trace_d10"), False),
    ))
    flagged = q(old, "review", "flagged")
    rows.append((
        f"review{f' of {flagged} flagged outputs' if flagged else ''}, p50",
        fmt_time(q(ours, "review")), fmt_time(q(old, "review")), "no flags",
        ratio(q(ours, "review"), q(old, "review"), False), "",
    ))
    hist_old = q(old, "history_db") or q(old, "history")
    rows.append((
        "history (10 latest runs of a component), p50",
        fmt_time(q(ours, "history")),
        f"{fmt_time(hist_old)} database layer; {fmt_time(q(old, 'history'))} client `get_history`",
        fmt_time(q(mlflow, "history")),
        ratio(q(ours, "history"), hist_old, False), ratio(q(ours, "history"), q(mlflow, "history"), False),
    ))
    runs = (single or {}).get("ingest", {}).get("runs")
    via = "over HTTP (one connection)" if http else "in-process"
    print(f"Same workload for all: {runs} runs of one pipeline, one client. mltrace queries {via}.\n")
    print("| measure | mltrace | mltrace 0.17 + PostgreSQL | MLflow + SQLite | × vs 0.17 | × vs MLflow |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
