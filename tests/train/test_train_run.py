"""A tiny end-to-end run: two cells write every record, consistently; a rerun retrains nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from skinbench.classes import CLASSES, ISIC_CODE, ISIC_COLUMNS
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.predictions import read_predictions

from conftest import TWO_CELLS as CELLS
from conftest import TWO_CELLS_ARGS
CONFIG_KEYS = {
    "cell_id", "backbone", "recipe", "ablation", "seed", "split", "image_size", "epochs", "batch_size", "weights",
    "attention", "precision", "jit", "early_stopping", "dataset", "backend",
}
TIMING_KEYS = {
    "first_epoch_s", "epoch_s", "train_images_per_s", "eval_s", "latency_ms_b1", "latency_ms_b32", "epochs_run",
    "n_train_images", "replicas",
}


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_run_folder_has_data_json_and_the_split(two_cells: Path, tiny_data: Path) -> None:
    data = read(two_cells / "data.json")
    assert data["name"] == "ham10000" and data["root"] == str(tiny_data)
    assert sum(data["class_counts"].values()) == data["n_images"]
    split = pd.read_csv(two_cells / "split-paper-s0.csv")
    assert set(split["part"]) == {"train", "val"} and len(split) == data["n_images"]
    sizes = data["splits"]["paper-s0"]
    assert sum(sizes["val"].values()) == (split["part"] == "val").sum()


@pytest.mark.parametrize("cell_id", CELLS)
def test_cell_writes_every_record_consistently(two_cells: Path, cell_id: str) -> None:
    folder = two_cells / cell_id
    assert read(folder / "status.json")["status"] == "finished"
    assert not (folder / "checkpoint").exists()

    config = read(folder / "config.json")
    assert CONFIG_KEYS <= set(config) and config["cell_id"] == cell_id
    assert (config["image_size"], config["epochs"], config["weights"]) == (32, 2, "none")
    assert config["early_stopping"]["monitor"] == "val_accuracy"

    env = read(folder / "env.json")
    assert env["backend"] == config["backend"] and env["versions"]["keras"] and env["ram_gib"] > 0

    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"} <= set(history.columns)

    # predictions: one row per image of the reported part (val, for the paper split), true labels.
    split = pd.read_csv(folder.parent / "split-paper-s0.csv")
    val_ids = set(split.loc[split["part"] == "val", "image_id"])
    predictions = pd.read_csv(folder / "predictions.csv")
    assert list(predictions.columns) == ["image", *ISIC_COLUMNS, "label"]
    assert set(predictions["image"]) == val_ids and len(predictions) == len(val_ids)
    assert predictions[list(ISIC_COLUMNS)].sum(axis=1).round(3).eq(1).all()
    metadata = pd.read_csv(Path(config["dataset"]["root"]) / "HAM10000_metadata.csv").set_index("image_id")
    assert (predictions["label"] == predictions["image"].map(lambda i: ISIC_CODE[metadata.loc[i, "dx"]])).all()

    # metrics: exactly what the predictions file gives.
    metrics = read(folder / "metrics.json")
    assert metrics["part"] == "val" and metrics["n_images"] == len(predictions)
    _, y_true, probs = read_predictions(folder / "predictions.csv")
    again = compute_metrics(y_true, probs)
    for key in ("accuracy", "balanced_accuracy", "paper_balanced_accuracy", "macro_f1", "macro_auc"):
        assert metrics[key] == pytest.approx(again[key])
    assert set(metrics["per_class"]) == set(CLASSES)

    model = read(folder / "model.json")
    assert model["params"] > 0 and model["depth"] > 0

    timing = read(folder / "timing.json")
    assert TIMING_KEYS <= set(timing)
    assert timing["epochs_run"] == 2 and timing["replicas"] == 1
    assert timing["first_epoch_s"] > 0 and timing["epoch_s"] > 0 and timing["latency_ms_b1"] > 0


def test_augmented_cell_trains_on_more_images_than_the_split(two_cells: Path) -> None:
    split = pd.read_csv(two_cells / "split-paper-s0.csv")
    n_train = int((split["part"] == "train").sum())
    augmented = read(two_cells / CELLS[0] / "timing.json")["n_train_images"]
    assert augmented > n_train
    assert read(two_cells / CELLS[1] / "timing.json")["n_train_images"] == n_train
    assert read(two_cells / CELLS[1] / "config.json")["metadata"] is True
    assert read(two_cells / CELLS[0] / "config.json")["metadata"] is False


def test_rerun_skips_finished_cells(two_cells: Path, run_args: list[str], invoke) -> None:
    stamps = {cell: (two_cells / cell / "status.json").stat().st_mtime_ns for cell in CELLS}
    result = invoke([*TWO_CELLS_ARGS, "--out", str(two_cells), *run_args])
    assert result.exit_code == 0, result.output
    assert "0 cell(s) trained, 2 already finished" in result.output
    assert stamps == {cell: (two_cells / cell / "status.json").stat().st_mtime_ns for cell in CELLS}


def test_rerun_with_other_settings_is_refused(two_cells: Path, run_args: list[str], invoke) -> None:
    result = invoke([*TWO_CELLS_ARGS, "--epochs", "3", "--out", str(two_cells), *run_args])
    assert result.exit_code == 2
    assert "other settings" in result.output and "epochs: 2 -> 3" in result.output


def test_ablation_trains_the_cut_rows_with_and_without_metadata(tmp_path: Path, run_args: list[str], invoke) -> None:
    out = tmp_path / "ablation"
    result = invoke(["ablate", "mobilenetv3", "--cuts", "230", "--epochs", "1", "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output

    with_metadata, image_only = out / "mobilenetv3large-ablation-cut230-paper-s0", out / "mobilenetv3large-ablation-cut230-nometa-paper-s0"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted([with_metadata.name, image_only.name])
    for folder, metadata in ((with_metadata, True), (image_only, False)):
        config = read(folder / "config.json")
        assert (config["cut"], config["metadata"], config["attention"]) == ("cut230", metadata, "paper")
        assert read(folder / "status.json")["status"] == "finished"
    # The only difference between the rows is the metadata input and its Dense(4096) branch.
    assert read(with_metadata / "model.json")["params"] > read(image_only / "model.json")["params"]
    split = pd.read_csv(out / "split-paper-s0.csv")
    val = sorted(split.loc[split["part"] == "val", "image_id"])
    for folder in (with_metadata, image_only):
        assert sorted(pd.read_csv(folder / "predictions.csv")["image"]) == val
