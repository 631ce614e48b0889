"""tests.py: tests to run on inputs and outputs of components (the original tutorial's)."""

from mltrace import Test

import pandas as pd
import typing


class OutliersTest(Test):
    def __init__(self):
        super().__init__("Outliers")

    def testComputeStats(self, df: pd.DataFrame):
        num_df = df.select_dtypes(include=["number"])
        print("Dataframe statistics:")
        print(num_df.describe())

    def testZScore(self, df: pd.DataFrame, stdev_cutoff: float = 5.0, threshold: float = 0.05):
        num_df = df.select_dtypes(include=["number"])
        z_scores = ((num_df - num_df.mean(axis=0, skipna=True)) / num_df.std(axis=0, skipna=True)).abs()
        if (z_scores > stdev_cutoff).to_numpy().sum() > threshold * len(df):
            raise Exception("There are outlier values!")


class TrainingAssumptionsTest(Test):
    def __init__(self):
        super().__init__("Training Assumptions")

    def testLeakage(self, train_df: pd.DataFrame, test_df: pd.DataFrame, date_column: str):
        if train_df[date_column].max() > test_df[date_column].min():
            raise Exception("Train and test data are overlapping in dates!")

    def testClassImbalance(self, train_df: pd.DataFrame, label_column: str, threshold: float = 0.1):
        frequencies = train_df[label_column].value_counts(normalize=True)
        if frequencies.min() < threshold:
            raise Exception("Class imbalance is too high!")


class ModelIntegrityTest(Test):
    def __init__(self):
        super().__init__("Model Integrity")

    def testOverfitting(self, train_scores: typing.Dict, test_scores: typing.Dict, threshold: float = 0.5):
        for name, val in train_scores.items():
            if abs(val - test_scores[name]) > threshold:
                raise Exception(f"Model overfitted with {name}")
