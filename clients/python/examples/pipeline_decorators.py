"""A small taxi-tip pipeline instrumented with mltrace's decorators.

    ingest -> clean -> featuregen -> train            (training days)
    ingest -> clean -> featuregen -> infer (+ model)  (inference days)

Run it (with a server running: ``mltrace serve``)::

    python examples/pipeline_decorators.py --workdir /tmp/taxi

then look at the trace of a predictions file with ``mltrace trace`` or in the
UI. Works on Python 3.8+ with the standard library only.
"""

import argparse
import os
import sys
import urllib.parse

import mltrace
from mltrace import Component, Test

import taxi

# ------------------------------------------------------------------ tests


class RawFileTest(Test):
    """Before cleaning: the raw file is there and has a header and rows."""

    def __init__(self):
        super().__init__(name="raw file")

    def testFileExists(self, raw_path: str):
        if not os.path.exists(raw_path):
            raise FileNotFoundError(raw_path)

    def testHasRows(self, raw_path: str, min_rows: int = 10):
        with open(raw_path, encoding="utf-8") as f:
            n = sum(1 for _ in f) - 1
        if n < min_rows:
            raise ValueError(f"{raw_path} has only {n} rows")


class CleanRowsTest(Test):
    """After cleaning: rows left, no bad fares."""

    def testNotEmpty(self, cleaned):
        assert cleaned, "cleaning dropped every row"

    def testFaresPositive(self, cleaned, min_fare: float = 2.5):
        bad = [r["trip_id"] for r in cleaned if float(r["fare_amount"]) < min_fare]
        assert not bad, f"{len(bad)} rows with fare below {min_fare}"


class FeatureRangeTest(Test):
    """After featuregen: every feature is a finite number."""

    def testFinite(self, features):
        for row in features:
            for k in taxi.FEATURES:
                v = row[k]
                if v != v or v in (float("inf"), float("-inf")):
                    raise ValueError(f"feature {k} is not finite in {row['trip_id']}")


class ModelQualityTest(Test):
    """After training: the model beats a floor on held-out rows."""

    def testAccuracy(self, test_accuracy: float, min_accuracy: float = 0.55):
        if test_accuracy < min_accuracy:
            raise AssertionError(f"test accuracy {test_accuracy:.3f} < {min_accuracy}")


class PredictionRangeTest(Test):
    """After inference: probabilities are in [0, 1]."""

    def testProbabilities(self, scores):
        assert all(0.0 <= s <= 1.0 for s in scores), "a probability outside [0, 1]"


# ------------------------------------------------------------------ components
# (mltrace 0.17 style: subclasses carrying metadata and tests)


class Ingest(Component):
    def __init__(self, beforeTests=[], afterTests=[]):
        super().__init__(name="ingest", owner="data-eng", description="Lands the day's raw trips as CSV",
                         tags=["taxi", "etl"], beforeTests=beforeTests, afterTests=afterTests)


class Cleaning(Component):
    def __init__(self, beforeTests=[RawFileTest], afterTests=[CleanRowsTest]):
        super().__init__(name="clean", owner="plumber", description="Drops broken rides",
                         tags=["taxi", "etl"], beforeTests=beforeTests, afterTests=afterTests)


class Featuregen(Component):
    def __init__(self, beforeTests=[], afterTests=[FeatureRangeTest]):
        super().__init__(name="featuregen", owner="spark-gymnast",
                         description="Features and label for high-tip prediction",
                         tags=["taxi", "etl"], beforeTests=beforeTests, afterTests=afterTests)


class Training(Component):
    def __init__(self, beforeTests=[], afterTests=[ModelQualityTest]):
        super().__init__(name="train", owner="personal-trainer",
                         description="Logistic regression for high-tip prediction",
                         tags=["taxi", "ml"], beforeTests=beforeTests, afterTests=afterTests)


class Inference(Component):
    def __init__(self, beforeTests=[], afterTests=[PredictionRangeTest]):
        super().__init__(name="infer", owner="sherlock-holmes", description="Predicts high-tip probability",
                         tags=["taxi", "ml"], beforeTests=beforeTests, afterTests=afterTests)


