"""What a run shows while it works: rich progress bars, or plain log lines with ``--quiet``.

The matrix bar counts cells done and left with the time left; the epoch bar counts the
training steps of the epoch in progress. Each finished epoch and cell also leaves one line.
"""

from __future__ import annotations

import time
from typing import Any

import keras
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from skinbench.console import err_console


def epoch_line(cell_id: str, epoch: int, epochs: int, logs: dict[str, Any], seconds: float) -> str:
    """One epoch's figures on one line."""
    figures = " ".join(
        f"{key} {float(logs[key]):.4f}" for key in ("loss", "accuracy", "val_loss", "val_accuracy") if key in logs
    )
    lr = logs.get("learning_rate")
    lr_text = f" lr {float(lr):.2g}" if lr is not None else ""
    return f"{cell_id} epoch {epoch}/{epochs}: {figures}{lr_text} ({seconds:.1f} s)"


class RunProgress:
    """Plain lines on stderr (``--quiet``); ``LiveProgress`` adds bars."""

    def __init__(self, total_cells: int) -> None:
        self.total = total_cells
        self.done = 0
        self.cell_id = ""

    def __enter__(self) -> "RunProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def log(self, message: str) -> None:
        err_console.print(message, highlight=False, markup=False, soft_wrap=True)

    def start_cell(self, cell_id: str) -> None:
        self.cell_id = cell_id
        self._cell_start = time.perf_counter()
        self.log(f"[{self.done + 1}/{self.total}] {cell_id}: training")

    def end_cell(self, outcome: str) -> None:
        self.done += 1
        minutes = (time.perf_counter() - self._cell_start) / 60
        self.log(f"[{self.done}/{self.total}] {self.cell_id}: {outcome} ({minutes:.1f} min)")

    def start_epoch(self, epoch: int, epochs: int, steps: int | None) -> None:
        self._epoch_start = time.perf_counter()

    def step(self) -> None:
        return None

    def end_epoch(self, epoch: int, epochs: int, logs: dict[str, Any]) -> None:
        self.log(epoch_line(self.cell_id, epoch, epochs, logs, time.perf_counter() - self._epoch_start))

    def callback(self) -> keras.callbacks.Callback:
        """A Keras callback that reports a cell's epochs here."""
        return _EpochReporter(self)


class LiveProgress(RunProgress):
    """rich bars for the matrix and the epoch in progress, above the same lines."""

    def __enter__(self) -> "LiveProgress":
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self._bars.__enter__()
        self._matrix = self._bars.add_task("cells", total=self.total)
        self._epoch = self._bars.add_task("epoch", total=None, visible=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.__exit__(*exc)

    def log(self, message: str) -> None:
        self._bars.console.print(message, highlight=False, markup=False, soft_wrap=True)

    def end_cell(self, outcome: str) -> None:
        super().end_cell(outcome)
        self._bars.update(self._matrix, completed=self.done)
        self._bars.update(self._epoch, visible=False)

    def start_epoch(self, epoch: int, epochs: int, steps: int | None) -> None:
        super().start_epoch(epoch, epochs, steps)
        self._bars.reset(self._epoch, total=steps, visible=True, description=f"{self.cell_id} epoch {epoch}/{epochs}")

    def step(self) -> None:
        self._bars.advance(self._epoch)


class _EpochReporter(keras.callbacks.Callback):
    """Epoch lines and the step bar. ``async_safe``: its batch end only advances a bar (rich's
    Progress takes a lock), so Keras may call it from a worker thread instead of making every
    training step wait for its loss to reach the host (on backends that allow it: JAX, torch)."""

    async_safe = True

    def __init__(self, progress: RunProgress) -> None:
        super().__init__()
        self.progress = progress

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.progress.start_epoch(epoch + 1, self.params["epochs"], self.params.get("steps"))

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.progress.step()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.progress.end_epoch(epoch + 1, self.params["epochs"], logs or {})


def make_progress(total_cells: int, *, quiet: bool) -> RunProgress:
    """Live bars on a terminal; plain lines with ``--quiet`` or when stderr is not a terminal."""
    if quiet or not err_console.is_terminal:
        return RunProgress(total_cells)
    return LiveProgress(total_cells)
