"""--dry-run: the plan's arithmetic (GPU time from the bench, disk per cache and cell) and its output."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from skinbench import gpu_bench
from skinbench.cli import app
from skinbench.config import Settings
from skinbench.data.augment import default_target_total
from skinbench.data.splits import expected_sizes
from skinbench.train import plan as planning


def _table() -> pd.DataFrame:
    row = {"device": "GPU X", "backend": "jax", "recipe": "metadata", "image_size": 224, "batch_size": 32,
           "policy": "float32", "compile_s": 30.0, "predict_compile_s": 5.0, "one_process_compile": True,
           "peak_memory_gib": None, "date": "2026-01-01", "source": "bench.csv"}
    return pd.DataFrame([
        {**row, "backbone": "resnet50", "train_images_per_s": 1000.0, "infer_images_per_s": 4000.0, "params": 25_000_000},
        {**row, "backbone": "resnet50", "policy": "mixed_bfloat16", "train_images_per_s": 2000.0,
         "infer_images_per_s": 5000.0, "params": 25_000_000},
    ], columns=list(gpu_bench.COLUMNS))


def test_expected_sizes_follow_the_fractions() -> None:
    assert expected_sizes("paper", 10015) == {"train": 9013, "val": 1002}  # validation rounded up, as sklearn does
    assert expected_sizes("lesion", 1000) == {"train": 700, "val": 150, "test": 150}
    assert expected_sizes("official", 1000, test_images=1511) == {"train": 850, "val": 150, "test": 1511}


def test_each_cells_gpu_time_is_epochs_times_training_and_validation_plus_compile(tmp_path: Path) -> None:
    cells = [("resnet50-metadata-paper-s0", "resnet50", "metadata", "paper", 224),
             ("resnet50-augmented-paper-s0", "resnet50", "augmented", "paper", 224),  # the metadata model's figure
             ("resnet50-metadata-paper-s1", "resnet50", "metadata", "paper", 64)]  # never measured at 64 px
    plan = planning.plan_run(cells, Settings(epochs=10), n_images=10015, images_note="x", fingerprint=None,
                             out=tmp_path, table=_table())
    metadata, augmented, small = plan.cells
    train, val = 9013 // 32 * 32, 1002
    assert (metadata.train_images, metadata.val_images, metadata.epochs) == (train, val, 10)
    assert metadata.gpu_seconds == pytest.approx(10 * (train / 1000 + val / 4000) + 35.0)
    grown = default_target_total(9013) // 32 * 32
    assert augmented.train_images == grown and augmented.gpu_seconds == pytest.approx(10 * (grown / 1000 + val / 4000) + 35.0)
    assert small.gpu_seconds is None  # unmeasured, never guessed
    assert plan.reference == ("GPU X", "jax")
    # --precision auto takes the policy measured fastest; mixed is bfloat16 on the GPUs measured.
    for precision in ("auto", "mixed"):
        fast = planning.plan_run(cells[:1], Settings(epochs=10, precision=precision), n_images=10015, images_note="x",
                                 fingerprint=None, out=tmp_path, table=_table()).cells[0]
        assert fast.figures.policy == "mixed_bfloat16"
        assert fast.gpu_seconds == pytest.approx(10 * (train / 2000 + val / 5000) + 35.0)


def test_disk_needs_per_cache_and_cell_and_whether_they_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cells = [("resnet50-augmented-paper-s0", "resnet50", "augmented", "paper", 224),
             ("resnet50-metadata-paper-s0", "resnet50", "metadata", "paper", 224)]
    plan = planning.plan_run(cells, Settings(epochs=10), n_images=1000, images_note="x", fingerprint=None,
                             out=tmp_path, table=_table())
    needs = {need.what.split(" (")[0].split(",")[0]: need.nbytes for need in plan.disks}
    image = 224 * 224 * 3
    assert needs["224px image cache"] == 1000 * image
    assert needs["224px augmented training set"] == default_target_total(900) * image
    assert needs["checkpoints of the cell training"] == 2 * 25_000_000 * 12
    assert needs["kept models"] == 2 * 25_000_000 * 12
    total = sum(needs.values())
    assert planning.fits(plan, tmp_path)[0] == total  # cache and --out on one disk here
    monkeypatch.setattr(planning, "free_bytes", lambda folder: total - 1)
    assert planning.fits(plan, tmp_path) == (total, total - 1, False)


def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKINBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--matrix", "paper", "--dataset", "synthetic", "--dry-run", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "inceptionresnetv2-metadata-paper-s0" in text and "est. GPU h at cap" in text
    reference = planning.reference_gpu(gpu_bench.shipped())
    assert f"an estimate from the bench of the {reference[0]} under {reference[1]}" in text
    assert "10,015 synthetic images (not generated yet)" in text
    assert "image cache" in text and ("fits" in text or "DOES NOT FIT" in text)
    assert not out.exists() and not (tmp_path / "cache" / "synthetic").exists()  # nothing built
