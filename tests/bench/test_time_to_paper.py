"""benchmarks/time_to_paper.py: the arithmetic on a hand-made bench, the measured epochs and
sizes it uses, the refusal of a partial bench, and its last line."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from bench_scripts import script

from skinbench.catalogue import BACKBONES, PAPER
from skinbench.train.plan import cell_seconds

FIXTURES = Path(__file__).resolve().parents[1] / "report" / "fixtures"


@pytest.fixture(scope="module")
def time_to_paper():
    with script("time_to_paper") as module:
        yield module


def _bench(path: Path, backbones=BACKBONES.names(group=PAPER)) -> Path:
    """Every backbone at its native size at 1,000 training and 2,000 inference images/s in float32,
    compile 10 s; MobileNetV3Large also faster in mixed_bfloat16 (2,000 and 4,000, compile 20 s)."""
    base = {"recipe": "metadata", "batch_size": 32, "precision": "float32", "backend": "jax", "device": "GPU",
            "compile_s": 10.0, "train_images_per_s": 1000.0, "infer_images_per_s": 2000.0, "params": 1000, "date": "2026-01-01"}
    rows = [{**base, "backbone": b, "image_size": BACKBONES[b].native_size} for b in backbones]
    if "mobilenetv3large" in backbones:
        rows.append({**base, "backbone": "mobilenetv3large", "image_size": 224, "precision": "mixed_bfloat16",
                     "compile_s": 20.0, "train_images_per_s": 2000.0, "infer_images_per_s": 4000.0})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_training_validation_compile_and_the_last_line(time_to_paper, tmp_path: Path) -> None:
    out = io.StringIO()
    hours = time_to_paper.main(["--bench", str(_bench(tmp_path / "bench.csv"))], out=out)
    text = out.getvalue()
    # 9,958 images with an age; the paper split validates on 996 and trains on whole batches of 8,962.
    assert (time_to_paper.TRAIN_IMAGES, time_to_paper.VAL_IMAGES, time_to_paper.AUGMENTED_TRAIN_IMAGES) == (8960, 996, 16096)
    assert "8,960 / 2,000.00 = 4.480" in text  # MobileNetV3Large at its faster policy
    # --matrix paper: 4 augmented cells and 8 metadata cells at 1,000; MobileNetV3Large's metadata
    # cell and the 10 ablation rows at 2,000 (validation at 4,000, compile 20 s).
    slow = 4 * (80 * (16096 / 1000 + 996 / 2000) + 10) + 8 * (80 * (8960 / 1000 + 996 / 2000) + 10)
    fast = 11 * (80 * (8960 / 2000 + 996 / 4000) + 20)
    assert hours == pytest.approx((slow + fast) / 3600)
    last = text.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"paper_gpu_hours: \d+\.\d{2}", last) and last == f"paper_gpu_hours: {hours:.2f}"
    assert "checkpoints: unmeasured (counted as 0)" in text
    assert "several cells at once (--executor local --jobs N): unmeasured" in text


def test_a_partial_bench_is_refused_naming_what_it_lacks(time_to_paper, tmp_path: Path, capsys) -> None:
    bench = _bench(tmp_path / "bench.csv", backbones=("resnet50", "mobilenetv3large"))
    with pytest.raises(SystemExit) as caught:
        time_to_paper.main(["--bench", str(bench)], out=io.StringIO())
    assert caught.value.code == 2
    message = capsys.readouterr().err
    assert "has no GPU (jax) row for densenet201, inceptionresnetv2" in message and "paper_gpu_hours" not in message


def test_measured_epochs_at_their_own_image_size_replace_the_bench(time_to_paper, tmp_path: Path) -> None:
    row = {"backbone": "densenet201", "recipe": "metadata", "dtype_policy": "float32", "train_images_per_s": 800.0,
           "first_epoch_s": 100.0, "epoch_s": 11.2, "first_val_s": 5.0, "val_s": 1.0, "n_val_images": 996}
    epochs = tmp_path / "epochs.csv"
    pd.DataFrame([{**row, "image_size": 224}, {**row, "backbone": "resnet50", "image_size": 64}]).to_csv(epochs, index=False)
    out = io.StringIO()
    time_to_paper.main(["--bench", str(_bench(tmp_path / "bench.csv")), "--epochs-csv", str(epochs)], out=out)
    lines = out.getvalue().splitlines()
    densenet = next(line for line in lines if line.startswith("densenet201 metadata"))
    assert "8,960 / 800.00 = 11.200" in densenet and "996 / 996.00 = 1.000" in densenet and densenet.endswith("92.80")
    resnet = next(line for line in lines if line.startswith("resnet50 metadata"))
    assert "8,960 / 1,000.00" in resnet  # its 64 px epochs are not the 224 px cell's


def test_finished_runs_give_the_epochs_early_stopping_left(time_to_paper, tmp_path: Path) -> None:
    bench = str(_bench(tmp_path / "bench.csv"))
    plain, measured = io.StringIO(), io.StringIO()
    base = time_to_paper.main(["--bench", bench, "--epochs", "80"], out=plain)
    with_runs = time_to_paper.main(["--bench", bench, "--epochs", "80", "--runs", str(FIXTURES / "shard-a")], out=measured)
    # The fixture's DenseNet201, InceptionResNetV2 and MobileNetV3Large metadata cells ran 3 epochs, not 80.
    figures = time_to_paper.Figures("GPU", "jax", "", "float32", 224, 1000.0, 2000.0, 10.0, None, "")
    fast = time_to_paper.Figures("GPU", "jax", "", "mixed_bfloat16", 224, 2000.0, 4000.0, 20.0, None, "")
    saved = 2 * (cell_seconds(80, 8960, 996, figures) - cell_seconds(3, 8960, 996, figures))
    saved += cell_seconds(80, 8960, 996, fast) - cell_seconds(3, 8960, 996, fast)
    assert (base - with_runs) * 3600 == pytest.approx(saved)
    assert "measured in" in measured.getvalue()


def test_several_cells_at_once_get_a_line_of_their_own(time_to_paper, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.csv"
    pd.DataFrame([{"gpu_sharing": 1, "epoch_images": 1000, "epoch_s": 1.0},
                  {"gpu_sharing": 2, "epoch_images": 1000, "epoch_s": 1.6},
                  {"gpu_sharing": 2, "epoch_images": 1000, "epoch_s": 1.6}]).to_csv(jobs, index=False)
    out = io.StringIO()
    hours = time_to_paper.main(["--bench", str(_bench(tmp_path / "bench.csv")), "--jobs-csv", str(jobs)], out=out)
    assert f"2 cells at once ran 1.25 times one cell's throughput: the paper's study at 80 epochs in {hours / 1.25:.2f} h" in out.getvalue()
