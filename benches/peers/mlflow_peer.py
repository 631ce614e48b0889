"""Drives MLflow's tracking store on SQLite with the benchmark workload.

MLflow has no lineage of its own, so runs carry what a user would put there: the component as a
tag, inputs and outputs as JSON tags, and one tag per output (`out.<sha1 of the name>`, since tag
keys cannot hold `:`) so that "which run wrote this file" is an indexed tag lookup. A trace is then
what a user would write: a walk that, for every input of every run, asks for the latest run that
wrote it before that run started. Review has no equivalent (no flags) and is not measured.

Usage: python mlflow_peer.py --db sqlite:///path/mlflow.db --workload steps.ndjson --out result.json
"""

import argparse
import hashlib
import json
import logging
import os
import sys
import warnings

from common import ingest, measure, read_workload, targets

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

from mlflow.tracking import MlflowClient  # noqa: E402


def out_key(name):
    return "out." + hashlib.sha1(name.encode()).hexdigest()[:24]


class Peer:
    def __init__(self, uri):
        self.client = MlflowClient(tracking_uri=uri)
        self.exp = self.client.create_experiment("pipeline")

    def log_run(self, run):
        tags = {
            "mltrace.component": run["component"],
            "mlflow.source.git.commit": run.get("git_hash") or "",
            "mltrace.inputs": json.dumps([i["name"] for i in run["inputs"]]),
            "mltrace.outputs": json.dumps([o["name"] for o in run["outputs"]]),
        }
        for o in run["outputs"]:
            tags[out_key(o["name"])] = "1"
        r = self.client.create_run(self.exp, start_time=run["start"], tags=tags, run_name=run["component"])
        self.client.set_terminated(r.info.run_id, end_time=run["end"])

    def flag(self, name):
        pass  # MLflow has no flags.

    def producer(self, name, before=None):
        f = f"tags.`{out_key(name)}` = '1'"
        if before is not None:
            f += f" and attributes.start_time < {before}"
        runs = self.client.search_runs([self.exp], filter_string=f, order_by=["attributes.start_time DESC"], max_results=1)
        return runs[0] if runs else None

    def trace(self, output, max_depth=10):
        """Depth-first walk of latest producers, each run once, to max_depth."""
        root = self.producer(output)
        if root is None:
            return 0
        seen = {root.info.run_id}
        stack = [(root, 0)]
        while stack:
            run, depth = stack.pop()
            if depth >= max_depth:
                continue
            for name in json.loads(run.data.tags.get("mltrace.inputs", "[]")):
                dep = self.producer(name, before=run.info.start_time)
                if dep is not None and dep.info.run_id not in seen:
                    seen.add(dep.info.run_id)
                    stack.append((dep, depth + 1))
        return len(seen)

    def history(self, component):
        f = f"tags.`mltrace.component` = '{component}'"
        return len(self.client.search_runs([self.exp], filter_string=f, order_by=["attributes.start_time DESC"], max_results=10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-ingest-seconds", type=float, default=900)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--query-seconds", type=float, default=60)
    a = ap.parse_args()

    peer = Peer(a.db)
    steps = read_workload(a.workload)
    logged, ing = ingest(steps, peer.log_run, peer.flag, a.max_ingest_seconds)
    print(f"MLflow: logged {ing['runs']} runs at {ing['runs_per_s']} runs/s", file=sys.stderr)
    preds = targets(logged, "infer", "preds", a.queries)
    train = next(r["component"] for r in logged if r["component"].endswith(".train"))
    queries = {
        "trace_d10": measure(lambda o: peer.trace(o, 10), preds, a.queries, a.query_seconds),
        "history": measure(peer.history, [train] * a.queries, a.queries, a.query_seconds),
    }
    import mlflow

    result = {"system": f"MLflow {mlflow.__version__} tracking on SQLite", "ingest": ing, "queries": queries}
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
