"""benchmarks/time_to_paper.py: the arithmetic of a term on a hand-made bench CSV, and its last line."""

from __future__ import annotations

import importlib.util
import io
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from skinbench.catalogue import BACKBONE_NAMES

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "time_to_paper.py"


@pytest.fixture(scope="module")
def time_to_paper():
    spec = importlib.util.spec_from_file_location("time_to_paper", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _bench(path: Path) -> Path:
    """Every backbone at 1,000 training and 2,000 inference images/s in float32, compile 10 s;
    MobileNetV3Large also faster in mixed (2,000 and 4,000, compile 20 s), DenseNet201 slower."""
    rows = [
        {"backbone": b, "recipe": "metadata", "precision": "float32", "backend": "jax", "device": "GPU",
         "compile_s": 10.0, "train_images_per_s": 1000.0, "infer_images_per_s": 2000.0}
        for b in BACKBONE_NAMES
    ]
    rows.append({**rows[0], "backbone": "mobilenetv3large", "precision": "mixed", "compile_s": 20.0,
                 "train_images_per_s": 2000.0, "infer_images_per_s": 4000.0})
    rows.append({**rows[0], "backbone": "densenet201", "precision": "mixed", "compile_s": 1.0,
                 "train_images_per_s": 500.0, "infer_images_per_s": 9000.0})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_training_term_and_last_line(time_to_paper, tmp_path: Path) -> None:
    out = io.StringIO()
    hours = time_to_paper.main(["--bench", str(_bench(tmp_path / "bench.csv"))], out=out)
    text = out.getvalue()
    assert (time_to_paper.TRAIN_IMAGES, time_to_paper.VAL_IMAGES, time_to_paper.AUGMENTED_TRAIN_IMAGES) == (8962, 996, 16121)
    # --matrix paper: 4 augmented cells at 1,000 images/s; 9 metadata cells, MobileNetV3Large's
    # at its faster 2,000; 10 ablation rows of MobileNetV3Large at 2,000.
    per_epoch = 4 * 16121 / 1000 + 8 * 8962 / 1000 + 8962 / 2000 + 10 * 8962 / 2000
    assert per_epoch == pytest.approx(185.471)
    assert f"80 epochs: training 80 x 185.471 = {80 * per_epoch:,.0f} s = {80 * per_epoch / 3600:.2f} h" in text
    assert "mobilenetv3large metadata" in text and "8,962 / 2,000.00 = 4.481" in text
    # Validation at the training figure's precision, compile once per cell.
    validation = 12 * 996 / 2000 + 11 * 996 / 4000
    compile_s = 12 * 10.0 + 11 * 20.0
    assert hours == pytest.approx((80 * per_epoch + 80 * validation + compile_s) / 3600)
    assert "checkpoints unmeasured (counted as 0)" in text
    last = text.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"paper_gpu_hours: \d+\.\d{2}", last)
    assert last == f"paper_gpu_hours: {hours:.2f}"


def test_measured_epochs_replace_the_bench_for_their_cells(time_to_paper, tmp_path: Path) -> None:
    epochs = tmp_path / "epochs.csv"
    pd.DataFrame([{"backbone": "densenet201", "recipe": "metadata", "precision": "mixed", "train_images_per_s": 800.0,
                   "first_epoch_s": 100.0, "epoch_s": 11.2, "first_val_s": 5.0, "val_s": 1.0, "n_val_images": 996}]).to_csv(epochs, index=False)
    out = io.StringIO()
    time_to_paper.main(["--bench", str(_bench(tmp_path / "bench.csv")), "--epochs-csv", str(epochs), "--checkpoint-s", "0.5"], out=out)
    text = out.getvalue()
    line = next(row for row in text.splitlines() if row.startswith("densenet201 metadata"))
    assert "8,962 / 800.00 = 11.203" in line and "996 / 996.00 = 1.000" in line and "100.00 - 11.20 + 5.00 - 1.00 = 92.80" in line
    assert "checkpoints 80 x 23 x 0.5 = 920 s" in text
