"""Subgroups: each cell's reported part by sex, age band and site group, from the dataset's metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from make_fixture import dataset, split, write_cell
from skinbench.classes import CLASSES
from skinbench.eval.predictions import read_predictions
from skinbench.records import FINISHED
from skinbench.report.build import build_report
from skinbench.report.runs import load_results
from skinbench.report.subgroups import (
    MIN_IMAGES,
    age_band,
    gap_p_value,
    lesion_shuffles,
    site_group,
    subgroup_frame,
    worst_group_gaps,
)
from skinbench.report.summary import summarise

CELL = "densenet201-metadata-paper-s0"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """One finished cell whose dataset folder has a metadata file: sex alternating, ages spread, a few unknown."""
    frame = dataset()
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    n = len(frame)
    pd.DataFrame({
        "lesion_id": frame["lesion_id"], "image_id": frame["image_id"], "dx": [CLASSES[k] for k in frame["label"]],
        "dx_type": "histo", "age": np.where(np.arange(n) % 50 == 0, np.nan, rng.integers(5, 90, n)),
        "sex": np.where(np.arange(n) % 40 == 0, "unknown", np.where(np.arange(n) % 2, "male", "female")),
        "localization": rng.choice(["back", "face", "hand", "foot", "unknown", "acral"], n), "dataset": "x",
    }).to_csv(data / "HAM10000_metadata.csv", index=False)
    out = tmp_path / "run"
    write_cell(out, frame, split(frame, 0), "densenet201", "metadata", None, 0, FINISHED, root=str(data))
    return out


def test_groups_cover_every_image_and_match_an_independent_computation(run: Path) -> None:
    summary = summarise(load_results([run]), 200)
    frame, missing = subgroup_frame(summary)
    assert missing == []
    metadata = pd.read_csv(run.parent / "data" / "HAM10000_metadata.csv").set_index("image_id")
    ids, y_true, probs = read_predictions(run / CELL / "predictions.csv")
    for attribute in ("sex", "age band", "site"):
        part = frame[frame["attribute"] == attribute]
        assert part["images"].sum() == len(ids)  # every image in exactly one group, unknown included
    groups = {"sex": metadata.loc[ids, "sex"].to_numpy()}
    for group in ("male", "female", "unknown"):
        members = groups["sex"] == group
        row = frame[(frame["attribute"] == "sex") & (frame["group"] == group)].iloc[0]
        assert row["images"] == members.sum()
        assert row["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true[members], probs[members].argmax(1)))
        assert row["too_small"] == (members.sum() < MIN_IMAGES)
        if not row["too_small"]:
            assert row["balanced_accuracy_ci_low"] <= row["balanced_accuracy"] <= row["balanced_accuracy_ci_high"]
    mel = CLASSES.index("mel")
    female = groups["sex"] == "female"
    row = frame[(frame["attribute"] == "sex") & (frame["group"] == "female")].iloc[0]
    hits = (probs[female].argmax(1) == mel) & (y_true[female] == mel)
    assert row["mel_recall"] == pytest.approx(hits.sum() / (y_true[female] == mel).sum())


def test_worst_group_gap_leaves_out_small_groups() -> None:
    frame = pd.DataFrame({
        "cell": ["c"] * 3, "attribute": ["sex"] * 3, "group": ["female", "male", "unknown"],
        "balanced_accuracy": [0.6, 0.7, 0.1], "too_small": [False, False, True], "gap_p": [0.04] * 3,
    })
    gaps = worst_group_gaps(frame)
    assert gaps["gap"].tolist() == pytest.approx([0.1]) and gaps["p"].tolist() == [0.04]


def _groups_and_predictions(seed: int, favoured: bool) -> tuple:
    """400 lesions of 1-3 images in groups a, b, c; predictions right 80% of the time, or, with
    ``favoured``, always right in group a."""
    rng = np.random.default_rng(seed)
    per_lesion = rng.integers(1, 4, 400)
    lesions = np.repeat(np.arange(400), per_lesion)
    labels = np.repeat(rng.choice(["a", "b", "c"], 400), per_lesion)
    y = rng.integers(0, 7, len(lesions))
    right = rng.random(len(lesions)) < 0.8
    if favoured:
        right |= labels == "a"
    predicted = np.where(right, y, (y + 1) % 7)
    return y, np.eye(7)[predicted] * 0.9 + 0.1 / 7, lesions, labels


def test_the_gap_p_value_counts_shuffles_of_whole_lesions_as_a_plain_loop_does() -> None:
    y, probs, lesions, labels = _groups_and_predictions(0, favoured=False)
    shuffled = lesion_shuffles(labels, lesions, 99, seed=5)
    assert (shuffled[0] == labels).all()
    for row in shuffled[1:]:  # whole lesions move, and each group keeps its number of lesions
        assert pd.Series(row).groupby(lesions).nunique().max() == 1
        assert sorted(pd.Series(row).groupby(lesions).first().value_counts()) == sorted(
            pd.Series(labels).groupby(lesions).first().value_counts())
    gaps = []
    for row in shuffled:
        accuracy = [balanced_accuracy_score(y[row == g], probs[row == g].argmax(1)) for g in ("a", "b", "c")]
        gaps.append(max(accuracy) - min(accuracy))
    expected = (1 + sum(g >= gaps[0] - 1e-12 for g in gaps[1:])) / 100
    assert gap_p_value(y, probs, lesions, labels, ["a", "b", "c"], 99, seed=5) == pytest.approx(expected)


def test_a_group_the_model_serves_better_gets_a_small_p_and_too_few_groups_none() -> None:
    y, probs, lesions, labels = _groups_and_predictions(1, favoured=True)
    assert gap_p_value(y, probs, lesions, labels, ["a", "b", "c"], 199, seed=2) == pytest.approx(1 / 200)
    assert gap_p_value(y, probs, lesions, labels, ["a"], 199, seed=2) is None
    assert gap_p_value(y, probs, lesions, labels, ["a", "b"], 0, seed=2) is None


def test_bands_and_sites_are_stated_and_unknown_is_a_group() -> None:
    assert [age_band(a) for a in (0, 29, 30, 74, 75, 85, np.nan)] == ["0-29", "0-29", "30-44", "60-74", "75+", "75+", "unknown"]
    assert [site_group(s) for s in ("face", "back", "hand", "foot", "acral", "unknown", np.nan, "elbow")] == [
        "head and neck", "trunk", "upper extremity", "lower extremity", "other", "unknown", "unknown", "other"]


def test_the_report_has_the_section_and_its_csv(run: Path) -> None:
    path, _ = build_report([run], bootstrap=0, plots=False)
    text = path.read_text()
    assert "## Subgroups" in text and "Worst-group gap" in text and "| sex | unknown |" in text
    assert (run / "subgroups.csv").exists()
