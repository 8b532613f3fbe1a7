"""The leak table takes the paper split's optimism apart (leaky split) and, over enough seeds, its interval
covers retraining (Welch's t over seeds), not only the images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from make_fixture import dataset, split, write_cell
from skinbench.records import FINISHED
from skinbench.report.leak import IMAGES_ONLY, WELCH, leak_frame, leak_section
from skinbench.report.runs import load_results
from skinbench.report.summary import summarise

MODEL = "DenseNet201 + Metadata and WeightLoss"


def _run(folder: Path, splits: tuple[str, ...], seeds: tuple[int, ...]) -> Path:
    frame = dataset()
    for split_name in splits:
        for seed in seeds:
            write_cell(folder, frame, split(frame, seed, split_name), "densenet201", "metadata", None, seed, FINISHED, split_name)
    return folder


@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory: pytest.TempPathFactory):
    return summarise(load_results([_run(tmp_path_factory.mktemp("leak"), ("paper", "leaky", "lesion"), (0, 1, 2))]), 300)


def _values(summary, split_name: str, metric: str) -> list[float]:
    return [r.values[metric] for r in summary.cells if r.cell.split == split_name]


def test_the_leaky_split_takes_the_paper_splits_optimism_apart(three_seeds) -> None:
    frame = leak_frame(three_seeds)
    assert list(dict.fromkeys(zip(frame["a_split"], frame["b_split"]))) == [
        ("leaky", "lesion"), ("paper", "leaky"), ("paper", "lesion")]
    assert set(frame["model"]) == {MODEL}
    for metric, rows in frame.groupby("metric"):
        by = rows.set_index(["a_split", "b_split"])["difference"]
        for (a, b), value in by.items():
            assert value == pytest.approx(np.mean(_values(three_seeds, a, metric)) - np.mean(_values(three_seeds, b, metric)))
        # the leak alone plus selection and size is the whole of the paper protocol's optimism
        assert by["leaky", "lesion"] + by["paper", "leaky"] == pytest.approx(by["paper", "lesion"])
    text, table = leak_section(three_seeds)
    assert "leakage alone (training size, steps and selection equal)" in text
    assert "selection on the reported part + the larger training part" in text
    assert "| leaky − lesion " in text and "| paper − leaky " in text


def test_three_seeds_a_side_give_welchs_interval_over_seeds(three_seeds) -> None:
    frame = leak_frame(three_seeds)
    for row in frame.itertuples(index=False):
        a, b = _values(three_seeds, row.a_split, row.metric), _values(three_seeds, row.b_split, row.metric)
        expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
        assert row.interval == WELCH
        assert (row.ci_low, row.ci_high) == pytest.approx((expected.low, expected.high))
    assert "Welch t over seeds" in leak_section(three_seeds)[0]


def test_fewer_seeds_give_the_image_bootstrap_labelled_images_only(tmp_path: Path) -> None:
    summary = summarise(load_results([_run(tmp_path, ("paper", "lesion"), (0, 1))]), 300)
    frame = leak_frame(summary)
    assert set(frame["interval"]) == {IMAGES_ONLY} and frame["ci_low"].notna().all()
    assert "images only" in leak_section(summary)[0]
