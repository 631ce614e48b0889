"""The pipeline's logic, without any mltrace: a tiny "will this taxi ride get
a high tip?" model over a CSV of synthetic trips. Standard library only.

Both example pipelines (``pipeline_decorators.py`` and ``pipeline_explicit.py``)
import these functions and add mltrace logging around them.
"""

import csv
import json
import math
import os
import random
from datetime import datetime, timedelta
from typing import Dict, List, Sequence, Tuple

FEATURES = ["trip_distance", "passenger_count", "pickup_hour", "work_hours", "fare_per_mile"]
LABEL = "high_tip"

Row = Dict[str, str]


def generate_trips(path: str, day: str, n: int = 400, seed: int = 0) -> int:
    """Writes ``n`` synthetic taxi trips of ``day`` (YYYY-MM-DD) to a CSV;
    returns the number of rows. About 3% of the rows are broken on purpose."""
    rng = random.Random(f"{day}-{seed}")
    start = datetime.strptime(day, "%Y-%m-%d")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["trip_id", "pickup_datetime", "trip_distance", "passenger_count",
                    "fare_amount", "tip_amount"])
        for i in range(n):
            pickup = start + timedelta(minutes=rng.randrange(24 * 60))
            distance = round(rng.lognormvariate(0.8, 0.7), 2)
            fare = round(3.0 + 2.5 * distance + rng.uniform(-1, 1), 2)
            work = 8 <= pickup.hour <= 18 and pickup.weekday() < 5
            tip_rate = max(0.0, rng.gauss(0.22 if work else 0.12, 0.06) + 0.01 * distance)
            tip = round(fare * tip_rate, 2)
            passengers = rng.choice([1, 1, 1, 2, 2, 3, 4])
            if rng.random() < 0.03:  # broken rows the cleaning step must drop
                fare = rng.choice([-5.0, 0.0])
            w.writerow([f"{day}-{i:05d}", pickup.isoformat(), distance, passengers, fare, tip])
    return n


def read_csv(path: str) -> List[Row]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: str, rows: Sequence[Row], columns: Sequence[str]) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(columns))
        w.writeheader()
        for r in rows:
            w.writerow({c: r[c] for c in columns})


def clean_rows(rows: Sequence[Row], min_fare: float = 2.5) -> List[Row]:
    """Drops rides with a negligible or negative fare or no distance."""
    return [r for r in rows if float(r["fare_amount"]) >= min_fare and float(r["trip_distance"]) > 0]


def featurize(rows: Sequence[Row], tip_fraction: float = 0.18) -> List[Dict[str, float]]:
    """Features and label per ride."""
    out = []
    for r in rows:
        pickup = datetime.fromisoformat(r["pickup_datetime"])
        distance = float(r["trip_distance"])
        fare = float(r["fare_amount"])
        out.append({
            "trip_id": r["trip_id"],
            "trip_distance": distance,
            "passenger_count": float(r["passenger_count"]),
            "pickup_hour": pickup.hour / 23.0,
            "work_hours": 1.0 if (8 <= pickup.hour <= 18 and pickup.weekday() < 5) else 0.0,
            "fare_per_mile": fare / max(distance, 0.1),
            LABEL: 1.0 if float(r["tip_amount"]) / fare > tip_fraction else 0.0,
        })
    return out


def _standardize(rows, stats=None):
    if stats is None:
        stats = {}
        for f in FEATURES:
            vals = [r[f] for r in rows]
            mean = sum(vals) / len(vals)
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals)) or 1.0
            stats[f] = (mean, std)
    return [[(r[f] - stats[f][0]) / stats[f][1] for f in FEATURES] for r in rows], stats


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def train_logistic(rows: Sequence[Dict[str, float]], epochs: int = 200, lr: float = 0.5) -> Dict:
    """A logistic regression by batch gradient descent; returns the model as a
    JSON-able dict."""
    x, stats = _standardize(rows)
    y = [r[LABEL] for r in rows]
    w = [0.0] * len(FEATURES)
    b = 0.0
    n = len(rows)
    for _ in range(epochs):
        gw = [0.0] * len(FEATURES)
        gb = 0.0
        for xi, yi in zip(x, y):
            err = _sigmoid(sum(a * c for a, c in zip(w, xi)) + b) - yi
            for j, v in enumerate(xi):
                gw[j] += err * v
            gb += err
        w = [wj - lr * g / n for wj, g in zip(w, gw)]
        b -= lr * gb / n
    return {"features": FEATURES, "weights": w, "bias": b, "stats": stats}


def predict(model: Dict, rows: Sequence[Dict[str, float]]) -> List[float]:
    x, _ = _standardize(rows, {k: tuple(v) for k, v in model["stats"].items()})
    return [_sigmoid(sum(a * c for a, c in zip(model["weights"], xi)) + model["bias"]) for xi in x]


def accuracy(model: Dict, rows: Sequence[Dict[str, float]]) -> float:
    preds = predict(model, rows)
    return sum((p >= 0.5) == (r[LABEL] >= 0.5) for p, r in zip(preds, rows)) / max(len(rows), 1)


def split(rows: Sequence[Dict[str, float]], frac: float = 0.8) -> Tuple[List, List]:
    k = int(len(rows) * frac)
    return list(rows[:k]), list(rows[k:])


def save_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)


def load_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_features(path: str) -> List[Dict[str, float]]:
    rows = read_csv(path)
    return [{k: (v if k == "trip_id" else float(v)) for k, v in r.items()} for r in rows]


FEATURE_COLUMNS = ["trip_id"] + FEATURES + [LABEL]
