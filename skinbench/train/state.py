"""A cell's resume state: ``<cell>/checkpoint/``, saved at the end of every epoch.

Keras' ``BackupAndRestore`` keeps the weights and the epoch but not the callbacks' state
(ReduceLROnPlateau's and EarlyStopping's counters and best values), the best weights so far,
the history or the epoch timings, so a cell resumed with it would not end as if never stopped.
Here each save writes a new folder ``epoch-NNNN/`` holding the model's weights
(``model.npz``), the optimizer's variables (``optimizer.npz``: Adam's slots, the step counter,
the learning rate, gradient accumulators), the state of the model's random seed generators
(``seeds.npz``: dropout masks then continue as if never stopped) and ``state.json``; then
``latest.json`` is pointed at it (an atomic rename) and older folders are removed. The
best-validation-accuracy weights are a hard link to the ``model.npz`` of the epoch that set them.

A save costs the training loop only a copy of the variables to host memory: the files are
written by a background thread while the next epoch trains (``wait`` joins it; a save waits
for the one before). A kill at any moment leaves the previous complete save in force, so a
killed cell loses at most the epoch being written and resumes exactly. A full disk during a
save is one error naming the folder, the previous save kept in force.
"""

from __future__ import annotations

import copy
import errno
import math
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from skinbench.errors import RunError, SkinbenchError
from skinbench.io import read_json, write_json

#: The metric whose best epoch's weights are evaluated (METHOD.md: best validation accuracy).
SELECTION_METRIC = "val_accuracy"
#: Attributes that make up the state of ReduceLROnPlateau and EarlyStopping.
_CALLBACK_ATTRIBUTES = ("wait", "best", "cooldown_counter", "best_epoch", "stopped_epoch")
_WEIGHTS = "model.npz"
_OPTIMIZER = "optimizer.npz"
_SEEDS = "seeds.npz"
_BEST = "best.npz"


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
    accumulation: int = 1  #: micro-batches per batch (gradient accumulation) the cell trains with


@dataclass(frozen=True)
class _Snapshot:
    """Host copies of everything one save writes."""

    weights: list[np.ndarray]
    optimizer: list[np.ndarray]
    seeds: list[np.ndarray]
    state: dict
    improved: bool


class Checkpoint:
    """The folder ``<cell>/checkpoint/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._latest = self.root / "latest.json"
        self._writer: threading.Thread | None = None
        self._error: BaseException | None = None
        self.write_seconds: list[float] = []  #: wall seconds of each background write (benchmarks read them)

    def load(self) -> tuple[TrainingState, Path] | None:
        """The last complete save and its folder, or None when there is none."""
        if not self._latest.exists():
            return None
        folder = self.root / read_json(self._latest)["folder"]
        if not (folder / _WEIGHTS).exists():
            raise RunError(
                f"{folder} is a checkpoint of another skinbench version (no {_WEIGHTS}); delete {self.root} to "
                "train this cell again from its start"
            )
        return TrainingState(**read_json(folder / "state.json")), folder

    def save(self, model: keras.Model, state: TrainingState, improved: bool) -> None:
        """Save the weights, optimizer and ``state`` as the new latest epoch, in the background.

        Only the copy of the variables to host memory happens here; a previous save still being
        written is waited for first (and its error, if any, raised).
        """
        snapshot = _Snapshot(
            weights=_host(model.weights),
            optimizer=_host(model.optimizer.variables),
            seeds=_host(_seed_states(model)),
            state=copy.deepcopy(asdict(state)),
            improved=improved,
        )
        self.wait()
        self._writer = threading.Thread(target=self._write, args=(snapshot,), name="skinbench-checkpoint")
        self._writer.start()

    def wait(self) -> None:
        """Block until the save in progress is written; raise its error, if it failed."""
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _write(self, snapshot: _Snapshot) -> None:
        start = time.perf_counter()
        epoch = snapshot.state["epochs_done"]
        folder = self.root / f"epoch-{epoch:04d}"
        try:
            previous = self.load()
            shutil.rmtree(folder, ignore_errors=True)  # a save a kill left half-written
            folder.mkdir(parents=True)
            np.savez(folder / _WEIGHTS, *snapshot.weights)
            np.savez(folder / _OPTIMIZER, *snapshot.optimizer)
            np.savez(folder / _SEEDS, *snapshot.seeds)
            _link(folder / _WEIGHTS if snapshot.improved or previous is None else previous[1] / _BEST, folder / _BEST)
            write_json(folder / "state.json", snapshot.state)
            write_json(self._latest, {"folder": folder.name})
        except BaseException as exc:  # kept for wait(): the training thread raises it
            shutil.rmtree(folder, ignore_errors=True)
            self._error = _disk_full(exc, folder) or exc
            return
        for old in self.root.glob("epoch-*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
        self.write_seconds.append(time.perf_counter() - start)

    def best_weights(self) -> Path | None:
        """The best-validation-accuracy weights file of the latest save."""
        loaded = self.load()
        return loaded[1] / _BEST if loaded else None

    def load_best(self, model: keras.Model) -> None:
        """Put the best-validation-accuracy weights of the latest save into ``model``."""
        best = self.best_weights()
        if best is None:
            raise RunError(f"{self.root} holds no saved epoch to evaluate")
        _assign(model.weights, best, "model weights")

    def restore(self, model: keras.Model) -> TrainingState | None:
        """Load the latest save into ``model`` (compiled by ``trainer.compile_model``, which creates
        the optimizer variables the save fills); None when there is none."""
        loaded = self.load()
        if loaded is None:
            return None
        state, folder = loaded
        _assign(model.weights, folder / _WEIGHTS, "model weights")
        _assign(model.optimizer.variables, folder / _OPTIMIZER, "optimizer variables")
        _assign(_seed_states(model), folder / _SEEDS, "seed generator states")
        return state

    def accumulation(self) -> int | None:
        """The gradient accumulation the latest save was trained with, or None without a save."""
        loaded = self.load()
        return loaded[0].accumulation if loaded else None

    def remove(self) -> None:
        self.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _host(variables: list) -> list[np.ndarray]:
    """Each variable's current value, copied to host memory (an array of its own: a view of a
    device buffer could be donated to the next training step)."""
    arrays = [keras.ops.convert_to_numpy(v.value) for v in variables]
    return [a if a.flags.owndata and a.flags.writeable else a.copy() for a in arrays]


def _assign(variables: list, path: Path, what: str) -> None:
    """Give ``variables`` the arrays saved in ``path``, in order; RunError when they do not fit."""
    with np.load(path) as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    shapes = [tuple(v.shape) for v in variables]
    if [a.shape for a in arrays] != shapes:
        raise RunError(
            f"{path}: its {len(arrays)} {what} do not fit this model's {len(shapes)} (were the settings changed?); "
            f"delete {path.parent.parent} to train this cell again from its start"
        )
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def _disk_full(exc: BaseException, folder: Path) -> SkinbenchError | None:
    """The one line for a save that found the disk full, or None for any other error."""
    cause: BaseException | None = exc
    while cause is not None and not (isinstance(cause, OSError) and cause.errno == errno.ENOSPC):
        cause = cause.__cause__
    if cause is not None:
        return SkinbenchError(
            f"disk full while saving the checkpoint {folder}; the previous save is kept: free space and run the "
            "same command again to resume"
        )
    return None


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
