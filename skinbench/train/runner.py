"""Run a list of cells into a results folder: skip finished cells, resume killed ones, record failures.

The run specification is resolved (``train.resolve``) and the data prepared once, here, before
any cell trains (load, validate, split, cache, augmentation), and every cell to run gets its
config.json (``train.cell.cell_config``). The cells then train inline (one after another in
this process) or as jobs of ``train.executors`` (``--executor local|slurm``), each job carrying
the specification and its cell and running ``train.cell.run_job``, which builds the same
config.json by the same path. Each cell folder gets env.json and
progress.json when the cell starts, the trainer's result files, and status.json last; a cell
is finished only when status.json says so. A cell that fails (NaN loss, out of memory,
unreadable data...) gets status ``failed`` with its error and the run goes on; running the
same command again retries it, resuming from its checkpoint. A finished cell whose files were
damaged since is repaired (``train.repair``). A cell another process trains (it holds the
cell's lock, ``train.celllock``) is left for last, then waited for. The first Ctrl-C stops the
run once the epoch in progress is saved; a second stops at once.
"""

from __future__ import annotations

import dataclasses
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from skinbench.catalogue import RECIPES
from skinbench.config import Cell, Settings
from skinbench.errors import RunError
from skinbench.io import exclusive
from skinbench.records import (
    CHECKPOINT_DIR,
    DAMAGED,
    DATA_LOCK_FILE,
    FAILED,
    FINISHED,
    CellConfig,
    CellJob,
    CellMetrics,
    CellStatus,
    DataInfo,
    status_of,
)
from skinbench.spec import RunSpec
from skinbench.train.cell import cell_config, error_text, run_cell, stop_on_ctrl_c
from skinbench.train.celllock import cell_lock, try_lock, wait_for_lock
from skinbench.train.executors import Execution
from skinbench.train.left import triage
from skinbench.train.progress import RunProgress, Where, make_progress, now_iso
from skinbench.train.repair import repair_cells
from skinbench.train.resolve import CellPlan, plan_for, resolve
from skinbench.train.rundata import Need, RunData
from skinbench.train.state import Checkpoint, StopRequest

@dataclass
class RunSummary:
    out: Path
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    executor: str = "inline"
    submitted: dict[str, str] = field(default_factory=dict)  #: cell id -> job id (local, slurm)
    array_job_id: str | None = None
    followed: bool = True  #: False: submitted to SLURM without --wait (the cells have not run yet)
    running: dict[str, str] = field(default_factory=dict)  #: cells not submitted because an earlier job still runs them
    repaired: list[str] = field(default_factory=list)  #: finished cells whose damaged files were written anew from the kept model


