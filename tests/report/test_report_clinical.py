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


def test_operating_points_carry_lesion_bootstrap_intervals_when_the_report_bootstraps() -> None:
    results = load_results([FIXTURES / "shard-a"])
    text, _, points = clinical_section(summarise(results, 50))
    assert points["sensitivity_ci_low"].notna().any()
    row = points.dropna(subset=["sensitivity_ci_low"]).iloc[0]
    assert f"{row['sensitivity']:.3f} [{row['sensitivity_ci_low']:.2f}, {row['sensitivity_ci_high']:.2f}]" in text
    assert "the threshold held fixed" in text
    text, _, points = clinical_section(summarise(results, 0))
    assert points["sensitivity_ci_low"].isna().all() and "Brackets" not in text.split("## Clinical operating points")[1]
