"""The report's calibration and operating points: the backbones compared by the mean of their seeds."""

from __future__ import annotations

import numpy as np

from make_fixture import FIXTURES
from skinbench.report.clinical import clinical_section
from skinbench.report.runs import load_results
from skinbench.eval.metrics import resample_counts
from skinbench.eval.operating_points import positives, resampled_rates, score
from skinbench.report.summary import bootstrap_stream, summarise


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


def test_the_comparison_gives_the_interval_of_the_seeds_mean_over_their_lesion_resamples() -> None:
    summary = summarise(load_results([FIXTURES / "shard-a", FIXTURES / "shard-b"]), 40)
    text, _, points = clinical_section(summary)
    seeds = ["densenet201-metadata-paper-s0", "densenet201-metadata-paper-s1"]
    drawn = []
    for result in (r for r in summary.cells if r.cell.cell_id in seeds):
        point = points[(points["cell"] == result.cell.cell_id) & (points["target"] == "melanoma")
                       & (points["fixed"] == "specificity") & np.isclose(points["level"], 0.9)].iloc[0]
        counts = resample_counts(len(result.y_true), 40, bootstrap_stream(0, result.cell.cell_id), result.lesions)
        drawn.append(resampled_rates(counts, positives(result.y_true, "melanoma"), score(result.probs, "melanoma"),
                                     point["threshold"])[0])
    low, high = np.percentile(np.nanmean(np.vstack(drawn), axis=0), [2.5, 97.5])
    row = next(line for line in text.splitlines() if line.startswith("| DenseNet201 + Metadata and WeightLoss | 2 |"))
    mean = points[points["cell"].isin(seeds) & (points["target"] == "melanoma") & (points["fixed"] == "specificity")
                  & np.isclose(points["level"], 0.9)]["sensitivity"].mean()
    assert row.split(" | ")[2] == f"{mean:.3f} [{low:.2f}, {high:.2f}]"