# Instances, so that the decorators below also parse on Python 3.8
# (``@Cleaning().run(...)`` needs Python 3.9's relaxed decorator syntax).
ingest_c, cleaning_c, featuregen_c = Ingest(), Cleaning(), Featuregen()
training_c, inference_c = Training(), Inference()

# ------------------------------------------------------------------ steps


@ingest_c.run(output_vars=["raw_path"])
def ingest(workdir: str, day: str) -> str:
    raw_path = os.path.join(workdir, "raw", f"trips_{day}.csv")
    taxi.generate_trips(raw_path, day)
    return raw_path


@cleaning_c.run(input_vars=["raw_path"], output_vars=["clean_path"])
def clean(raw_path: str, workdir: str) -> str:
    rows = taxi.read_csv(raw_path)
    cleaned = taxi.clean_rows(rows)
    clean_path = os.path.join(workdir, "clean", os.path.basename(raw_path))
    taxi.write_csv(clean_path, cleaned, list(rows[0].keys()))
    return clean_path


@featuregen_c.run(input_vars=["clean_path"], output_vars=["features_path"])
def featuregen(clean_path: str, workdir: str, tip_fraction: float = 0.18) -> str:
    features = taxi.featurize(taxi.read_csv(clean_path), tip_fraction)
    features_path = os.path.join(workdir, "features", os.path.basename(clean_path))
    taxi.write_csv(features_path, features, taxi.FEATURE_COLUMNS)
    return features_path


@training_c.run(input_vars=["features_paths"])
def train(features_paths: list, workdir: str) -> str:
    rows = [r for p in features_paths for r in taxi.read_features(p)]
    train_rows, test_rows = taxi.split(rows)
    model = taxi.train_logistic(train_rows)
    test_accuracy = taxi.accuracy(model, test_rows)
    print(f"  train: {len(train_rows)} rows, held-out accuracy {test_accuracy:.3f}")
    # mltrace.save logs the file as an output of this run, with a content hash
    model_path = mltrace.save(model, os.path.join(workdir, "model", "model.pkl"))
    return model_path


@inference_c.run(input_vars=["features_path"], output_vars=["predictions_path"])
def infer(features_path: str, model_path: str, workdir: str) -> str:
    model = mltrace.load(model_path)  # logged as an input: links this run to training
    rows = taxi.read_features(features_path)
    scores = taxi.predict(model, rows)
    predictions_path = os.path.join(workdir, "predictions", os.path.basename(features_path))
    out = [{"trip_id": r["trip_id"], "high_tip_probability": round(s, 4)} for r, s in zip(rows, scores)]
    taxi.write_csv(predictions_path, out, ["trip_id", "high_tip_probability"])
    return predictions_path


# ------------------------------------------------------------------ pipeline


def run_pipeline(workdir: str, train_days, infer_days):
    features = []
    for day in train_days:
        print(f"training data {day}")
        features.append(featuregen(clean(ingest(workdir, day), workdir), workdir))
    model_path = train(features, workdir)
    predictions = []
    for day in infer_days:
        print(f"inference {day}")
        predictions.append(infer(featuregen(clean(ingest(workdir, day), workdir), workdir),
                                 model_path, workdir))
    return model_path, predictions


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="mltrace-example", help="where the CSV files go")
    p.add_argument("--server", help="mltrace server (default: MLTRACE_SERVER, DB_SERVER or 127.0.0.1:8080)")
    p.add_argument("--train-days", nargs="+", default=["2024-01-01", "2024-01-02"])
    p.add_argument("--infer-days", nargs="+", default=["2024-01-03", "2024-01-04"])
    args = p.parse_args(argv)
    if args.server:
        mltrace.set_address(args.server)
    model_path, predictions = run_pipeline(args.workdir, args.train_days, args.infer_days)
    server = mltrace.get_db_uri()
    print(f"\nlogged to {server}. The model: {model_path}")
    for path in predictions:
        print(f"  mltrace trace {path}")
    print(f"  or open {server}/trace/{urllib.parse.quote(predictions[-1], safe='')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
