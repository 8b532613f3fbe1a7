"""--precision: bfloat16 where the hardware has it, float16 before Ampere, the measured choice under auto."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import pytest

import skinbench.train.precision as precision
from skinbench.catalogue import PRECISIONS
from skinbench.records import Timing
from train_helpers import TWO_CELLS


@pytest.mark.parametrize(("capability", "policy"), [(None, "mixed_bfloat16"), ((7, 5), "mixed_float16"),
                                                    ((8, 0), "mixed_bfloat16"), ((9, 0), "mixed_bfloat16")])
def test_mixed_follows_the_compute_capability(monkeypatch: pytest.MonkeyPatch, capability, policy: str) -> None:
    monkeypatch.setattr(precision, "compute_capability", lambda: capability)
    assert precision.precision_policy("mixed") == policy


def test_explicit_policies_and_the_choices() -> None:
    for name in precision.POLICIES:
        assert precision.precision_policy(name) == name
    assert set(PRECISIONS) == {*precision.POLICIES, "mixed", "auto"}


def test_auto_uses_the_measured_table(monkeypatch: pytest.MonkeyPatch) -> None:
    with resources.files("skinbench").joinpath("precision_choices.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "precision_choices.csv is empty"
    for row in rows:  # each choice is the fastest figure of its row
        figures = {p: float(row[f"{p}_images_per_s"]) for p in precision.POLICIES if row[f"{p}_images_per_s"]}
        assert row["policy"] == max(figures, key=figures.get) and row["measured"] and row["source"]
    row = rows[0]
    monkeypatch.setattr(precision, "accelerator_name", lambda: row["gpu"])
    assert precision.precision_policy("auto", row["backbone"]) == row["policy"]
    monkeypatch.setattr(precision, "accelerator_name", lambda: "a GPU nobody measured")
    assert precision.precision_policy("auto", row["backbone"]) == "float32"


def test_timing_records_the_policy_that_ran(two_cells: Path) -> None:
    assert {Timing.read(two_cells / cell).dtype_policy for cell in TWO_CELLS} == {"float32"}
