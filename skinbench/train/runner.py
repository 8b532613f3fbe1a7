"""Run a list of cells into a results folder: skip finished cells, resume killed ones, record failures.

Each cell folder gets config.json and env.json when the cell starts, the trainer's result
files, and status.json last; a cell is finished only when status.json says so. A cell that
fails (NaN loss, out of memory, unreadable data...) gets status ``failed`` with its error and
the run goes on; running the same command again retries it, resuming from its checkpoint.
The first Ctrl-C stops the run once the epoch in progress is saved; a second stops at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import keras

from skinbench.catalogue import ABLATION_BACKBONE, ABLATION_CUTS, ABLATION_ROWS, METADATA, RECIPES
from skinbench.config import SCHEDULES, Cell, Settings, check_split
from skinbench.errors import RunError
from skinbench.io import exclusive
from skinbench.records import (
    CHECKPOINT_DIR,
    DATA_LOCK_FILE,
    FAILED,
    FINISHED,
    CellConfig,
    CellMetrics,
    CellStatus,
    DataInfo,
    DatasetRecord,
    ScheduleRecord,
    status_of,
)
from skinbench.train import env
from skinbench.train.progress import RunProgress, make_progress
from skinbench.train.rundata import DataSource, RunData
from skinbench.train.state import Checkpoint, StopRequest
from skinbench.train.trainer import train_cell

@dataclass(frozen=True)
class CellPlan:
    """A cell and the model it trains (an ablation row changes the cut, head or inputs)."""

    cell: Cell
    metadata: bool  #: the model takes the metadata input
    attention: str | None = "paper"
    cut: str | None = None
    extra_dense: int = 0


@dataclass
class RunSummary:
    out: Path
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def run_cells(plans: list[CellPlan], settings: Settings, source: DataSource, out: Path, *, quiet: bool = False) -> RunSummary:
    """Train every cell of ``plans`` not yet finished in ``out``; RunError at the end if any failed."""
    from skinbench.models.backbones import get_backbone
    from skinbench.train import compile_cache, determinism

    if settings.deterministic:
        determinism.enable()
    compile_cache.enable()
    sizes = {p.cell.cell_id: get_backbone(p.cell.backbone).check_size(settings.image_size) for p in plans}
    out = Path(out)
    data = RunData(
        source, out, need_metadata=any(p.metadata for p in plans), progress=not quiet,
        protocols={p.cell.split for p in plans},
    )
    out.mkdir(parents=True, exist_ok=True)  # once the data is usable: a mistake leaves no empty folder
    _check_dataset(out, data)
    configs = {p.cell.cell_id: cell_config(p, settings, data, sizes[p.cell.cell_id]) for p in plans}
    for plan in plans:
        _check_config(out / plan.cell.cell_id, configs[plan.cell.cell_id])
    summary = RunSummary(out)
    todo = []
    for plan in plans:
        if status_of(out / plan.cell.cell_id) == FINISHED:
            summary.skipped.append(plan.cell.cell_id)
            Checkpoint(out / plan.cell.cell_id / CHECKPOINT_DIR).remove()  # left by a kill after status.json
        else:
            todo.append(plan)
    data.prepare(
        (configs[p.cell.cell_id].image_size, p.cell.split, p.cell.seed, RECIPES[p.cell.recipe].augmented)
        for p in todo
    )
    write_data_json(out, data.describe(sorted({(p.cell.split, p.cell.seed) for p in plans})))
    _train(todo, configs, settings, data, summary, quiet=quiet)
    if summary.failed:
        raise RunError(
            f"{len(summary.failed)} of {len(plans)} cells failed ({', '.join(summary.failed)}); their errors are "
            f"in {out}/<cell>/status.json; run the same command again to retry them"
        )
    return summary


def _train(
    todo: list[CellPlan], configs: dict[str, CellConfig], settings: Settings, data: RunData, summary: RunSummary, *, quiet: bool
) -> None:
    """Train the cells one after another, showing progress; KeyboardInterrupt after a Ctrl-C."""
    with make_progress(len(todo), quiet=quiet) as progress, _stop_on_ctrl_c(progress) as stop:
        if summary.skipped:
            progress.log(f"{len(summary.skipped)} finished cell(s) in {summary.out} kept; {len(todo)} to run")
        for plan in todo:
            cell_id = plan.cell.cell_id
            progress.start_cell(cell_id)
            error = _run_cell(plan, configs[cell_id], settings, data, summary.out / cell_id, stop, progress)
            if error is None:
                summary.finished.append(cell_id)
                metrics = CellMetrics.read(summary.out / cell_id)
                progress.end_cell(f"{FINISHED}, balanced accuracy {metrics.values['balanced_accuracy']:.3f} on {metrics.part}")
            else:
                summary.failed[cell_id] = error
                progress.end_cell(f"FAILED: {error}")
            if stop.requested:
                raise KeyboardInterrupt


def cell_config(plan: CellPlan, settings: Settings, data: RunData, image_size: int) -> CellConfig:
    """config.json: every resolved setting of a cell."""
    cell = plan.cell
    schedule = SCHEDULES[settings.schedule]
    return CellConfig(
        cell_id=cell.cell_id,
        backbone=cell.backbone,
        recipe=cell.recipe,
        ablation=cell.ablation,
        seed=cell.seed,
        split=cell.split,
        image_size=image_size,
        epochs=settings.max_epochs,
        batch_size=settings.batch_size,
        weights=settings.weights,
        attention=plan.attention,
        metadata=plan.metadata,
        cut=plan.cut,
        extra_dense=plan.extra_dense,
        precision=settings.precision,
        jit=settings.jit,
        deterministic=settings.deterministic,
        schedule=ScheduleRecord(schedule.name, schedule.epoch_steps, schedule.monitor, schedule.patience, schedule.min_delta),
        dataset=DatasetRecord(
            name=data.source.name,
            synthetic=data.source.name == "synthetic",
            root=str(data.dataset.root),
            n_images=len(data.dataset.frame),
            fingerprint=data.dataset.fingerprint,
        ),
        backend=keras.backend.backend(),
    )


def _run_cell(
    plan: CellPlan, config: CellConfig, settings: Settings, data: RunData, folder: Path, stop: StopRequest, progress: RunProgress
) -> str | None:
    """Train one cell and write its status; the error text when it failed, else None."""
    (folder / CellStatus.FILE).unlink(missing_ok=True)  # a failed cell being retried
    config.write(folder)
    env.describe().write(folder)
    cell = plan.cell
    try:
        inputs = data.inputs(
            cell, config.image_size, settings.batch_size, metadata=plan.metadata, epoch_steps=config.schedule.epoch_steps
        )
        features = data.metadata_features(cell.split, cell.seed) if plan.metadata else 0

        def build() -> keras.Model:
            from skinbench.models.build import build_model

            return build_model(
                cell.backbone, image_size=config.image_size, metadata_features=features, weights=settings.weights,
                attention=plan.attention, cut=plan.cut, extra_dense=plan.extra_dense,
            )

        train_cell(
            build, inputs, folder, seed=cell.seed, settings=settings, stop=stop, callbacks=[progress.callback()],
            backbone=cell.backbone,
        )
    except Exception as exc:  # any failure of one cell is recorded and the run goes on
        error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]
        CellStatus.now(FAILED, error, traceback.format_exc()).write(folder)
        return error
    finally:
        keras.backend.clear_session(free_memory=True)
    CellStatus.now(FINISHED).write(folder)
    Checkpoint(folder / CHECKPOINT_DIR).remove()
    return None


def _check_config(folder: Path, config: CellConfig) -> None:
    """A cell folder from an earlier run must have been made with the same settings."""
    old = CellConfig.read_if_present(folder)
    changed = old.differences(config) if old is not None else []
    if changed:
        raise RunError(
            f"{folder} was run with other settings ({'; '.join(changed)}); use another --out, "
            "or delete that folder to train the cell again"
        )


def _check_dataset(out: Path, data: RunData) -> None:
    earlier = DataInfo.read_if_present(out)
    if earlier is not None and earlier.fingerprint != data.dataset.fingerprint:
        raise RunError(
            f"{out} holds results on other data than {data.dataset.root} (data.json differs); use another --out"
        )


def write_data_json(out: Path, described: DataInfo) -> None:
    """Write ``out``/data.json, keeping the splits that earlier runs or other shards described."""
    with exclusive(out / DATA_LOCK_FILE):  # shards starting together must not drop each other's splits
        earlier = DataInfo.read_if_present(out)
        splits = {**(earlier.splits if earlier else {}), **described.splits}
        dataclasses.replace(described, splits=splits).write(out)


@contextlib.contextmanager
def _stop_on_ctrl_c(progress: RunProgress) -> Iterator[StopRequest]:
    """The first Ctrl-C asks to stop after the current epoch is saved; the second stops at once."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum, frame) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        progress.log("stopping once this epoch is saved (Ctrl-C again to stop now; the cell resumes from its last saved epoch)")

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def matrix_plans(cells: list[Cell], settings: Settings) -> list[CellPlan]:
    """Plans for matrix cells: the recipe decides whether the model takes metadata."""
    return [CellPlan(cell, metadata=RECIPES[cell.recipe].metadata, attention=settings.attention) for cell in cells]


def ablation_plans(cuts: list[int] | None, *, split: str, seeds: list[int], attention: str) -> list[CellPlan]:
    """Plans for paper Table 9's rows, sorted by cell id.

    ``cuts`` keeps the soft-attention rows at those layer numbers (the plain MobileNetV3Large
    row runs only with the whole table). Every row trains with the metadata recipe's loss and
    data (class-weighted, no augmentation); a row without metadata drops only that input.
    """
    check_split(split)
    rows = list(ABLATION_ROWS.values())
    if cuts is not None:
        unknown = [n for n in cuts if n not in ABLATION_CUTS]
        if unknown:
            raise RunError(
                f"--cuts: Table 9 has no cut at {', '.join(map(str, unknown))}; its cuts are {', '.join(map(str, ABLATION_CUTS))}"
            )
        rows = [row for row in rows if row.attention and row.cut in cuts]
    plans = [
        CellPlan(
            Cell(ABLATION_BACKBONE, METADATA, split, seed, ablation=row.key),
            metadata=row.metadata,
            attention=attention if row.attention else None,
            cut=row.cut_key,
            extra_dense=row.extra_dense,
        )
        for row in rows
        for seed in seeds
    ]
    return sorted(plans, key=lambda p: p.cell.cell_id)
