"""tests.py: tests to run on inputs and outputs of components (tutorial style)."""

from mltrace import Test


class OutliersTest(Test):
    def __init__(self):
        super().__init__("Outliers")

    def testComputeStats(self, trip_data):
        fares = [r["fare"] for r in trip_data]
        print(f"fares: n={len(fares)} min={min(fares)} max={max(fares)}")

    def testZScore(self, trip_data, stdev_cutoff: float = 5.0, threshold: float = 0.05):
        fares = [r["fare"] for r in trip_data]
        mean = sum(fares) / len(fares)
        std = (sum((f - mean) ** 2 for f in fares) / len(fares)) ** 0.5 or 1.0
        outliers = sum(abs(f - mean) / std > stdev_cutoff for f in fares)
        if outliers > threshold * len(fares):
            raise Exception("There are outlier values!")


class TrainingAssumptionsTest(Test):
    def __init__(self):
        super().__init__("Training Assumptions")

    def testLeakage(self, train_data, test_data, date_column: str = "day"):
        if max(r[date_column] for r in train_data) > min(r[date_column] for r in test_data):
            raise Exception("Train and test data are overlapping in dates!")


class ModelIntegrityTest(Test):
    def __init__(self):
        super().__init__("Model Integrity")

    def testOverfitting(self, train_scores, test_scores, threshold: float = 0.5):
        for name, val in train_scores.items():
            if abs(val - test_scores[name]) > threshold:
                raise Exception(f"Model overfitted with {name}")
