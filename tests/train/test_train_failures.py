"""Failing cells are recorded and the run goes on; user mistakes get one line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from skinbench.records import FAILED, FINISHED, CellStatus

FAILING, PASSING = "tiny-metadata-paper-s0", "tiny-metadata-paper-s1"


def test_failed_cell_is_recorded_and_the_others_finish(tmp_path: Path, run_args: list[str], invoke, monkeypatch) -> None:
    import skinbench.models.build as build

    real = build.build_model

    def fail_once(*args, **kwargs):  # the first cell built (seed 0) fails
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError(message)
        return real(*args, **kwargs)

    calls: list = []
    message = "simulated failure"
    monkeypatch.setattr(build, "build_model", fail_once)
    out = tmp_path / "run"
    args = ["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--seeds", "0,1", "--epochs", "1",
            "--out", str(out), *run_args]
    result = invoke(args)
    assert result.exit_code == 2
    assert "1 of 2 cells failed" in result.output and FAILING in result.output
    status = CellStatus.read(out / FAILING)
    assert status.status == FAILED and status.error == f"RuntimeError: {message}" and "RuntimeError" in status.traceback
    assert CellStatus.read(out / PASSING).status == FINISHED

    calls.clear()
    message = "still failing"
    result = invoke(args)  # the rerun retries the failed cell only
    assert result.exit_code == 2 and len(calls) == 1
    assert CellStatus.read(out / FAILING).error == f"RuntimeError: {message}"


class ResourceExhaustedError(Exception):
    """What TensorFlow raises when the device has no memory left (recognised by its name)."""


def test_out_of_memory_is_retried_once_with_gradient_accumulation(tmp_path: Path, run_args: list[str], invoke, monkeypatch) -> None:
    """A cell whose batch of 16 does not fit trains in 4 micro-batches of 4, and the records say so."""
    import skinbench.train.trainer as trainer
    from skinbench.records import CellConfig, Timing

    real = trainer._fit
    seen: list[tuple[int, object]] = []

    def fit_on_a_small_device(model, inputs, *args, **kwargs):
        seen.append((inputs.train.batch_size, model.optimizer.gradient_accumulation_steps))
        if inputs.train.batch_size > 4:
            raise ResourceExhaustedError("OOM when allocating tensor with shape[16,32,32,3]")
        return real(model, inputs, *args, **kwargs)

    monkeypatch.setattr(trainer, "_fit", fit_on_a_small_device)
    out = tmp_path / "run"
    result = invoke(["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--epochs", "2", "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output
    assert seen == [(16, None), (4, 4)]
    cell = out / FAILING
    timing = Timing.read(cell)
    assert (timing.gradient_accumulation, timing.micro_batch_size) == (4, 4)
    assert timing.epoch_images == timing.n_train_images // 16 * 16  # the same images per epoch as at batch 16
    assert CellConfig.read(cell).gradient_accumulation is None  # asked for: automatic
    assert CellStatus.read(cell).status == FINISHED

    seen.clear()  # a cell asked to accumulate is never retried: it fails naming the error
    result = invoke(["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--epochs", "1", "--gradient-accumulation", "2",
                     "--out", str(tmp_path / "fixed"), *run_args])
    assert result.exit_code == 2 and seen == [(8, 2)]
    assert "ResourceExhaustedError" in CellStatus.read(tmp_path / "fixed" / FAILING).error


def _break_one_image(tmp_path: Path, tiny_data: Path) -> tuple[Path, Path]:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    broken = sorted(data.rglob("*.jpg"))[0]
    broken.write_bytes(b"not a jpeg")
    return data, broken


def test_unreadable_image_with_strict_fails_the_cell_naming_it(tmp_path: Path, tiny_data: Path, run_args: list[str], invoke) -> None:
    data, broken = _break_one_image(tmp_path, tiny_data)
    out = tmp_path / "run"
    args = [*run_args, "--data-dir", str(data), "--strict"]  # the last --data-dir wins
    result = invoke(["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--out", str(out), *args])
    assert result.exit_code == 2 and "1 of 1 cells failed" in result.output
    status = CellStatus.read(out / FAILING)
    assert status.status == FAILED and broken.stem in status.error and "cannot be read" in status.error


def test_unreadable_image_is_left_out_and_named_without_strict(tmp_path: Path, tiny_data: Path, run_args: list[str], invoke) -> None:
    import pandas as pd

    data, broken = _break_one_image(tmp_path, tiny_data)
    out = tmp_path / "run"
    args = [*run_args, "--data-dir", str(data)]
    result = invoke(["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    assert broken.stem in result.output and "could not be read" in result.output
    assert CellStatus.read(out / FAILING).status == FINISHED
    split = pd.read_csv(next(out.glob("split-*.csv")))
    reported = split[split["part"] == "val"]
    predictions = pd.read_csv(out / FAILING / "predictions.csv")
    assert broken.stem not in set(predictions["image"])
    assert len(predictions) == len(reported) - int(broken.stem in set(reported["image_id"]))


def test_nan_loss_fails_the_cell_and_keeps_the_last_good_save(tmp_path: Path) -> None:
    from skinbench.config import Settings
    from skinbench.data.pipeline import Batches
    from skinbench.train.state import StopRequest
    from skinbench.train.inputs import CellInputs
    from skinbench.train.trainer import CellFailed, train_cell

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 7, 48)
    batches = Batches(images, np.arange(48), labels, batch_size=16, seed=0)

    def build() -> keras.Model:
        image = keras.Input((8, 8, 3), dtype="uint8", name="image")
        flat = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(image))
        poisoned = keras.layers.Dense(7, kernel_initializer=keras.initializers.Constant(np.nan), activation="softmax")
        return keras.Model({"image": image}, poisoned(flat))

    evaluation = Batches(images, np.arange(48), labels, batch_size=16, shuffle=False)
    inputs = CellInputs(batches, evaluation, labels, evaluation, "val", [str(i) for i in range(48)], labels, 48, None, "crop", None)
    with pytest.raises(CellFailed, match="NaN in epoch 1"):
        settings = Settings(epochs=2)
        train_cell(build, inputs, tmp_path, seed=0, settings=settings, schedule=settings.schedule_for("augmented"),
                   stop=StopRequest())
    assert not (tmp_path / "checkpoint" / "latest.json").exists()


def test_missing_dataset_is_one_clear_line(invoke) -> None:
    result = invoke(["run", "--matrix", "paper", "--quiet"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert message.startswith("error: no HAM10000 folder given")
    for hint in ("--data-dir", "10.7910/DVN/DBW86T", "ISIC 2018", "--dataset synthetic"):
        assert hint in message
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--data-dir", "/no/such/folder"], "is not a folder"),
        (["--shard", "3/2"], "--shard 3/2"),
        (["--matrix", "huge"], "--matrix must be one of"),
        (["--backbones", "resnet9000"], "unknown resnet9000"),
        (["--dataset", "synthetic", "--precision", "half"], "--precision must be"),
        (["--dataset", "synthetic", "--image-size", "16"], "too small"),
        (["--dataset", "synthetic", "--split", "random"], "--split must be one of"),
        (["--dataset", "synthetic", "--attention", "both"], "--attention must be one of paper, reference"),
    ],
)
def test_bad_options_exit_non_zero_with_a_message(invoke, args: list[str], fragment: str) -> None:
    result = invoke(["run", *args, "--quiet"])
    assert result.exit_code == 2, result.output
    assert fragment in " ".join(result.output.split()) and "Traceback" not in result.output


def test_ablation_refuses_an_unknown_cut(invoke) -> None:
    result = invoke(["ablate", "mobilenetv3", "--cuts", "231", "--dataset", "synthetic", "--quiet"])
    assert result.exit_code == 2 and "Table 9 has no cut at 231" in result.output


def test_isic_layout_refuses_the_metadata_recipe(tmp_path: Path, tiny_data: Path, tiny: str, invoke) -> None:
    import pandas as pd

    from skinbench.classes import ISIC_CODE, ISIC_COLUMNS

    meta = pd.read_csv(tiny_data / "HAM10000_metadata.csv")
    truth = pd.DataFrame({"image": meta["image_id"]})
    for column in ISIC_COLUMNS:
        truth[column] = (meta["dx"].map(ISIC_CODE) == column).astype(float)
    truth.to_csv(tmp_path / "ISIC2018_Task3_Training_GroundTruth.csv", index=False)
    for image in tiny_data.rglob("*.jpg"):
        (tmp_path / image.name).symlink_to(image)
    result = invoke(["run", "--allow-cpu", "--data-dir", str(tmp_path), "--backbones", "tiny", "--quiet"])
    assert result.exit_code == 2
    assert "ISIC 2018 Task 3 layout" in " ".join(result.output.split())
