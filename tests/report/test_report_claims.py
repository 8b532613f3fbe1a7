"""The claims table and the leak table on the committed fixture: which comparisons appear, their verdicts, the
cells they name, the paper's numbers they quote, and the verdict rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from make_fixture import FIXTURES, dataset, split, write_cell
from skinbench.records import FINISHED
from skinbench.report.build import build_report
from skinbench.report.claims import (
    CONTRADICTED,
    NOT_RESOLVED,
    SUPPORTED,
    claims_frame,
    claims_section,
    comparisons,
    verdict,
)
from skinbench.report.leak import leak_frame, leak_section
from skinbench.report.runs import load_results
from skinbench.report.summary import summarise

SHARDS = [FIXTURES / "shard-a", FIXTURES / "shard-b"]
EXTRA = FIXTURES / "shard-c"  # the other ablation rows and lesion-split twins


@pytest.fixture(scope="module")
def claims() -> pd.DataFrame:
    frame, problems = claims_frame(summarise(load_results([*SHARDS, EXTRA]), 1000))
    assert problems == []
    return frame


def _rows(frame: pd.DataFrame, claim: str, measure_start: str = "") -> pd.DataFrame:
    part = frame[(frame["claim"] == claim) & frame["measure"].str.startswith(measure_start)]
    assert len(part), f"no {claim} row measuring {measure_start!r}"
    return part


def test_every_claim_whose_cells_are_in_the_fixture_appears(claims: pd.DataFrame) -> None:
    assert list(dict.fromkeys(claims["claim"])) == [
        "balance", "augmented_accuracy", "attention_metadata", "attention_plain", "dense512", "mobile", "depth",
    ]
    assert set(claims["split"]) == {"paper"}  # the lesion-split cells have no partner in their split


@pytest.mark.parametrize(
    "claim, measure, expected",
    [
        ("attention_metadata", "Accuracy", SUPPORTED),  # [:230] scores well above [:230] without metadata
        ("attention_metadata", "Balanced accuracy", SUPPORTED),
        ("attention_plain", "Accuracy", CONTRADICTED),  # plain MobileNetV3Large scores above [:240]
        ("attention_plain", "Balanced accuracy", CONTRADICTED),
        ("dense512", "Accuracy", NOT_RESOLVED),  # no difference between the two rows
        ("dense512", "Balanced accuracy", NOT_RESOLVED),
        ("augmented_accuracy", "Accuracy", NOT_RESOLVED),
        ("balance", "Mean per-class F1", NOT_RESOLVED),
        ("balance", "Spread of per-class F1", NOT_RESOLVED),
        ("depth", "Spread of per-class F1", NOT_RESOLVED),
    ],
)
def test_expected_verdicts(claims: pd.DataFrame, claim: str, measure: str, expected: str) -> None:
    (row,) = _rows(claims, claim, measure).itertuples(index=False)
    assert row.verdict == expected, row
    assert row.interval == "paired bootstrap, 1 seed: images only"
    if expected == SUPPORTED:
        assert row.ci_low > row.threshold
    elif expected == CONTRADICTED:
        assert row.ci_high < row.threshold


def test_nearly_as_accurate_uses_the_papers_gap_as_its_margin(claims: pd.DataFrame) -> None:
    rows = _rows(claims, "mobile", "Accuracy").set_index("cells_a")
    best = rows.loc["mobilenetv3large-ablation-cut240-paper-s0"]
    recipe = rows.loc["mobilenetv3large-metadata-paper-s0"]
    assert (best.paper_a, best.paper_b, best.threshold) == (0.86, 0.9, pytest.approx(-0.04))  # Table 11
    assert (recipe.paper_a, recipe.paper_b, recipe.threshold) == (0.84, 0.89, pytest.approx(-0.05))  # Table 5
    assert best.verdict == NOT_RESOLVED and best.ci_low < -0.04 < best.ci_high
    assert recipe.verdict == CONTRADICTED and recipe.ci_high < -0.05
    ratios = _rows(claims, "mobile").query("kind == 'ratio'").set_index(["cells_a", "measure"])
    params = ratios.loc[("mobilenetv3large-ablation-cut240-paper-s0", "Parameters (trained model), a / b")]
    branch = 4096 * 22  # make_fixture adds a metadata branch to every metadata-recipe cell
    assert params.value == pytest.approx((4_300_000 + branch) / (54_800_000 + branch))  # make_fixture.MODEL
    assert params.paper_value == pytest.approx(5.5 / 55.9)
    epoch = ratios.loc[("mobilenetv3large-ablation-cut240-paper-s0", "Training time per epoch (timing.json epoch_s), a / b")]
    assert epoch.paper_value == pytest.approx(116 / 3500)
    assert ratios["verdict"].isna().all()  # a ratio is a measurement, not a test


def test_each_comparison_names_its_cells_and_quotes_the_paper(claims: pd.DataFrame) -> None:
    (plain,) = _rows(claims, "attention_plain", "Accuracy").itertuples(index=False)
    assert (plain.cells_a, plain.cells_b) == ("mobilenetv3large-ablation-cut240-paper-s0", "mobilenetv3large-ablation-plain-paper-s0")
    assert (plain.paper_a, plain.paper_b, plain.paper_source) == (0.86, 0.85, "Table 9")
    assert plain.mcnemar_p is not None and 0 <= float(plain.mcnemar_p) <= 1
    (depth,) = _rows(claims, "depth").itertuples(index=False)
    assert depth.cells_a == "densenet201-metadata-paper-s0; inceptionresnetv2-metadata-paper-s0"
    assert depth.cells_b == "mobilenetv3large-metadata-paper-s0"  # seed 1 has only DenseNet201
    (balance,) = _rows(claims, "balance", "Mean per-class F1").itertuples(index=False)
    assert (balance.paper_a, balance.paper_b) == (0.83, 0.74)  # Table 6 means
    (spread,) = _rows(claims, "balance", "Spread of per-class recall").itertuples(index=False)
    assert spread.direction == "< 0"
    assert spread.paper_a == pytest.approx(np.std([0.85, 0.75, 0.78, 0.83, 0.63, 0.96, 1]))  # Table 7, derived


def test_only_comparisons_whose_cells_are_in_the_run_appear() -> None:
    found = comparisons(summarise(load_results([FIXTURES / "shard-a"]), 0))
    assert {c.claim for c in found} == {"mobile", "depth"}  # shard a: no augmented cell, no ablation row
    assert [c.label.split(" (a)")[0] for c in found if c.claim == "mobile"] == ["MobileNetV3Large + Metadata and WeightLoss"]


def test_without_a_bootstrap_below_three_seeds_nothing_is_resolved() -> None:
    frame, _ = claims_frame(summarise(load_results(SHARDS), 0))
    differences = frame[frame["kind"] == "difference"]
    assert set(differences["verdict"]) == {NOT_RESOLVED} and set(differences["interval"]) == {"none"}


def test_three_seeds_decide_by_the_t_interval_over_seeds(tmp_path: Path) -> None:
    frame = dataset()
    for seed in (0, 1, 2):
        parts = split(frame, seed)
        for row in ("cut240", "plain"):
            write_cell(tmp_path, frame, parts, "mobilenetv3large", "metadata", row, seed, FINISHED)
    result, _ = claims_frame(summarise(load_results([tmp_path]), 200))
    (row,) = _rows(result, "attention_plain", "Accuracy").itertuples(index=False)
    assert row.n_seeds == 3 and row.interval == "t over 3 seeds"
    assert row.cells_a == "mobilenetv3large-ablation-cut240-paper-s{0,1,2}"
    assert row.verdict == verdict(row.ci_low, row.ci_high, 1) == CONTRADICTED
    assert row.bootstrap_low is not None and len(str(row.mcnemar_p).split("; ")) == 3


@pytest.mark.parametrize(
    "low, high, direction, threshold, expected",
    [
        (0.01, 0.05, 1, 0.0, SUPPORTED),
        (-0.05, -0.01, 1, 0.0, CONTRADICTED),
        (-0.01, 0.05, 1, 0.0, NOT_RESOLVED),
        (-0.05, -0.01, -1, 0.0, SUPPORTED),
        (0.01, 0.05, -1, 0.0, CONTRADICTED),
        (-0.03, 0.02, 1, -0.04, SUPPORTED),  # within the margin
        (-0.09, -0.05, 1, -0.04, CONTRADICTED),
        (None, None, 1, 0.0, NOT_RESOLVED),
    ],
)
def test_verdict_rule(low, high, direction, threshold, expected) -> None:
    assert verdict(low, high, direction, threshold) == expected


def test_leak_table_is_paper_split_minus_lesion_split_with_an_unpaired_interval() -> None:
    summary = summarise(load_results([*SHARDS, EXTRA]), 1000)
    frame = leak_frame(summary).set_index("metric")
    assert set(frame["model"]) == {"DenseNet201 + Metadata and WeightLoss"}
    assert set(frame["cells_b"]) == {"densenet201-metadata-lesion-s{0,1}"}
    assert set(zip(frame["a_split"], frame["b_split"])) == {("paper", "lesion")}
    assert set(frame["interval"]) == {"unpaired bootstrap: images only"}  # two seeds a side: no Welch interval
    for metric, row in frame.iterrows():
        paper = np.mean([r.values[metric] for r in summary.cells if r.cell.cell_id.startswith("densenet201-metadata-paper")])
        lesion = np.mean([r.values[metric] for r in summary.cells if r.cell.cell_id.startswith("densenet201-metadata-lesion")])
        assert row.difference == pytest.approx(paper - lesion)
        assert 0 < row.ci_low < row.difference < row.ci_high  # make_fixture.PENALTY makes the leak plain
    text, table = leak_section(summary)
    assert table is not None and "unpaired" in text
    assert leak_section(summarise(load_results(SHARDS), 0)) == ("", None)


def test_report_places_claims_and_leak_after_the_tables_and_writes_their_csvs(tmp_path: Path) -> None:
    path, _ = build_report([*SHARDS, EXTRA], tmp_path, bootstrap=200, plots=False)
    text = path.read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    table11 = headings.index(next(h for h in headings if h.startswith("## Table 11.")))
    assert headings[table11 + 1] == "## The paper's claims, tested"
    assert headings[table11 + 2] == "## The leak, measured: the paper split against the leaky, lesion and official splits"
    assert text.index("## The leak") < text.index("## Cells")
    assert "- MobileNetV3Large [:240] (a) − plain MobileNetV3Large (b) [paper split]: a = " in text
    assert (tmp_path / "claims.csv").exists() and (tmp_path / "leak.csv").exists()
    written = pd.read_csv(tmp_path / "claims.csv")
    assert set(written["verdict"].dropna()) == {SUPPORTED, CONTRADICTED, NOT_RESOLVED}
    assert claims_section(summarise(load_results([FIXTURES / "shard-b"]), 0)) == ("", None)  # no claim's cells
