"""``skinbench status``: where each cell of a run folder stands, from the folder alone.

A cell is ``finished`` or ``failed`` by its status.json; ``running`` while its progress.json
(rewritten after every epoch, ``train.progress``) says it works and no status.json is there;
``pending`` otherwise: not started yet (config.json only, maybe queued as a job of
jobs.json), requeued after a preemption, or stopped (its process on this machine is gone;
the same command resumes it from its last saved epoch). A finished cell whose files are not
whole (``records.cell_damage``) is ``damaged``, the problem in its note; the same run command
repairs it. Nothing here needs the machine the cell runs on, so it works while the jobs run
elsewhere.

Per cell: epoch k of at most n, the best validation accuracy so far, the time per epoch
(training and validation, the median of the epochs that did not compile), the training time
so far, the time left at most (the epochs left at that pace; early stopping may end sooner)
and where it runs (host, GPU, job id). Imports no Keras.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from skinbench.errors import RunError
from skinbench.records import (
    DAMAGED,
    FAILED,
    FINISHED,
    PENDING,
    CellConfig,
    CellProgress,
    CellStatus,
    DataInfo,
    JobIds,
    RecordError,
    Timing,
    cell_damage,
    read_history,
)

RUNNING = "running"
STATES = (FINISHED, DAMAGED, FAILED, RUNNING, PENDING)
#: States that change only when a command runs the cell again.
SETTLED = (FINISHED, DAMAGED, FAILED)


@dataclass(frozen=True)
class CellState:
    """One cell's line of ``skinbench status``."""

    cell_id: str
    state: str  #: finished, damaged, failed, running or pending
    epochs_done: int | None = None
    max_epochs: int | None = None
    best_val_accuracy: float | None = None
    epoch_s: float | None = None
    elapsed_s: float | None = None  #: training and validation time so far (all attempts)
    left_s: float | None = None  #: at most: the epochs left at epoch_s
    host: str | None = None
    gpu: str | None = None
    gpu_sharing: int | None = None
    job_id: str | None = None
    note: str = ""  #: the error of a failed cell; what is wrong with a damaged one; why a pending cell waits


@dataclass
class RunStatus:
    out: Path
    cells: list[CellState] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(cell.state == state for cell in self.cells)

    @property
    def done(self) -> bool:
        """No cell left running or pending."""
        return all(cell.state in SETTLED for cell in self.cells)

    @property
    def epochs(self) -> tuple[int, int]:
        """Epochs done, and the most there can be, over the cells."""
        done = sum(cell.epochs_done or 0 for cell in self.cells)
        most = sum(
            cell.epochs_done or 0 if cell.state in SETTLED else cell.max_epochs or 0 for cell in self.cells
        )
        return done, most

    @property
    def elapsed_s(self) -> float:
        return sum(cell.elapsed_s or 0.0 for cell in self.cells)

    @property
    def left_s(self) -> float | None:
        """The unfinished cells' time left, added up (None when none of them has a pace yet)."""
        lefts = [cell.left_s for cell in self.cells if cell.state in (RUNNING, PENDING) and cell.left_s is not None]
        return sum(lefts) if lefts else None


def run_status(out: Path, *, now: dt.datetime | None = None) -> RunStatus:
    """The state of every cell of the run folder ``out``."""
    out = Path(out)
    if not out.is_dir():
        raise RunError(f"{out}: no such run folder")
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        jobs = JobIds.read_if_present(out)
    except RecordError:
        jobs = None
    folders = sorted(p.parent for p in out.glob(f"*/{CellConfig.FILE}"))
    if not folders and not (out / DataInfo.FILE).exists():
        raise RunError(f"{out}: not a run folder (no {DataInfo.FILE} and no <cell>/{CellConfig.FILE})")
    status = RunStatus(out)
    for folder in folders:
        status.cells.append(cell_state(folder, jobs.cells.get(folder.name) if jobs else None, now=now))
    return status


