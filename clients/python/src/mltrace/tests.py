"""Ready-made tests (mltrace 0.17's ``mltrace.tests``). They need pandas."""

from typing import Any

from .entities import Test


class OutliersTest(Test):
    """Fails when a numeric column of ``df`` has values more than
    ``stdev_cutoff`` standard deviations from its mean."""

    def __init__(self) -> None:
        super().__init__("Outliers")

    def testZscore(self, df: Any = None, stdev_cutoff: float = 5.0) -> None:
        """Checks that there are no outliers using a z-score cutoff."""
        if df is None:
            return
        num_df = df.select_dtypes(include=["number"]) if hasattr(df, "select_dtypes") else df
        z_scores = ((num_df - num_df.mean(axis=0, skipna=True)) / num_df.std(axis=0, skipna=True)).abs()
        if (z_scores > stdev_cutoff).to_numpy().sum() > 0:
            raise Exception("There are outlier values!")
