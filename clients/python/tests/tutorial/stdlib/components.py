"""components.py: the pipeline's components and their metadata (tutorial style)."""

from mltrace import Component
from tests import *


class Cleaning(Component):
    def __init__(self, beforeTests=[], afterTests=[]):
        super().__init__(
            name="cleaning",
            owner="plumber",
            description="Cleans raw NYC taxicab data",
            tags=["nyc-taxicab"],
            beforeTests=beforeTests,
            afterTests=afterTests,
        )


class Featuregen(Component):
    def __init__(self, beforeTests=[OutliersTest], afterTests=[]):
        super().__init__(
            name="featuregen",
            owner="spark-gymnast",
            description="Generates features for high tip prediction problem",
            tags=["nyc-taxicab"],
            beforeTests=beforeTests,
            afterTests=afterTests,
        )


class TrainTestSplit(Component):
    def __init__(self, beforeTests=[], afterTests=[TrainingAssumptionsTest]):
        super().__init__(
            name="splitting",
            owner="fission",
            description="Splits data into training and test sets",
            tags=["nyc-taxicab"],
            beforeTests=beforeTests,
            afterTests=afterTests,
        )


class Training(Component):
    def __init__(self, beforeTests=[], afterTests=[ModelIntegrityTest]):
        super().__init__(
            name="training",
            owner="personal-trainer",
            description="Trains model for high tip prediction problem",
            tags=["nyc-taxicab"],
            beforeTests=beforeTests,
            afterTests=afterTests,
        )


class Inference(Component):
    def __init__(self, beforeTests=[], afterTests=[]):
        super().__init__(
            name="inference",
            owner="sherlock-holmes",
            description="Predicts high tip probability",
            tags=["nyc-taxicab"],
            beforeTests=beforeTests,
            afterTests=afterTests,
        )


class ThresholdModel:
    """Predicts a high tip when the fare per mile is above a learned threshold."""

    def __init__(self, threshold=0.0):
        self.threshold = threshold

    def fit(self, rows):
        highs = [r["fare_per_mile"] for r in rows if r["high_tip"]]
        self.threshold = sorted(highs)[len(highs) // 2] if highs else 0.0
        return self

    def predict(self, rows):
        return [r["fare_per_mile"] >= self.threshold for r in rows]
