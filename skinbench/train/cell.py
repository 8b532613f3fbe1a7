"""One cell into its folder: its plan and config.json, the records around ``trainer.train_cell``,
and ``run_job``, what every job of ``--executor local|slurm`` runs.

``cell_config`` (after ``train.resolve``) is the one path from a run's specification and a cell
to the cell's config.json: the runner and every job take it. ``run_cell``
writes config.json, env.json and progress.json when the cell starts, lets the trainer write
its result files, then timing.json's ``gpu_sharing`` and status.json last; a failure of the
cell is recorded (status ``failed``, with its error) and returned, never raised. ``run_job``
does the same from the run specification and the cell its job carries, job.json and the data
the submitting command prepared (``PreparedData`` builds nothing).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import traceback
from pathlib import Path
from typing import Iterator

import keras

from skinbench.config import Cell, Settings
from skinbench.errors import RunError
from skinbench.models.backbones import get_backbone
from skinbench.records import (
    CHECKPOINT_DIR,
    FAILED,
    FINISHED,
    CellConfig,
    CellJob,
    CellStatus,
    DatasetRecord,
    RecordError,
    Timing,
    status_of,
)
from skinbench.spec import RunSpec
from skinbench.train import env
from skinbench.train.celllock import cell_lock, try_lock
from skinbench.train.plan import planned_config
from skinbench.train.progress import RunProgress, Where, now_iso, progress_record, set_phase
from skinbench.train.resolve import CellPlan, plan_for, resolve
from skinbench.train.rundata import RunData
from skinbench.train.state import Checkpoint, StopRequest, TrainingState
from skinbench.train.trainer import train_cell


def error_text(exc: BaseException) -> str:
    """An exception as one line of at most 500 characters (status.json's ``error``)."""
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]


def cell_config(plan: CellPlan, settings: Settings, data: RunData) -> CellConfig:
    """config.json: every resolved setting of a cell (``train.plan.planned_config``) at its backbone's image
    size, on ``data``; a size the backbone cannot take is a ModelError."""
    cell = plan.cell
    image_size = get_backbone(cell.backbone).check_size(settings.image_size)
    dataset = DatasetRecord(
        name=data.source.name,
        synthetic=data.source.name == "synthetic",
        root=str(data.dataset.root),
        n_images=len(data.dataset.frame),
        fingerprint=data.dataset.fingerprint,
    )
    return planned_config(plan, settings, image_size, n_train=data.n_train(cell.split, cell.seed), dataset=dataset,
                          backend=keras.backend.backend())


def run_cell(
    plan: CellPlan,
    config: CellConfig,
    settings: Settings,
    data: RunData,
    folder: Path,
    stop: StopRequest,
    progress: RunProgress,
    where: Where,
) -> str | None:
    """Train one cell and write its status; the error text when it failed, else None.

    ``where`` (this process, its GPU and how many cells share it, the job id) goes into
    progress.json and timing.json's ``gpu_sharing``.
    """
    (folder / CellStatus.FILE).unlink(missing_ok=True)  # a failed cell being retried
    config.write(folder)
    env.describe().write(folder)
    _starting(folder, config, where)
    cell = plan.cell
    try:
        inputs = data.inputs(cell, config)
        features = data.metadata_features(cell.split, cell.seed) if plan.metadata else 0

        def build() -> keras.Model:
            from skinbench.models.build import build_model

            return build_model(
                cell.backbone, image_size=config.image_size, metadata_features=features, weights=settings.weights,
                attention=plan.attention, cut=plan.cut, extra_dense=plan.extra_dense, bn_momentum=settings.bn_momentum,
            )

        train_cell(
            build, inputs, folder, seed=cell.seed, settings=settings, schedule=settings.schedule_for(cell.recipe),
            stop=stop, callbacks=[progress.callback()], backbone=cell.backbone,
        )
        timing = Timing.read(folder)
        dataclasses.replace(timing, gpu_sharing=where.gpu_sharing).write(folder)
    except Exception as exc:  # any failure of one cell is recorded and the run goes on
        error = error_text(exc)
        CellStatus.now(FAILED, error, traceback.format_exc()).write(folder)
        set_phase(folder, FAILED)
        return error
    finally:
        keras.backend.clear_session(free_memory=True)
    CellStatus.now(FINISHED).write(folder)
    set_phase(folder, FINISHED)
    Checkpoint(folder / CHECKPOINT_DIR).remove()
    return None