def cell_state(folder: Path, queued_as: str | None = None, *, now: dt.datetime) -> CellState:
    """One cell's state from its folder (``queued_as``: its job id in jobs.json)."""
    cell_id = folder.name
    try:
        config = CellConfig.read(folder)
        status = CellStatus.read_if_present(folder)
    except RecordError as exc:
        return CellState(cell_id, FAILED, note=str(exc))
    progress = _progress(folder)
    where = _where(progress, queued_as)
    if status is not None and status.status == FINISHED:
        return _finished(folder, config, where)
    if status is not None:
        epochs = progress.epochs_done if progress else None
        return CellState(cell_id, FAILED, epochs, config.epochs, progress.best_val_accuracy if progress else None,
                         progress.epoch_s if progress else None, progress.train_s if progress else None, None,
                         **where, note=status.error or "")
    if progress is None:
        note = f"queued as job {queued_as}" if queued_as else "not started"
        return CellState(cell_id, PENDING, 0, config.epochs, **where, note=note)
    left = (config.epochs - progress.epochs_done) * progress.epoch_s if progress.epoch_s is not None else None
    elapsed = progress.train_s
    state, note = RUNNING, progress.phase
    if progress.phase == "requeued":
        state, note = PENDING, "requeued (preempted or out of time); resumes from its last saved epoch"
    elif progress.phase not in ("starting", "training", "evaluating"):
        state, note = PENDING, f"{progress.phase} without status.json; the same command resumes it"
    elif progress.host == socket.gethostname() and not _alive(progress.pid):
        state = PENDING
        note = f"stopped at epoch {progress.epochs_done} (process {progress.pid} is gone); the same command resumes it"
    elif progress.phase == "training":
        updated = _time(progress.updated_at)
        if updated is not None:
            elapsed += max(0.0, (now - updated).total_seconds())  # the epoch in progress
    return CellState(cell_id, state, progress.epochs_done, config.epochs, progress.best_val_accuracy,
                     progress.epoch_s, elapsed, left, **where, note=note)


def _finished(folder: Path, config: CellConfig, where: dict) -> CellState:
    damage = cell_damage(folder)
    if damage:
        return CellState(folder.name, DAMAGED, None, config.epochs, **where, note=next(iter(damage.values())))
    history = read_history(folder)
    timing = Timing.read_if_present(folder)
    epochs = best = epoch_s = elapsed = None
    if history is not None and len(history):
        seconds = (history["seconds"] + history["val_seconds"]).tolist()
        traced = set(timing.traced_epochs) if timing is not None else {1}
        untraced = [s for e, s in zip(history["epoch"], seconds) if e not in traced]
        epochs, best = len(history), float(history["val_accuracy"].max())
        epoch_s, elapsed = statistics.median(untraced or seconds), float(sum(seconds))
    if timing is not None and timing.gpu_sharing:
        where = {**where, "gpu_sharing": timing.gpu_sharing}
    return CellState(folder.name, FINISHED, epochs, config.epochs, best, epoch_s, elapsed, 0.0, **where)


def _progress(folder: Path) -> CellProgress | None:
    try:
        return CellProgress.read_if_present(folder)
    except RecordError:
        return None


def _where(progress: CellProgress | None, queued_as: str | None) -> dict:
    if progress is None:
        return {"job_id": queued_as}
    return {"host": progress.host, "gpu": progress.gpu, "gpu_sharing": progress.gpu_sharing,
            "job_id": progress.job_id or queued_as}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _time(stamp: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None


def duration(seconds: float | None) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``; an em dash for None."""
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def where_text(cell: CellState) -> str:
    parts = []
    if cell.host:
        parts.append(cell.host)
    if cell.gpu:
        parts.append(f"GPU {cell.gpu}")
    if cell.gpu_sharing and cell.gpu_sharing > 1:
        parts.append(f"shared by {cell.gpu_sharing}")
    if cell.job_id:
        parts.append(f"job {cell.job_id}")
    return ", ".join(parts) or "—"


def rows(status: RunStatus) -> list[dict[str, str]]:
    """The table of ``skinbench status``, one dict per cell, every value as shown."""
    table = []
    for cell in status.cells:
        epoch = f"{cell.epochs_done}/{cell.max_epochs}" if cell.epochs_done is not None and cell.max_epochs else "—"
        table.append({
            "cell": cell.cell_id,
            "state": cell.state,
            "epoch": epoch,
            "best val acc": f"{cell.best_val_accuracy:.4f}" if cell.best_val_accuracy is not None else "—",
            "s/epoch": f"{cell.epoch_s:.1f}" if cell.epoch_s is not None else "—",
            "elapsed": duration(cell.elapsed_s),
            "left (at most)": duration(cell.left_s) if cell.state in (RUNNING, PENDING) else "—",
            "where": where_text(cell),
            "note": cell.note,
        })
    return table


def totals(status: RunStatus) -> str:
    """The line under the table."""
    counts = ", ".join(f"{status.count(state)} {state}" for state in STATES if state != DAMAGED or status.count(DAMAGED))
    done, most = status.epochs
    left = status.left_s
    unknown = sum(1 for c in status.cells if c.state in (RUNNING, PENDING) and c.left_s is None)
    left_text = "—" if left is None else duration(left)
    if unknown and left is not None:
        left_text += f" (+ {unknown} cell(s) not started)"
    return (
        f"{len(status.cells)} cells: {counts}; epochs {done} of at most {most}; "
        f"training time {duration(status.elapsed_s)}; left at most {left_text} (one cell after another)"
    )
