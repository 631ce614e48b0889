"""The same taxi-tip pipeline as ``pipeline_decorators.py``, logged with the
explicit API: a ``ComponentRun`` per step, ``log_component_run`` at the end.

    python examples/pipeline_explicit.py --workdir /tmp/taxi-explicit

Use this style when a step is not one Python function (a shell command, a
notebook cell, a job whose inputs are only known at run time).
"""

import argparse
import os
import sys

import mltrace
from mltrace import ComponentRun, create_component, get_git_hash, get_git_tags, log_component_run

import taxi


def start_run(component: str) -> ComponentRun:
    cr = ComponentRun(component)
    cr.set_start_timestamp()
    cr.git_hash = get_git_hash()  # the git hash; not the code snapshot
    cr.git_tags = get_git_tags()
    return cr


def register_components() -> None:
    create_component("ingest", "Lands the day's raw trips as CSV", "data-eng", ["taxi", "etl"])
    create_component("clean", "Drops broken rides", "plumber", ["taxi", "etl"])
    create_component("featuregen", "Features and label for high-tip prediction", "spark-gymnast",
                     ["taxi", "etl"])
    create_component("train", "Logistic regression for high-tip prediction", "personal-trainer",
                     ["taxi", "ml"])
    create_component("infer", "Predicts high-tip probability", "sherlock-holmes", ["taxi", "ml"])


def ingest(workdir: str, day: str) -> str:
    cr = start_run("ingest")
    raw_path = os.path.join(workdir, "raw", f"trips_{day}.csv")
    taxi.generate_trips(raw_path, day)
    cr.set_end_timestamp()
    cr.add_output(raw_path)
    log_component_run(cr)
    return raw_path


def clean(raw_path: str, workdir: str) -> str:
    cr = start_run("clean")
    cr.add_input(raw_path)
    rows = taxi.read_csv(raw_path)
    cleaned = taxi.clean_rows(rows)
    clean_path = os.path.join(workdir, "clean", os.path.basename(raw_path))
    taxi.write_csv(clean_path, cleaned, list(rows[0].keys()))
    cr.set_end_timestamp()
    cr.add_output(clean_path)
    cr.notes = f"kept {len(cleaned)} of {len(rows)} rows"
    log_component_run(cr)
    return clean_path


def featuregen(clean_path: str, workdir: str) -> str:
    cr = start_run("featuregen")
    cr.add_input(clean_path)
    features = taxi.featurize(taxi.read_csv(clean_path))
    features_path = os.path.join(workdir, "features", os.path.basename(clean_path))
    taxi.write_csv(features_path, features, taxi.FEATURE_COLUMNS)
    cr.set_end_timestamp()
    cr.add_output(features_path)
    log_component_run(cr)
    return features_path


def train(features_paths, workdir: str) -> str:
    cr = start_run("train")
    cr.add_inputs(features_paths)
    rows = [r for p in features_paths for r in taxi.read_features(p)]
    train_rows, test_rows = taxi.split(rows)
    model = taxi.train_logistic(train_rows)
    acc = taxi.accuracy(model, test_rows)
    model_path = os.path.join(workdir, "model", "model.json")
    taxi.save_json(model_path, model)
    cr.set_end_timestamp()
    cr.add_output(model_path)
    cr.add_test_result("accuracy >= 0.55", "after", acc >= 0.55, f"held-out accuracy {acc:.3f}")
    log_component_run(cr)
    print(f"  train: {len(train_rows)} rows, held-out accuracy {acc:.3f} (run {cr.id})")
    return model_path


def infer(features_path: str, model_path: str, workdir: str) -> str:
    cr = start_run("infer")
    cr.add_inputs([features_path, model_path])
    model = taxi.load_json(model_path)
    rows = taxi.read_features(features_path)
    scores = taxi.predict(model, rows)
    predictions_path = os.path.join(workdir, "predictions", os.path.basename(features_path))
    out = [{"trip_id": r["trip_id"], "high_tip_probability": round(s, 4)} for r, s in zip(rows, scores)]
    taxi.write_csv(predictions_path, out, ["trip_id", "high_tip_probability"])
    cr.set_end_timestamp()
    cr.add_output(predictions_path)
    log_component_run(cr)
    if cr.stale:
        print("  stale:", *cr.stale, sep="\n    ")
    return predictions_path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="mltrace-example-explicit")
    p.add_argument("--server", help="mltrace server (default: MLTRACE_SERVER, DB_SERVER or 127.0.0.1:8080)")
    p.add_argument("--train-days", nargs="+", default=["2024-01-01", "2024-01-02"])
    p.add_argument("--infer-days", nargs="+", default=["2024-01-03", "2024-01-04"])
    args = p.parse_args(argv)
    if args.server:
        mltrace.set_address(args.server)
    register_components()
    w = args.workdir
    features = []
    for day in args.train_days:
        print(f"training data {day}")
        features.append(featuregen(clean(ingest(w, day), w), w))
    model_path = train(features, w)
    predictions = []
    for day in args.infer_days:
        print(f"inference {day}")
        predictions.append(infer(featuregen(clean(ingest(w, day), w), w), model_path, w))
    server = mltrace.get_db_uri()
    print(f"\nlogged to {server}. Try:")
    for path in predictions:
        print(f"  mltrace trace {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
