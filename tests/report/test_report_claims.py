"""The claims table and the leak table on the committed fixture: which comparisons appear, their verdicts, the
cells they name, the paper's numbers they quote, and the verdict rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from make_fixture import FIXTURES, dataset, split, write_cell
from skinbench.eval.metrics import compute_metrics
from skinbench.records import FINISHED, CellMetrics
from skinbench.report.build import build_report
from skinbench.report.claim_data import study_claims
from skinbench.report.claims import (
    CONTRADICTED,
    NOT_RESOLVED,
    SUPPORTED,
    claims_frame,
    claims_section,
    comparisons,
    decide,
)
from skinbench.report.leak import leak_frame, leak_section
from skinbench.report.runs import load_results
from skinbench.report.summary import summarise

SHARDS = [FIXTURES / "shard-a", FIXTURES / "shard-b"]
EXTRA = FIXTURES / "shard-c"  # the other ablation rows and lesion-split twins
#: "Nearly as accurate": the mobile claim's margin, fixed in advance in claims.toml.
NEARLY_AS_ACCURATE_MARGIN = next(c.margin for c in study_claims() if c.id == "mobile")


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
    assert row.p_holm >= row.p_value and row.family_size == len(claims[(claims["claim"] == claim) & claims["p_value"].notna()])
    if expected == SUPPORTED:
        assert row.ci_low > row.threshold and row.p_holm < 0.05
    elif expected == CONTRADICTED:
        assert row.ci_high < row.threshold and row.p_holm < 0.05
    else:
        assert row.p_holm >= 0.05


def test_nearly_as_accurate_has_a_margin_fixed_in_advance_not_the_papers_gap(claims: pd.DataFrame) -> None:
    rows = _rows(claims, "mobile", "Accuracy").set_index("cells_a")
    best = rows.loc["mobilenetv3large-ablation-cut240-paper-s0"]
    recipe = rows.loc["mobilenetv3large-metadata-paper-s0"]
    assert (best.paper_a, best.paper_b) == (0.86, 0.9) and (recipe.paper_a, recipe.paper_b) == (0.84, 0.89)  # Tables 11, 5
    assert best.threshold == recipe.threshold == -NEARLY_AS_ACCURATE_MARGIN == -0.05
    assert "fixed in advance" in best.paper_source
    balanced = _rows(claims, "mobile", "Balanced accuracy")
    assert set(balanced["threshold"]) == {-NEARLY_AS_ACCURATE_MARGIN}
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
    assert pd.isna(balance.paper_value)  # the augmented row was measured on another test set: no difference
    (augmented,) = _rows(claims, "augmented_accuracy").itertuples(index=False)
    assert (augmented.paper_a, augmented.paper_b) == (0.91, 0.89) and pd.isna(augmented.paper_value)
    (comparison,) = [c for c in comparisons(summarise(load_results([*SHARDS, EXTRA]), 0)) if c.claim == "augmented_accuracy"]
    assert comparison.notes == (
        "a trained on 1,257 images per epoch, class weights none; b on 1,257 images per epoch, class weights "
        "balanced: the verdict compares recipes that differ in the images seen and the loss, not augmentation alone",)
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
    assert row.verdict == CONTRADICTED and row.ci_high < 0
    assert row.bootstrap_low is not None and len(str(row.mcnemar_p).split("; ")) == 3


@pytest.mark.parametrize(
    "p_support, p_contra, p_holm, expected",
    [
        (0.001, 0.999, 0.002, SUPPORTED),
        (0.999, 0.001, 0.002, CONTRADICTED),
        (0.001, 0.999, 0.06, NOT_RESOLVED),  # significant alone, not once the family is adjusted
        (0.2, 0.8, 0.4, NOT_RESOLVED),
        (None, None, None, NOT_RESOLVED),
    ],
)
def test_verdict_rule(p_support, p_contra, p_holm, expected) -> None:
    assert decide(p_support, p_contra, p_holm) == expected


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


def _predict_with_recall(folder: Path, recall: dict[int, float]) -> None:
    """Rewrite a cell's predictions: of each class, the first round(recall * n) images right, the others
    given to the next class."""
    from skinbench.eval.predictions import read_predictions, write_predictions

    path = folder / "predictions.csv"
    image_ids, y_true, _ = read_predictions(path)
    predicted = (y_true + 1) % 7
    for label, share in recall.items():
        members = np.flatnonzero(y_true == label)
        predicted[members[: round(share * len(members))]] = label
    probs = np.eye(7)[predicted] * 0.9 + 0.1 / 7
    write_predictions(path, list(image_ids), y_true, probs)
    CellMetrics(CellMetrics.read(folder).part, len(y_true), compute_metrics(y_true, probs)).write(folder)  # matches the file again


@pytest.mark.parametrize("metadata_recall, expected", [
    ({c: 0.5 for c in range(7)}, NOT_RESOLVED),  # nv falls from 1.0 to 0.5: the spread shrinks by losing
    ({c: 0.75 for c in range(7)}, SUPPORTED),  # every class as good as nv's loss: the spread shrinks, the mean rises
])
def test_a_balance_verdict_needs_the_mean_not_to_fall(tmp_path: Path, metadata_recall: dict, expected: str) -> None:
    frame = dataset()
    augmented = {c: 0.5 for c in range(7)} | {5: 1.0}  # nv (label 5) right, the rest half right
    for seed in (0, 1, 2):
        for recipe, recall in (("augmented", augmented), ("metadata", metadata_recall)):
            write_cell(tmp_path, frame, split(frame, seed), "densenet201", recipe, None, seed, FINISHED)
            _predict_with_recall(tmp_path / f"densenet201-{recipe}-paper-s{seed}", recall)
    claims, _ = claims_frame(summarise(load_results([tmp_path]), 0))
    (spread,) = _rows(claims, "balance", "Spread of per-class recall").itertuples(index=False)
    (mean,) = _rows(claims, "balance", "Balanced accuracy").itertuples(index=False)
    assert spread.value < -0.05 and spread.interval == "t over 3 seeds" and spread.ci_high < 0  # the spread fell
    assert spread.holds == "Balanced accuracy (mean per-class recall): a − b > -0.02"
    assert (mean.value < -0.02) == (expected == NOT_RESOLVED)
    assert spread.verdict == expected


def test_p_values_are_adjusted_with_holm_within_each_claim_and_split(claims: pd.DataFrame) -> None:
    from skinbench.eval.paired import holm

    tested = claims[claims["p_value"].notna()]
    assert set(tested["kind"]) == {"difference"} and claims.loc[claims["kind"] == "ratio", "p_value"].isna().all()
    for _, family in tested.groupby(["claim", "split"]):
        assert family["p_holm"].tolist() == pytest.approx(holm(family["p_value"].tolist()))
        assert (family["family_size"] == len(family)).all()
    balance = tested[tested["claim"] == "balance"]
    assert len(balance) == 4 and (balance["p_holm"] > balance["p_value"]).any()
    for row in tested.itertuples(index=False):  # two-sided: twice the smaller one-sided p
        assert row.p_value == pytest.approx(min(1.0, 2 * min(row.p_support, row.p_contra)))
