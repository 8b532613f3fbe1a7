"""A cell's resume state: ``<cell>/checkpoint/``, saved at the end of every epoch.

Keras' ``BackupAndRestore`` keeps the weights and the epoch but not the callbacks' state
(ReduceLROnPlateau's and EarlyStopping's counters and best values), the best weights so far,
the history or the epoch timings, so a cell resumed with it would not end as if never stopped.
Here each save writes a new folder ``epoch-NNNN/`` holding the model's weights together with
the optimizer's variables (``model.save_weights`` stores both; the learning rate is one of
them), the state of the model's random seed generators (dropout masks then continue as
if never stopped) and ``state.json``; then ``latest.json`` is pointed at it (an atomic rename) and older
folders are removed. A kill at any moment leaves the previous complete save in force. The
best-validation-accuracy weights are a hard link to the weights of the epoch that set them.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from skinbench.io import read_json, write_json

#: The metric whose best epoch's weights are evaluated (METHOD.md: best validation accuracy).
SELECTION_METRIC = "val_accuracy"
#: Attributes that make up the state of ReduceLROnPlateau and EarlyStopping.
_CALLBACK_ATTRIBUTES = ("wait", "best", "cooldown_counter", "best_epoch", "stopped_epoch")
_WEIGHTS = "model.weights.h5"
_BEST = "best.weights.h5"
_SEEDS = "seed_generators.npz"


@dataclass
class TrainingState:
    """What a resumed cell needs besides the weights."""

    epochs_done: int = 0
    done: bool = False  #: training ended (early stop or last epoch): only evaluation is left
    history: list[dict] = field(default_factory=list)
    callbacks: dict[str, dict] = field(default_factory=dict)
    best_epoch: int | None = None  #: 1-based epoch of the best selection metric
    best_value: float | None = None
    traced_epochs: list[int] = field(default_factory=list)  #: 1-based epochs whose time includes tracing


class Checkpoint:
    """The folder ``<cell>/checkpoint/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._latest = self.root / "latest.json"

    def load(self) -> tuple[TrainingState, Path] | None:
        """The last complete save and its folder, or None when there is none."""
        if not self._latest.exists():
            return None
        folder = self.root / read_json(self._latest)["folder"]
        return TrainingState(**read_json(folder / "state.json")), folder

    def save(self, model: keras.Model, state: TrainingState, improved: bool) -> None:
        """Save the weights (and optimizer) and ``state`` as the new latest epoch."""
        previous = self.load()
        folder = self.root / f"epoch-{state.epochs_done:04d}"
        shutil.rmtree(folder, ignore_errors=True)  # a save a kill left half-written
        folder.mkdir(parents=True)
        model.save_weights(folder / _WEIGHTS)
        np.savez(folder / _SEEDS, *[v.numpy() for v in _seed_states(model)])
        if improved or previous is None:
            _link(folder / _WEIGHTS, folder / _BEST)
        else:
            _link(previous[1] / _BEST, folder / _BEST)
        write_json(folder / "state.json", asdict(state))
        write_json(self._latest, {"folder": folder.name})
        for old in self.root.glob("epoch-*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)

    def best_weights(self) -> Path | None:
        """The best-validation-accuracy weights file of the latest save."""
        loaded = self.load()
        return loaded[1] / _BEST if loaded else None

    def restore(self, model: keras.Model) -> TrainingState | None:
        """Load the latest save into ``model`` (compiled by ``trainer.compile_model``, which creates
        the optimizer variables the save fills); None when there is none."""
        loaded = self.load()
        if loaded is None:
            return None
        state, folder = loaded
        model.load_weights(folder / _WEIGHTS)
        with np.load(folder / _SEEDS) as saved:
            for variable, key in zip(_seed_states(model), saved.files, strict=True):
                variable.assign(saved[key])
        return state

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _seed_states(model: keras.Model) -> list:
    """The model's variables that are not weights: its layers' random seed generator states."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


class StopRequest:
    """Set (by the Ctrl-C handler) to stop training once the current epoch is saved."""

    def __init__(self) -> None:
        self.requested = False


class EpochState(keras.callbacks.Callback):
    """Per-epoch bookkeeping of a cell: epoch order, timing, history, best epoch, checkpoint.

    Must come after the ReduceLROnPlateau and EarlyStopping callbacks in ``fit``'s list: it
    restores their state after their ``on_train_begin`` has reset it, and saves it after their
    ``on_epoch_end`` has updated it.
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        state: TrainingState,
        *,
        stateful: dict[str, keras.callbacks.Callback],
        train_batches: Any,
        stop: StopRequest,
        validation: Any,
    ) -> None:
        super().__init__()
        self.checkpoint = checkpoint
        self.state = state
        self.stateful = stateful
        self.train_batches = train_batches
        self.stop = stop
        self.validation = validation  #: trainer.Validation: when training ended and how long validation took
        self.nan_epoch: int | None = None
        self.interrupted = False
        self._first_epoch_of_fit = True

    def on_train_begin(self, logs=None) -> None:
        for name, callback in self.stateful.items():
            for attribute, value in self.state.callbacks.get(name, {}).items():
                setattr(callback, attribute, value)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.train_batches.set_epoch(epoch)
        self._learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        train_seconds = self.validation.train_end - self._start
        number = epoch + 1
        if not all(math.isfinite(float(logs.get(key, 0.0))) for key in ("loss", "val_loss")):
            self.nan_epoch = number  # keep the last good save; the cell fails
            self.model.stop_training = True
            return
        row = {"epoch": number}
        row.update({key: float(logs[key]) for key in ("loss", "accuracy", "val_loss", "val_accuracy") if key in logs})
        row.update(learning_rate=float(f"{self._learning_rate:.6g}"), seconds=round(train_seconds, 4), val_seconds=round(self.validation.seconds, 4))
        state = self.state
        state.history.append(row)
        if self._first_epoch_of_fit:
            state.traced_epochs.append(number)
            self._first_epoch_of_fit = False
        value = logs.get(SELECTION_METRIC)
        improved = value is not None and (state.best_value is None or float(value) > state.best_value)
        if improved:
            state.best_epoch, state.best_value = number, float(value)
        state.epochs_done = number
        state.done = bool(self.model.stop_training) or number >= self.params["epochs"]
        state.callbacks = {
            name: {a: _plain(getattr(cb, a)) for a in _CALLBACK_ATTRIBUTES if hasattr(cb, a)}
            for name, cb in self.stateful.items()
        }
        self.checkpoint.save(self.model, state, improved)
        if self.stop.requested and not state.done:
            self.interrupted = True
            self.model.stop_training = True


def _plain(value: Any) -> Any:
    """Callback attributes as JSON values (numpy scalars become floats)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return float(value)