def run_cells(
    spec: RunSpec,
    cells: list[Cell],
    out: Path,
    *,
    execution: Execution | None = None,
    require_gpu: bool = False,
) -> RunSummary:
    """Train every cell of ``cells`` not yet finished in ``out`` as ``spec`` says; RunError at the end if any failed.

    ``execution`` (default inline) says where the cells train (``train.executors``); the data
    is prepared here first either way, and jobs only read it. ``require_gpu``: each job fails
    its cell when it finds no GPU (the command checked this machine; a SLURM job checks its node).
    """
    from skinbench.train import compile_cache, determinism

    execution = execution or Execution()
    quiet = spec.execution.quiet
    resolved = resolve(spec)
    settings = resolved.settings
    plans = [plan_for(cell, settings) for cell in cells]
    if settings.deterministic:
        determinism.enable()
    compile_cache.enable()
    out = Path(out)
    data = RunData(
        resolved.source, out, need_metadata=any(p.metadata for p in plans), progress=not quiet,
        splits={p.cell.split for p in plans},
    )
    out.mkdir(parents=True, exist_ok=True)  # once the data is usable: a mistake leaves no empty folder
    _check_dataset(out, data)
    configs = {p.cell.cell_id: cell_config(p, settings, data) for p in plans}
    states = {p.cell.cell_id: triage(out / p.cell.cell_id) for p in plans}
    for plan in plans:
        if CellConfig.FILE not in states[plan.cell.cell_id][1]:  # an unreadable one is damaged: the cell trains again
            _check_config(out / plan.cell.cell_id, configs[plan.cell.cell_id])
    summary = RunSummary(out)
    todo, damaged = [], {}
    for plan in plans:
        state, problems = states[plan.cell.cell_id]
        if state == FINISHED:
            summary.skipped.append(plan.cell.cell_id)
            Checkpoint(out / plan.cell.cell_id / CHECKPOINT_DIR).remove()  # left by a kill after status.json
        elif state == DAMAGED:
            damaged[plan.cell.cell_id] = (plan, problems)
        else:
            todo.append(plan)
    data.prepare(
        Need(configs[p.cell.cell_id].image_size, p.cell.split, p.cell.seed, RECIPES[p.cell.recipe].augmented,
             configs[p.cell.cell_id].schedule.augment_per_class)
        for p in [*todo, *(plan for plan, _ in damaged.values())]
    )
    write_data_json(out, data.describe(sorted({(p.cell.split, p.cell.seed) for p in plans})))
    if damaged:
        summary.repaired, retrain = repair_cells(damaged, configs, settings, data, out, log=_log)
        todo += retrain
    for plan in todo:  # every cell to run has its config.json before any trains
        configs[plan.cell.cell_id].write(out / plan.cell.cell_id)
    summary.executor = execution.executor
    if execution.inline:
        _train(todo, configs, settings, data, summary, quiet=quiet)
    else:
        _run_as_jobs(todo, configs, spec, data, summary, execution, quiet=quiet, require_gpu=require_gpu)
    if summary.failed:
        submitted = "" if summary.followed else f"; the {len(summary.submitted)} others were submitted (job ids in {out}/jobs.json)"
        raise RunError(
            f"{len(summary.failed)} of {len(plans)} cells failed ({', '.join(summary.failed)}); their errors are "
            f"in {out}/<cell>/status.json; run the same command again to retry them{submitted}"
        )
    return summary


def _train(
    todo: list[CellPlan], configs: dict[str, CellConfig], settings: Settings, data: RunData, summary: RunSummary, *, quiet: bool
) -> None:
    """Train the cells one after another, showing progress; KeyboardInterrupt after a Ctrl-C."""
    with make_progress(len(todo), quiet=quiet) as progress, stop_on_ctrl_c(progress) as stop:
        if summary.skipped:
            progress.log(f"{len(summary.skipped)} finished cell(s) in {summary.out} kept; {len(todo)} to run")
        busy = []
        for plan in todo:
            lock = cell_lock(summary.out / plan.cell.cell_id)
            if try_lock(lock):
                _train_locked(plan, lock, configs, settings, data, summary, progress, stop)
            else:
                progress.log(f"{plan.cell.cell_id}: another process is training it (it holds {lock.lock_file}); "
                             "going on with the other cells, then waiting for it")
                busy.append(plan)
        for plan in busy:
            progress.log(f"{plan.cell.cell_id}: waiting for the other process to finish it")
            lock = cell_lock(summary.out / plan.cell.cell_id)
            wait_for_lock(lock, lambda: stop.requested)
            _train_locked(plan, lock, configs, settings, data, summary, progress, stop)


def _train_locked(
    plan: CellPlan,
    lock: FileLock,
    configs: dict[str, CellConfig],
    settings: Settings,
    data: RunData,
    summary: RunSummary,
    progress: RunProgress,
    stop: StopRequest,
) -> None:
    """Train one cell whose ``lock`` this process holds (released at the end), unless another
    process finished it meanwhile; KeyboardInterrupt after a Ctrl-C."""
    cell_id = plan.cell.cell_id
    try:
        if status_of(summary.out / cell_id) == FINISHED:
            progress.log(f"{cell_id}: finished by another process")
            summary.skipped.append(cell_id)
            return
        progress.start_cell(cell_id)
        error = run_cell(plan, configs[cell_id], settings, data, summary.out / cell_id, stop, progress, Where.here())
    finally:
        lock.release()
    if error is None:
        summary.finished.append(cell_id)
        metrics = CellMetrics.read(summary.out / cell_id)
        progress.end_cell(f"{FINISHED}, balanced accuracy {metrics.values['balanced_accuracy']:.3f} on {metrics.part}")
    else:
        summary.failed[cell_id] = error
        progress.end_cell(f"FAILED: {error}")
    if stop.requested:
        raise KeyboardInterrupt


