"""The per-epoch checkpoint: written in the background from host copies, exact on resume, and a
full disk is one line with the previous save kept in force."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from skinbench.config import Settings
from skinbench.data.pipeline import Batches
from skinbench.errors import RunError, SkinbenchError
from skinbench.train import state as state_module
from skinbench.train.inputs import CellInputs
from skinbench.train.state import StopRequest
from skinbench.train.trainer import train_cell

EPOCHS = 3


def _inputs() -> CellInputs:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 7, 64)
    train = Batches(images[:48], np.arange(48), labels[:48], batch_size=16, seed=0)
    val = Batches(images[48:], np.arange(16), labels[48:], batch_size=16, shuffle=False)
    return CellInputs(train, val, labels[48:], val, "val", [f"i{i}" for i in range(16)], labels[48:], 48, None, "crop", None)


def _build() -> keras.Model:
    """Dropout draws from the model's seed generators: a resume must continue their streams."""
    image = keras.Input((8, 8, 3), dtype="uint8", name="image")
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(image))
    x = keras.layers.Dropout(0.5)(keras.layers.Dense(16, activation="relu")(x))
    return keras.Model({"image": image}, keras.layers.Dense(7, activation="softmax", name="probabilities")(x))


def _train(folder: Path, stop: StopRequest | None = None) -> None:
    settings = Settings(epochs=EPOCHS, batch_size=16, keep_model=False)
    train_cell(_build, _inputs(), folder, seed=3, settings=settings, schedule=settings.schedule_for("metadata"),
               stop=stop or StopRequest())


class _StopAfter(StopRequest):
    """Asks to stop at the end of epoch ``epochs`` (what a Ctrl-C during that epoch does): the
    trainer reads the request once per epoch, after queueing the epoch's save."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.reads, self.epochs = 0, epochs

    @property
    def requested(self) -> bool:
        self.reads += 1
        return self.reads >= self.epochs

    @requested.setter
    def requested(self, value: bool) -> None:
        pass


def test_a_stopped_and_resumed_cell_ends_as_if_never_stopped(tmp_path: Path) -> None:
    _train(tmp_path / "whole")
    stopped = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        _train(stopped, _StopAfter(1))
    saved = json.loads((stopped / "checkpoint" / "latest.json").read_text())["folder"]
    assert saved == "epoch-0001" and not (stopped / "predictions.csv").exists()
    _train(stopped)
    for name in ("predictions.csv", "history.csv"):
        whole, resumed = pd.read_csv(tmp_path / "whole" / name), pd.read_csv(stopped / name)
        columns = [c for c in whole.columns if c not in ("seconds", "val_seconds")]
        pd.testing.assert_frame_equal(whole[columns], resumed[columns])


def test_a_full_disk_during_a_save_is_one_line_and_keeps_the_previous_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = np.savez
    saves: list[Path] = []

    def savez(path, *arrays):
        saves.append(Path(path))
        if "epoch-0002" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *arrays)

    monkeypatch.setattr(state_module.np, "savez", savez)
    with pytest.raises(SkinbenchError) as caught:
        _train(tmp_path)
    folder = tmp_path / "checkpoint" / "epoch-0002"
    assert str(caught.value) == (
        f"disk full while saving the checkpoint {folder}; the previous save is kept: free space and run the same "
        "command again to resume"
    )
    assert json.loads((tmp_path / "checkpoint" / "latest.json").read_text())["folder"] == "epoch-0001"
    assert not folder.exists()  # the half-written save is gone
    monkeypatch.setattr(state_module.np, "savez", real)
    _train(tmp_path)  # space freed: the same cell resumes from epoch 1 and finishes
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [1, 2, 3]


def test_a_checkpoint_of_another_version_is_refused_in_one_line(tmp_path: Path) -> None:
    old = tmp_path / "checkpoint" / "epoch-0001"
    old.mkdir(parents=True)
    (old / "model.weights.h5").write_bytes(b"h5")
    (tmp_path / "checkpoint" / "latest.json").write_text(json.dumps({"folder": "epoch-0001"}))
    with pytest.raises(RunError, match=r"checkpoint of another skinbench version .*delete .*checkpoint to train this cell again"):
        _train(tmp_path)


def test_saves_are_written_while_the_next_epoch_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The training thread only copies the variables; the files are written by another thread."""
    import threading

    writers: set[str] = set()
    real = np.savez

    def savez(path, *arrays):
        writers.add(threading.current_thread().name)
        return real(path, *arrays)

    monkeypatch.setattr(state_module.np, "savez", savez)
    _train(tmp_path)
    assert writers == {"skinbench-checkpoint"}