def _starting(folder: Path, config: CellConfig, where: Where) -> None:
    """progress.json as the cell starts: where it runs and the epochs its checkpoint already holds."""
    try:
        loaded = Checkpoint(folder / CHECKPOINT_DIR).load()
    except (OSError, ValueError, TypeError, KeyError):  # a damaged save: the trainer says so
        loaded = None
    state = loaded[0] if loaded is not None else TrainingState()
    progress_record(state, config.epochs, "starting", where, now_iso(), state.epochs_done).write(folder)


class PreparedData(RunData):
    """RunData for a job: reads what the submitting command prepared and builds nothing.

    A split file or image cache that is not there is an error naming it (it would otherwise be
    written by several jobs at once).
    """

    def _split(self, split: str, seed: int):
        path = self.split_path(split, seed)
        if not path.exists():
            raise RunError(f"{path} is missing: the submitting command writes it before any job starts; run it again")
        return super()._split(split, seed)

    def cache(self, size: int):
        self._require_cache(self.training, size)
        return super().cache(size)

    def test_cache(self, size: int):
        self._require_cache(self.test_set(), size)
        return super().test_cache(size)

    @staticmethod
    def _require_cache(dataset, size: int) -> None:
        from skinbench.data.cache import cache_key
        from skinbench.paths import cache_root

        folder = cache_root() / "images" / cache_key(dataset.fingerprint, size, "crop")
        if not (folder / "info.json").exists():
            raise RunError(
                f"the {size}px image cache of {dataset.root} is not in {folder}: the submitting command builds it "
                "before any job starts; give the jobs the same SKINBENCH_CACHE (a shared folder on a cluster)"
            )


def run_job(out: Path, cell: Cell, spec: RunSpec, *, job_id: str | None = None) -> str:
    """Train ``cell`` of the run folder ``out`` as ``spec`` says (the entry of every executor job).

    Rebuilds the cell's config.json from ``spec`` and ``cell`` as the runner did, reads job.json,
    opens the prepared data and trains the cell as an inline run does; ``finished`` or ``failed:
    <error>`` (status.json says the same). While another process holds the cell's lock
    (``train.celllock``) the job waits, and a cell that process finished is not trained again.
    """
    folder = Path(out) / cell.cell_id
    lock = cell_lock(folder)
    if not try_lock(lock):
        RunProgress(1).log(f"{cell.cell_id}: another process is training it (it holds {lock.lock_file}); this job waits for it")
        lock.acquire()
    try:
        if _finished(folder):
            RunProgress(1).log(f"{cell.cell_id}: finished by another process")
            return FINISHED
        return _run_job(Path(out), cell, spec, job_id=job_id)
    finally:
        lock.release()


def _finished(folder: Path) -> bool:
    try:
        return status_of(folder) == FINISHED
    except RecordError:  # a damaged status.json: the cell trains again
        return False


def _run_job(out: Path, cell: Cell, spec: RunSpec, *, job_id: str | None) -> str:
    """``run_job`` once this process holds the cell's lock."""
    folder = out / cell.cell_id
    progress = RunProgress(1)
    try:
        job = CellJob.read(folder)
        where = Where.here(job.executor, gpu_sharing=job.gpu_sharing, job_id=job_id)
        resolved = resolve(spec)
        settings = resolved.settings
        from skinbench.train import compile_cache, determinism
        from skinbench.train.device import require_gpu

        require_gpu(allow_cpu=not job.require_gpu, cpu_sized=False)

        if settings.deterministic:
            determinism.enable()
        compile_cache.enable()
        plan = plan_for(cell, settings)
        data = PreparedData(resolved.source, out, need_metadata=plan.metadata, progress=False, splits={cell.split})
        config = cell_config(plan, settings, data)
        changed = CellConfig.read(folder).differences(config)
        if changed:
            raise RunError(
                f"{folder}: the data or settings changed since the cell was submitted ({'; '.join(changed)}); "
                "run the same command again to resubmit it"
            )
    except Exception as exc:
        error = error_text(exc)
        CellStatus.now(FAILED, error, traceback.format_exc()).write(folder)
        set_phase(folder, FAILED)
        return f"{FAILED}: {error}"
    progress.start_cell(cell.cell_id)
    with stop_on_ctrl_c(progress) as stop:  # stops after the epoch in progress is saved
        error = run_cell(plan, config, settings, data, folder, stop, progress, where)
    progress.end_cell(FINISHED if error is None else f"FAILED: {error}")
    return FINISHED if error is None else f"{FAILED}: {error}"


@contextlib.contextmanager
def stop_on_ctrl_c(progress: RunProgress) -> Iterator[StopRequest]:
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
