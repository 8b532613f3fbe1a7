"""The report's calibration and operating points: the backbones compared by the mean of their seeds."""

from __future__ import annotations

import numpy as np

from make_fixture import FIXTURES
from skinbench.report.clinical import clinical_section
from skinbench.report.runs import load_results
from skinbench.report.summary import summarise


def test_the_report_compares_backbones_by_the_mean_of_their_seeds() -> None:
    text, calibrated, points = clinical_section(summarise(load_results([FIXTURES / "shard-a", FIXTURES / "shard-b"]), 0))
    seeds = ["densenet201-metadata-paper-s0", "densenet201-metadata-paper-s1"]
    at_90 = points[points["cell"].isin(seeds) & (points["target"] == "melanoma") & (points["fixed"] == "specificity")
                   & np.isclose(points["level"], 0.9)]
    assert len(at_90) == 2
    row = next(line for line in text.splitlines() if line.startswith("| DenseNet201 + Metadata and WeightLoss | 2 |"))
    assert row.split(" | ")[2] == f"{at_90['sensitivity'].mean():.3f}"
    assert row.rstrip(" |").split(" | ")[-1] == f"{calibrated.set_index('cell').loc[seeds, 'ece'].mean():.3f}"
