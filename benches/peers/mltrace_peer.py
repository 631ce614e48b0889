"""Drives mltrace 0.17 (the original, from PyPI) on PostgreSQL with the benchmark workload.

What it needs, learnt the hard way:
- mltrace 0.17 accepts only `postgresql://` URIs.
- On Python 3.11 its client entities lose their properties (`to_dictionary()` answers `{}`): its
  `Base.__getattribute__` calls `__get__` on a bound classmethod, which now rebinds it to the
  instance. The shim below restores plain attribute lookup; properties work natively. Its database
  code is untouched.
- A component must exist before its first run (else a foreign-key error): they are all created
  before the timed ingest.
- Inputs and outputs go in as IOPointer objects: a plain string stores its type as its value, and
  flagging it by name then fails. 0.17 has no versioned lineage (dependencies follow the name only),
  so content hashes are not sent.
- 0.17 rejects a run that reads and writes the same name ("circular dependency": it resolves the
  input to the run itself). The workload's warm-start training does that (it reads the previous
  version of `model.pkl` and writes the next), so for 0.17 that input is left out. Its traces are
  therefore shorter than the others' (see `mean_nodes`), which only flatters it.

Usage: python mltrace_peer.py --db postgresql://... --workload steps.ndjson --out result.json
"""

import argparse
import datetime
import json
import logging
import sys
import time

from common import ingest, measure, read_workload, targets

logging.disable(logging.WARNING)

import mltrace  # noqa: E402
from mltrace.entities import base as _entity_base  # noqa: E402

_entity_base.Base.__getattribute__ = lambda self, attr: object.__getattribute__(self, attr)

from mltrace.db import PointerTypeEnum, Store  # noqa: E402
from mltrace.entities import ComponentRun, IOPointer  # noqa: E402


def kind(name):
    lower = name.lower()
    if "model" in lower or lower.endswith(".pkl"):
        return PointerTypeEnum.MODEL
    return PointerTypeEnum.DATA


def when(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).replace(tzinfo=None)


def log_run(run):
    cr = ComponentRun(
        run["component"],
        start_timestamp=when(run["start"]),
        end_timestamp=when(run["end"]),
        git_hash=run.get("git_hash"),
    )
    written = {o["name"] for o in run["outputs"]}
    inputs = [i for i in run["inputs"] if i["name"] not in written]
    cr.add_inputs([IOPointer(i["name"], pointer_type=kind(i["name"])) for i in inputs])
    cr.add_outputs([IOPointer(o["name"], pointer_type=kind(o["name"])) for o in run["outputs"]])
    mltrace.log_component_run(cr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-ingest-seconds", type=float, default=900)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--query-seconds", type=float, default=60)
    a = ap.parse_args()

    mltrace.set_db_uri(a.db)
    mltrace.clean_db()
    steps = read_workload(a.workload)
    components = sorted({v["component"] for k, v in steps if k == "run"})
    for c in components:
        mltrace.create_component(c, "", "")

    logged, ing = ingest(steps, log_run, mltrace.flag_output_id, a.max_ingest_seconds)
    print(f"mltrace 0.17: logged {ing['runs']} runs at {ing['runs_per_s']} runs/s", file=sys.stderr)

    preds = targets(logged, "infer", "preds", a.queries)
    train = next(c for c in components if c.endswith(".train"))
    # Two levels of 0.17: its client functions (what a user calls: they also copy every ORM object
    # they return, which is most of their time) and its database layer alone (`Store`), which is
    # the fairer comparison and the one the ratios use.
    db = Store(a.db)
    queries = {
        # 0.17's trace has no depth limit and no visited set: the whole lineage, as a tree.
        "trace_full": measure(
            lambda o: len({cr.id for _, cr in mltrace.backtrace(o)}), preds, a.queries, a.query_seconds
        ),
        "trace_full_db": measure(lambda o: len({cr.id for _, cr in db.trace(o)}), preds, a.queries, a.query_seconds),
        "history_db": measure(
            lambda c: len(db.get_history(c, limit=10)), [train] * a.queries, a.queries, a.query_seconds
        ),
        "review": measure(
            lambda _: len(mltrace.review_flagged_outputs()[1]), [None] * 5, 5, a.query_seconds
        ),
        "history": measure(
            lambda c: len(mltrace.get_history(c, limit=10)), [train] * a.queries, a.queries, a.query_seconds
        ),
    }
    queries["review"]["flagged"] = len(mltrace.review_flagged_outputs()[0])
    result = {"system": "mltrace 0.17 on PostgreSQL", "ingest": ing, "queries": queries}
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
