"""A tiny end-to-end run: two cells write every record, consistently; a rerun retrains nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import pandas as pd
import pytest

from skinbench.classes import CLASSES, ISIC_CODE, ISIC_COLUMNS
from skinbench.data.ham10000 import load_dataset
from skinbench.data.metadata import MetadataEncoder
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.predictions import read_predictions
from skinbench.records import (
    FINISHED,
    HISTORY_COLUMNS,
    CellConfig,
    CellMetrics,
    CellStatus,
    DataInfo,
    ScheduleRecord,
    Environment,
    ModelSummary,
    Timing,
    read_history,
)
from train_helpers import TWO_CELLS as CELLS
from train_helpers import TWO_CELLS_ARGS
from tiny_backbone import CLI_WITH_TINY

HERE = Path(__file__).resolve().parent


def test_run_folder_has_data_json_and_the_split(two_cells: Path, tiny_data: Path) -> None:
    data = DataInfo.read(two_cells)
    assert data.name == "ham10000" and data.root == str(tiny_data)
    assert sum(data.class_counts.values()) == data.n_images
    split = pd.read_csv(two_cells / "split-paper-s0.csv")
    assert set(split["part"]) == {"train", "val"} and len(split) == data.n_images
    sizes = data.splits["paper-s0"]
    assert sum(sizes["val"].values()) == (split["part"] == "val").sum()


@pytest.mark.parametrize("cell_id", CELLS)
def test_cell_writes_every_record_consistently(two_cells: Path, cell_id: str) -> None:
    folder = two_cells / cell_id  # every read below also checks the file's keys and version
    assert CellStatus.read(folder).status == FINISHED
    assert not (folder / "checkpoint").exists()

    config = CellConfig.read(folder)
    assert config.cell_id == cell_id and (config.backbone, config.split, config.seed) == ("tiny", "paper", 0)
    assert (config.image_size, config.epochs, config.weights) == (32, 2, "none")
    weights = "balanced" if config.recipe == "metadata" else None
    assert config.schedule == ScheduleRecord(
        "paper", "the paper's text", None, 1e-3, True, weights, None, "val_accuracy", 25, 0.0
    ) and config.deterministic is False
    assert config.bn_momentum is None
    assert config.dataset.n_images == DataInfo.read(two_cells).n_images

    env = Environment.read(folder)
    assert env.backend == config.backend == keras.backend.backend() and env.versions["keras"] == keras.__version__

    history = read_history(folder)
    assert list(history["epoch"]) == [1, 2] and list(history.columns) == list(HISTORY_COLUMNS)

    # predictions: one row per image of the reported part (val, for the paper split), true labels.
    split = pd.read_csv(folder.parent / "split-paper-s0.csv")
    val_ids = set(split.loc[split["part"] == "val", "image_id"])
    predictions = pd.read_csv(folder / "predictions.csv")
    assert list(predictions.columns) == ["image", *ISIC_COLUMNS, "label"]
    assert set(predictions["image"]) == val_ids and len(predictions) == len(val_ids)
    assert predictions[list(ISIC_COLUMNS)].sum(axis=1).round(3).eq(1).all()
    metadata = pd.read_csv(Path(config.dataset.root) / "HAM10000_metadata.csv").set_index("image_id")
    assert (predictions["label"] == predictions["image"].map(lambda i: ISIC_CODE[metadata.loc[i, "dx"]])).all()
    # the validation part's predictions, what calibration and operating points are fitted on: here the same part
    assert (folder / "predictions-val.csv").read_text() == (folder / "predictions.csv").read_text()

    # metrics: exactly what the predictions file gives.
    metrics = CellMetrics.read(folder)
    assert metrics.part == "val" and metrics.n_images == len(predictions)
    _, y_true, probs = read_predictions(folder / "predictions.csv")
    again = compute_metrics(y_true, probs)
    for key in ("accuracy", "balanced_accuracy", "paper_balanced_accuracy", "macro_f1", "macro_auc"):
        assert metrics.values[key] == pytest.approx(again[key])
    assert set(metrics.values["per_class"]) == set(CLASSES)

    model = ModelSummary.read(folder)
    assert model.params == model.trainable_params + model.non_trainable_params and model.flops == 2 * model.macs

    timing = Timing.read(folder)
    assert (timing.epochs_run, timing.replicas, timing.traced_epochs) == (2, 1, (1,))
    assert timing.first_epoch_s == history["seconds"].iloc[0] and timing.epoch_s == history["seconds"].iloc[1]
    assert timing.best_epoch == int(history["val_accuracy"].idxmax()) + 1


def test_augmented_cell_trains_on_more_images_than_the_split(two_cells: Path) -> None:
    split = pd.read_csv(two_cells / "split-paper-s0.csv")
    n_train = int((split["part"] == "train").sum())
    assert Timing.read(two_cells / CELLS[0]).n_train_images == round(n_train * 18015 / 10015)
    assert Timing.read(two_cells / CELLS[1]).n_train_images == n_train
    assert CellConfig.read(two_cells / CELLS[1]).metadata is True
    assert CellConfig.read(two_cells / CELLS[0]).metadata is False


def test_rerun_skips_finished_cells(two_cells: Path, run_args: list[str], invoke) -> None:
    stamps = {cell: (two_cells / cell / "status.json").stat().st_mtime_ns for cell in CELLS}
    result = invoke([*TWO_CELLS_ARGS, "--out", str(two_cells), *run_args])
    assert result.exit_code == 0, result.output
    assert f"all 2 cells of {two_cells} are finished; nothing to do" in result.output
    assert stamps == {cell: (two_cells / cell / "status.json").stat().st_mtime_ns for cell in CELLS}


def test_a_rerun_with_nothing_to_do_says_so_before_importing_keras(two_cells: Path, run_args: list[str]) -> None:
    """The answer comes from the run folder's records: the process never imports Keras or TensorFlow
    (``-X importtime`` lists every module it imports) and draws no progress bar."""
    args = [*TWO_CELLS_ARGS, "--out", str(two_cells), *run_args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", CLI_WITH_TINY, *args], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "skinbench" in imported and not imported & {"keras", "tensorflow", "jax"}, sorted(imported & {"keras", "tensorflow", "jax"})
    said = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert said == [f"all 2 cells of {two_cells} are finished; nothing to do (their report: skinbench report "
                    f"{two_cells}; to train a cell again, delete its folder)"], said
    assert done.stdout == ""


def test_rerun_with_other_settings_is_refused(two_cells: Path, run_args: list[str], invoke) -> None:
    result = invoke([*TWO_CELLS_ARGS, "--epochs", "3", "--out", str(two_cells), *run_args])
    assert result.exit_code == 2
    assert "other settings" in result.output and "epochs: 2 -> 3" in result.output


def test_ablation_trains_the_cut_rows_with_and_without_metadata(tmp_path: Path, tiny_data: Path, run_args: list[str], invoke) -> None:
    out = tmp_path / "ablation"
    result = invoke(["ablate", "mobilenetv3", "--cuts", "230", "--epochs", "1", "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output

    with_metadata, image_only = out / "mobilenetv3large-ablation-cut230-paper-s0", out / "mobilenetv3large-ablation-cut230-nometa-paper-s0"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted([with_metadata.name, image_only.name])
    for folder, metadata in ((with_metadata, True), (image_only, False)):
        config = CellConfig.read(folder)
        assert (config.cut, config.metadata, config.attention) == ("cut230", metadata, "paper")
        assert CellStatus.read(folder).status == FINISHED
    # The only difference between the rows is the metadata input and its Dense(4096) branch.
    split = pd.read_csv(out / "split-paper-s0.csv")
    train = load_dataset(tiny_data).frame.merge(split[split["part"] == "train"], on="image_id")
    features = MetadataEncoder().fit(train).n_features
    extra = ModelSummary.read(with_metadata).params - ModelSummary.read(image_only).params
    assert extra == features * 4096 + 4096 + 4096 * 7  # Dense(4096) on the metadata, and its 7-way weights
    val = sorted(split.loc[split["part"] == "val", "image_id"])
    for folder in (with_metadata, image_only):
        assert sorted(pd.read_csv(folder / "predictions.csv")["image"]) == val