def _run_as_jobs(
    todo: list[CellPlan],
    configs: dict[str, CellConfig],
    spec: RunSpec,
    data: RunData,
    summary: RunSummary,
    execution: Execution,
    *,
    quiet: bool,
    require_gpu: bool,
) -> None:
    """Submit the cells to ``execution``'s executor, each as a job that carries ``spec`` and its cell.

    A cell whose inputs cannot be built from the prepared data fails here, as it would inline,
    so a job never builds anything; a cell that an earlier job still runs is left to it.
    """
    from skinbench.train import executors

    out = summary.out
    summary.followed = execution.executor == "local" or execution.wait
    running = executors.still_running(out, [p.cell.cell_id for p in todo])
    summary.running.update(running)
    cells = []
    with make_progress(len(todo) - len(running), quiet=quiet) as progress:
        if summary.skipped:
            progress.log(f"{len(summary.skipped)} finished cell(s) in {out} kept; {len(todo) - len(running)} to run")
        for cell_id, where in running.items():
            progress.log(f"{cell_id}: not submitted, an earlier job still runs it ({where})")
        for plan in todo:
            cell_id = plan.cell.cell_id
            if cell_id in running:
                continue
            (out / cell_id / CellStatus.FILE).unlink(missing_ok=True)  # a failed cell being retried
            error = _check_inputs(plan, configs[cell_id], data, out / cell_id)
            if error is None:
                cells.append(plan.cell)
            else:
                summary.failed[cell_id] = error
                progress.job_ended(cell_id, f"FAILED: {error}")
        if not cells:
            return
        job = CellJob(
            executor=execution.executor,
            cache_root=str(_cache_root()),
            gpu=None,
            gpu_sharing=1,
            require_gpu=require_gpu,
            submitted_at=now_iso(),
        )
        if execution.executor == "local":
            outcome = executors.run_local(cells, spec, out, execution, job, progress)
        else:
            outcome, jobs = executors.submit_slurm(cells, spec, out, execution, job, progress)
            first, last = outcome.jobs[cells[0].cell_id], outcome.jobs[cells[-1].cell_id]
            progress.log(
                f"submitted {len(cells)} cell(s) as SLURM job {'array ' + outcome.array_job_id if len(cells) > 1 else first}"
                f" ({first}{' ... ' + last if len(cells) > 1 else ''}); job ids in {out / 'jobs.json'}"
            )
            if execution.wait:
                outcome = executors.follow(out, dict(zip([cell.cell_id for cell in cells], jobs)), outcome, progress)
    summary.submitted.update(outcome.jobs)
    summary.array_job_id = outcome.array_job_id
    summary.followed = outcome.followed
    summary.finished.extend(outcome.finished)
    summary.failed.update(outcome.failed)


def _check_inputs(plan: CellPlan, config: CellConfig, data: RunData, folder: Path) -> str | None:
    """Build the cell's batches from the prepared data, as its job will; the error (recorded failed) or None."""
    cell = plan.cell
    try:
        data.inputs(cell, config)
        if plan.metadata:
            data.metadata_features(cell.split, cell.seed)
    except Exception as exc:  # as inline: this cell fails, the others run
        error = error_text(exc)
        CellStatus.now(FAILED, error, traceback.format_exc()).write(folder)
        return error
    return None


def _log(message: str) -> None:
    """A line on stderr, as the progress view prints them (before it starts)."""
    from skinbench.console import err_console

    err_console.print(message, highlight=False, markup=False, soft_wrap=True)


def _cache_root() -> Path:
    from skinbench.paths import cache_root

    return cache_root().resolve()


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
