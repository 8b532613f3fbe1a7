"""The external ranking test counts models, not seeds: each model is the mean over its seeds' cells."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy.stats import kendalltau

from skinbench.report.external import rankings


def test_kendalls_tau_ranks_each_model_by_the_mean_of_its_seeds() -> None:
    frame = pd.DataFrame({
        "dataset": ["isic2019"] * 5,
        "model": ["A", "A", "B", "B", "C"],
        "internal": [0.70, 0.74, 0.60, 0.64, 0.50],
        "external": [0.40, 0.44, 0.50, 0.30, 0.20],
        "internal_images": [300] * 5, "external_images": [900] * 5,
    })
    row = rankings(frame).iloc[0]
    means = frame.groupby("model")[["internal", "external"]].mean()
    assert row["models"] == 3 and row["cells"] == 5
    assert row["tau"] == pytest.approx(kendalltau(means["internal"], means["external"])[0])
    assert row["tau"] != pytest.approx(kendalltau(frame["internal"], frame["external"])[0])
    assert row["internal_images"] == 300
