"""What a run shows while it works: rich progress bars, or plain log lines with ``--quiet``;
and what each cell leaves in its folder as it trains (progress.json, TensorBoard logs).

The matrix bar counts cells done and left with the time left; the epoch bar counts the
training steps of the epoch in progress. Each finished epoch and cell also leaves one line.
Cells that run as jobs of an executor (``train.executors``) are followed through their
progress.json and status.json: one line when a cell starts, per epoch and when it ends.

progress.json (``records.CellProgress``) is written when a cell starts and rewritten after
every epoch, so ``skinbench status`` can show a cell that runs on another machine.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from skinbench.console import err_console
from skinbench.records import CellProgress, RecordError
from skinbench.train.state import TrainingState


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

    # Cells running as jobs in other processes (train.executors follows their files).

    def job_started(self, cell_id: str, where: str) -> None:
        self.log(f"{cell_id}: running ({where})")

    def job_epoch(self, cell_id: str, epochs: int, row: dict[str, Any]) -> None:
        self.log(epoch_line(cell_id, int(row["epoch"]), epochs, row, float(row.get("seconds", 0.0))))

    def job_ended(self, cell_id: str, outcome: str) -> None:
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {cell_id}: {outcome}")


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

    def job_ended(self, cell_id: str, outcome: str) -> None:
        super().job_ended(cell_id, outcome)
        self._bars.update(self._matrix, completed=self.done)


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


# progress.json: where a cell runs and how far it is.

@dataclass(frozen=True)
class Where:
    """Where a cell runs: progress.json's executor, host, pid, GPU, sharing and job id."""

    executor: str = "inline"
    host: str = ""
    pid: int = 0
    gpu: str | None = None
    gpu_sharing: int = 1
    job_id: str | None = None

    @classmethod
    def here(cls, executor: str = "inline", *, gpu_sharing: int = 1, job_id: str | None = None) -> "Where":
        """This process (its GPU is CUDA_VISIBLE_DEVICES, when set)."""
        gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
        return cls(executor, socket.gethostname(), os.getpid(), gpu or None, gpu_sharing, job_id)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def progress_record(
    state: TrainingState, max_epochs: int, phase: str, where: Where, started_at: str, resumed_from: int
) -> CellProgress:
    """progress.json from a cell's training state (``train.state.TrainingState``)."""
    history = state.history
    seconds = [float(row.get("seconds", 0.0)) + float(row.get("val_seconds", 0.0)) for row in history]
    untraced = [s for row, s in zip(history, seconds) if row["epoch"] not in state.traced_epochs]
    epoch_s = statistics.median(untraced) if untraced else (seconds[-1] if seconds else None)
    return CellProgress(
        phase=phase,
        epochs_done=state.epochs_done,
        resumed_from=resumed_from,
        max_epochs=max_epochs,
        best_epoch=state.best_epoch,
        best_val_accuracy=state.best_value,
        last_epoch=dict(history[-1]) if history else None,
        epoch_s=round(epoch_s, 4) if epoch_s is not None else None,
        train_s=round(sum(seconds), 4),
        started_at=started_at,
        updated_at=now_iso(),
        executor=where.executor,
        host=where.host,
        pid=where.pid,
        gpu=where.gpu,
        gpu_sharing=where.gpu_sharing,
        job_id=where.job_id,
    )


def read_progress(folder: Path) -> CellProgress | None:
    """A cell's progress.json, or None when absent or unreadable (it is rewritten every epoch)."""
    try:
        return CellProgress.read_if_present(folder)
    except RecordError:
        return None


def set_phase(folder: Path, phase: str) -> None:
    """Rewrite progress.json with another phase (finished, failed, requeued), when there is one."""
    import dataclasses

    progress = read_progress(folder)
    if progress is not None:
        dataclasses.replace(progress, phase=phase, updated_at=now_iso()).write(folder)


class ProgressFile(keras.callbacks.Callback):
    """Rewrites the cell's progress.json from the training state after every epoch.

    Must come after ``train.state.EpochState`` in ``fit``'s list (it reads the state that one
    updates). Where the cell runs comes from the progress.json the runner wrote when the cell
    started (this process, inline, when there is none).
    """

    def __init__(self, folder: Path, state: TrainingState, max_epochs: int) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.state = state
        self.max_epochs = max_epochs
        earlier = read_progress(self.folder)
        if earlier is None or earlier.phase != "starting":  # not written by the runner for this attempt
            self.where, self.started_at, self.resumed_from = Where.here(), now_iso(), state.epochs_done
        else:
            self.where = Where(earlier.executor, earlier.host, earlier.pid, earlier.gpu, earlier.gpu_sharing, earlier.job_id)
            self.started_at, self.resumed_from = earlier.started_at, earlier.resumed_from

    def _write(self, phase: str) -> None:
        record = progress_record(self.state, self.max_epochs, phase, self.where, self.started_at, self.resumed_from)
        record.write(self.folder)

    def on_train_begin(self, logs=None) -> None:
        self._write("training")

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._write("training")

    def on_train_end(self, logs=None) -> None:
        self._write("evaluating")


def epoch_files(folder: Path, state: TrainingState, max_epochs: int) -> list[keras.callbacks.Callback]:
    """The callbacks that leave a cell's progress in its folder after each epoch: progress.json and
    the TensorBoard logs (``train.tensorboard_log``). Put them after ``EpochState``."""
    from skinbench.train.tensorboard_log import TensorBoardLog

    return [ProgressFile(folder, state, max_epochs), TensorBoardLog(folder, state)]
