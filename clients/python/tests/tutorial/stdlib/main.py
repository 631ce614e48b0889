"""main.py: the pipeline (tutorial style, original mltrace API, standard library).

    python main.py --mode training
    python main.py --mode inference
"""

import argparse
import os
import pickle
import random

from components import *

parser = argparse.ArgumentParser(description="Run inference.")
parser.add_argument("--mode", type=str, help="training or inference", const="inference", nargs="?")
args = parser.parse_args()


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def load_data(day_from: int, day_to: int):
    rng = random.Random(day_from * 1000 + day_to)
    rows = []
    for day in range(day_from, day_to + 1):
        for i in range(200):
            distance = rng.uniform(0.2, 12.0)
            fare = 3.0 + 2.5 * distance + rng.uniform(-1, 1) if rng.random() > 0.05 else 1.0
            rows.append({"id": f"{day}-{i}", "day": day, "distance": distance, "fare": fare,
                         "tip": fare * max(0.0, rng.gauss(0.18, 0.08))})
    return rows


@Cleaning().run(auto_log=True)
def clean_data(raw_data, min_fare: float = 2.5):
    """Removes rows with negligible fare amounts."""
    trip_data = [r for r in raw_data if r["fare"] > min_fare]
    return trip_data


@Featuregen().run(auto_log=True)
def featurize_data(trip_data, tip_fraction: float = 0.15):
    """Constructs features."""
    feature_data = [
        {"id": r["id"], "day": r["day"], "fare_per_mile": r["fare"] / r["distance"],
         "high_tip": r["tip"] / r["fare"] > tip_fraction}
        for r in trip_data
    ]
    return feature_data


@TrainTestSplit().run(auto_log=True)
def train_test_split(feature_data):
    feature_data = sorted(feature_data, key=lambda r: r["day"])
    cut = [r["day"] for r in feature_data].index(feature_data[-1]["day"])
    train_data, test_data = feature_data[:cut], feature_data[cut:]
    return train_data, test_data


def score(rows, model):
    preds = model.predict(rows)
    return {"accuracy": sum(p == r["high_tip"] for p, r in zip(preds, rows)) / len(rows)}


@Training().run(auto_log=True)
def train_model(train_data, test_data):
    model = ThresholdModel().fit(train_data)
    train_scores = score(train_data, model)
    test_scores = score(test_data, model)
    print("Train scores:", train_scores, "Test scores:", test_scores)
    with open("model.joblib", "wb") as f:
        pickle.dump(model, f)


@Inference().run(auto_log=True)
def inference(feature_data, model=load("model.joblib") if os.path.exists("model.joblib") else None):
    if not model:
        raise ValueError("Please run this pipeline in training mode first!")
    prediction_data = [dict(r, prediction=p) for r, p in zip(feature_data, model.predict(feature_data))]
    return prediction_data


if __name__ == "__main__":
    mode = args.mode if args.mode else "inference"
    print(f"Running the {mode} pipeline...")
    if mode == "training":
        features = featurize_data(clean_data(load_data(1, 3)))
        train_data, test_data = train_test_split(features)
        train_model(train_data, test_data)
    elif mode == "inference":
        predictions = inference(featurize_data(clean_data(load_data(4, 4))))
        print(f"{sum(r['prediction'] for r in predictions)} high tips predicted")
    else:
        print(f"Mode {mode} not supported.")
