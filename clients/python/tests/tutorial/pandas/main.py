"""main.py: the original tutorial's pipeline shape, with pandas (no sklearn).

    python main.py --mode training
    python main.py --mode inference
"""

import argparse
import os
import typing

import numpy as np
import pandas as pd

from components import *
from joblib import dump, load

parser = argparse.ArgumentParser(description="Run inference.")
parser.add_argument("--mode", type=str, help="training or inference", const="inference", nargs="?")
args = parser.parse_args()


def load_data(day_from: int, day_to: int) -> pd.DataFrame:
    rng = np.random.default_rng(day_from * 1000 + day_to)
    n = 200 * (day_to - day_from + 1)
    distance = rng.uniform(0.2, 12.0, n)
    fare = 3.0 + 2.5 * distance + rng.uniform(-1, 1, n)
    return pd.DataFrame({
        "pickup_day": np.repeat(np.arange(day_from, day_to + 1), 200),
        "trip_distance": distance,
        "fare_amount": np.where(rng.random(n) < 0.05, 1.0, fare),
        "tip_amount": fare * np.clip(rng.normal(0.18, 0.08, n), 0, None),
    })


@Cleaning().run(auto_log=True)
def clean_data(df: pd.DataFrame, min_fare: float = 2.5) -> pd.DataFrame:
    df = df[df.fare_amount > min_fare]
    clean_df = df.reset_index(drop=True)
    return clean_df


@Featuregen().run(auto_log=True)
def featurize_data(df: pd.DataFrame, tip_fraction: float = 0.15) -> pd.DataFrame:
    features_df = pd.DataFrame({
        "pickup_day": df.pickup_day,
        "fare_per_mile": df.fare_amount / df.trip_distance,
        "high_tip_indicator": df.tip_amount / df.fare_amount > tip_fraction,
    })
    return features_df


@TrainTestSplit().run(auto_log=True)
def train_test_split(df: pd.DataFrame) -> typing.Tuple[pd.DataFrame, pd.DataFrame]:
    date_column = "pickup_day"
    label_column = "high_tip_indicator"
    df = df.sort_values(by=date_column, ascending=True)
    last_day = df[date_column].max()
    train_df, test_df = df[df[date_column] < last_day], df[df[date_column] == last_day]
    return train_df, test_df


def score(df, model, label_column):
    preds = model.predict(df)
    return {"accuracy_score": float((preds == df[label_column].to_numpy()).mean())}


@Training().run(auto_log=True)
def train_model(train_df: pd.DataFrame, test_df: pd.DataFrame, label_column: str) -> None:
    model = ThresholdModel().fit(train_df, train_df[label_column])
    train_scores = score(train_df, model, label_column)
    test_scores = score(test_df, model, label_column)
    print("Train scores:", train_scores, "Test scores:", test_scores)
    dump(model, "model.joblib")


@Inference().run(auto_log=True)
def inference(
    features_df: pd.DataFrame,
    model=load("model.joblib") if os.path.exists("model.joblib") else None,
):
    if not model:
        raise ValueError("Please run this pipeline in training mode first!")
    predictions_df = features_df
    predictions_df["prediction"] = model.predict(features_df)
    return predictions_df


if __name__ == "__main__":
    mode = args.mode if args.mode else "inference"
    print(f"Running the {mode} pipeline...")
    if mode == "training":
        features_df = featurize_data(clean_data(load_data(1, 3)))
        train_df, test_df = train_test_split(features_df)
        train_model(train_df, test_df, "high_tip_indicator")
    elif mode == "inference":
        predictions = inference(featurize_data(clean_data(load_data(4, 4))))
        print(int(predictions["prediction"].sum()), "high tips predicted")
    else:
        print(f"Mode {mode} not supported.")
