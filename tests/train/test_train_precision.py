"""--precision: bfloat16 where the hardware has it, float16 before Ampere, the measured choice under auto."""

from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd
import pytest

import skinbench.train.precision as precision
from skinbench import gpu_bench
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


def test_the_shipped_table_names_its_sources() -> None:
    table = gpu_bench.shipped()
    assert list(table.columns) == list(gpu_bench.COLUMNS)
    assert not table.empty and table["date"].notna().all() and table["source"].notna().all()
    assert set(table["policy"]) <= set(precision.POLICIES)
    assert not table.duplicated(list(gpu_bench.SETTING)).any()


def test_auto_takes_the_fastest_policy_measured_on_this_gpu_under_this_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    row = {"device": "GPU X", "recipe": "metadata", "image_size": 224, "batch_size": 32, "backbone": "resnet50"}
    table = pd.DataFrame([
        {**row, "backend": "jax", "policy": "float32", "train_images_per_s": 100.0},
        {**row, "backend": "jax", "policy": "mixed_bfloat16", "train_images_per_s": 300.0},
        {**row, "backend": "tensorflow", "policy": "mixed_float16", "train_images_per_s": 200.0},
        {**row, "backend": "tensorflow", "policy": "float32", "train_images_per_s": 150.0},
    ], columns=list(gpu_bench.COLUMNS))
    monkeypatch.setattr(gpu_bench, "shipped", lambda: table)
    monkeypatch.setattr(precision, "accelerator_name", lambda: "GPU X")
    backend = keras.backend.backend()
    expected = {"jax": "mixed_bfloat16", "tensorflow": "mixed_float16"}[backend]
    assert precision.precision_policy("auto", "resnet50") == expected
    # The other backend's choice is never applied: a backend with no row falls back to float32.
    monkeypatch.setattr(precision.keras.backend, "backend", lambda: "torch")
    assert precision.precision_policy("auto", "resnet50") == "float32"
    monkeypatch.setattr(precision.keras.backend, "backend", lambda: backend)
    monkeypatch.setattr(precision, "accelerator_name", lambda: "a GPU nobody measured")
    assert precision.precision_policy("auto", "resnet50") == "float32"


def test_timing_records_the_policy_that_ran(two_cells: Path) -> None:
    assert {Timing.read(two_cells / cell).dtype_policy for cell in TWO_CELLS} == {"float32"}
