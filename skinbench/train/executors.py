"""Where a run's cells train: ``inline`` (this process, one after another), ``local`` (up to
``--jobs N`` processes on this machine) or ``slurm`` (one job array), the last two on submitit.

The submitting command prepares the data first (``train.runner.run_cells``: load, validate,
split, cache, augmentation) and writes every cell's config.json and job.json; a job receives
the run folder, its cell and the run specification (``train.jobs.CellTask``) and reads the rest
from the folder.

* ``local``: a scheduler in this process keeps up to ``--jobs`` submitit local jobs running,
  each cell in its own process, and follows them until every cell has run. With several GPUs
  each job gets one (CUDA_VISIBLE_DEVICES), in turn; with more jobs than GPUs, jobs share a
  GPU with their memory bounded (``XLA_PYTHON_CLIENT_MEM_FRACTION`` of 0.9 / sharing under
  JAX, ``TF_FORCE_GPU_ALLOW_GROWTH`` under TensorFlow). How many cells shared a device is
  recorded in job.json, progress.json and timing.json (``gpu_sharing``).
* ``slurm``: one array, one task per cell, at most ``--array-parallelism`` at once; the
  command returns once it is submitted (``--wait`` follows it). The script asks for
  ``--requeue``; a task that is preempted or reaches its time limit is requeued through
  submitit's checkpointing protocol (``train.jobs``) and resumes from its last saved epoch.

Either way a job that ends without writing status.json (killed, out of memory, a crash) is
recorded failed by the follower, naming its log; the same command again submits only the
cells not finished (failed ones included), never one whose job still runs.

This module imports neither Keras nor submitit at import time (the command line parses its
options through it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from skinbench import catalogue
from skinbench.catalogue import EXECUTORS, INLINE, LOCAL, SLURM
from skinbench.config import Cell
from skinbench.errors import RunError
from skinbench.records import (
    FAILED,
    FINISHED,
    JOBS_DIR,
    CellJob,
    CellMetrics,
    CellProgress,
    CellStatus,
    JobIds,
    RecordError,
)
from skinbench.spec import RunSpec

#: A local job runs as long as its cell needs (submitit's default limit is 2 minutes).
LOCAL_TIMEOUT_MIN = 60 * 24 * 365
#: Times a SLURM task that reaches its time limit is requeued (preemptions are not counted).
MAX_TIME_LIMIT_REQUEUES = 20
#: Share of a GPU's memory that the jobs sharing it divide between them under JAX.
SHARED_MEMORY = 0.9
POLL_S = 1.0
#: progress.json phases of a cell whose process is (or was last seen) at work.
ACTIVE_PHASES = ("starting", "training", "evaluating")
#: SLURM states of a job that has not ended.
SLURM_ACTIVE = ("PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUE_HOLD", "REQUEUE_FED")


@dataclass(frozen=True)
class Execution:
    """How the cells of a run are executed (``skinbench run --executor ...``)."""

    executor: str = INLINE
    jobs: int | None = None  #: local: cells at once (None: one per GPU, 1 without a GPU)
    wait: bool = False  #: slurm: follow the jobs until every cell has run
    partition: str | None = None
    time_min: int = 24 * 60  #: slurm: each task's time limit, in minutes
    gpus_per_cell: int = 1
    cpus_per_cell: int | None = None
    mem: str | None = None  #: slurm --mem, as SLURM writes it (e.g. 32G)
    array_parallelism: int | None = None  #: None: every task at once
    slurm_options: tuple[tuple[str, Any], ...] = ()  #: any other sbatch option

    @property
    def inline(self) -> bool:
        return self.executor == INLINE


def parse_execution(
    executor: str,
    *,
    jobs: int | None = None,
    wait: bool = False,
    partition: str | None = None,
    time_limit: str | None = None,
    gpus_per_cell: int | None = None,
    cpus_per_cell: int | None = None,
    mem: str | None = None,
    array_parallelism: int | None = None,
    slurm_options: list[str] | None = None,
    shard: bool = False,
) -> Execution:
    """The options of ``execution.executor`` checked together: each belongs to one executor (errors name
    the run specification's fields, ``execution.<name>``)."""
    catalogue.check_choice("execution.executor", executor, EXECUTORS)
    slurm_given = [
        f"execution.{name}" for name, value in (
            ("partition", partition), ("time_limit", time_limit), ("gpus_per_cell", gpus_per_cell),
            ("cpus_per_cell", cpus_per_cell), ("mem", mem), ("array_parallelism", array_parallelism),
            ("slurm_option", slurm_options or None), ("wait", wait or None),
        ) if value is not None
    ]
    if executor != SLURM and slurm_given:
        raise RunError(f"{', '.join(slurm_given)}: for execution.executor slurm only",
                       fields=(*slurm_given, "execution.executor"))
    if executor != LOCAL and jobs is not None:
        raise RunError("execution.jobs: for execution.executor local only (SLURM runs execution.array_parallelism "
                       "tasks at once)", fields=("execution.jobs", "execution.executor", "execution.array_parallelism"))
    if executor != INLINE and shard:
        raise RunError(
            f"matrix.shard is for inline runs on machines without SLURM; execution.executor {executor} runs every "
            "cell itself", fields=("matrix.shard", "execution.executor"),
        )
    if jobs is not None and jobs < 1:
        raise RunError("execution.jobs must be 1 or more", fields=("execution.jobs",))
    for name, value, least in (("execution.gpus_per_cell", gpus_per_cell, 0), ("execution.cpus_per_cell", cpus_per_cell, 1)):
        if value is not None and value < least:
            raise RunError(f"{name} {value}: give {least} or more", fields=(name,))
    if array_parallelism is not None and array_parallelism < 1:
        raise RunError("execution.array_parallelism must be 1 or more", fields=("execution.array_parallelism",))
    return Execution(
        executor=executor,
        jobs=jobs,
        wait=wait,
        partition=partition,
        time_min=parse_time(time_limit) if time_limit is not None else Execution.time_min,
        gpus_per_cell=1 if gpus_per_cell is None else gpus_per_cell,
        cpus_per_cell=cpus_per_cell,
        mem=mem,
        array_parallelism=array_parallelism,
        slurm_options=parse_slurm_options(slurm_options or []),
    )


def parse_time(text: str) -> int:
    """SLURM's time formats (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``) in whole minutes, rounded up."""
    wrong = RunError(f"execution.time_limit {text!r}: give minutes (90) or SLURM's [D-]HH:MM[:SS] (e.g. 12:00:00 or "
                     "1-12:00)", fields=("execution.time_limit",))
    try:
        days, dash, rest = text.strip().rpartition("-")
        if dash and not days:
            raise ValueError(text)
        parts = [int(p) for p in rest.split(":")]
        day_count = int(days) if days else 0
    except ValueError:
        raise wrong from None
    if any(p < 0 for p in parts) or day_count < 0 or not 1 <= len(parts) <= 3:
        raise wrong
    if days:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:  # M or M:S
        hours, (minutes, seconds) = 0, (parts + [0])[:2]
    total_seconds = ((day_count * 24 + hours) * 60 + minutes) * 60 + seconds
    if total_seconds <= 0:
        raise wrong
    return -(-total_seconds // 60)


def parse_slurm_options(options: list[str]) -> tuple[tuple[str, Any], ...]:
    """``KEY=VALUE`` (or a bare ``KEY`` for a flag) per ``--slurm-option``, as sbatch options."""
    parsed = []
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().lstrip("-")
        if not key or (sep and not value.strip()):
            raise RunError(f"execution.slurm_option {option!r}: give KEY=VALUE, e.g. account=myproject or qos=high (or "
                           "KEY for a flag)", fields=("execution.slurm_option",))
        parsed.append((key, value.strip() if sep else True))
    return tuple(parsed)


def _submitit():
    """submitit, imported without taking over this process's logging (``train.jobs.import_submitit``)."""
    from skinbench.train.jobs import import_submitit

    return import_submitit()


def visible_gpus() -> list[int]:
    """The GPU indices this machine offers jobs: CUDA_VISIBLE_DEVICES when set, else what nvidia-smi lists."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        entries = [e.strip() for e in listed.split(",") if e.strip()]
        if not entries or entries[0].startswith("-"):
            return []
        if not all(e.isdigit() for e in entries):
            raise RunError(
                f"CUDA_VISIBLE_DEVICES={listed} names GPUs by UUID; --executor local needs their indices (nvidia-smi -L)"
            )
        return [int(e) for e in entries]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(range(sum(1 for line in out.splitlines() if line.startswith("GPU "))))


@dataclass(frozen=True)
class Slot:
    """One of ``--jobs`` places for a local job: its GPU (None: CPU only) and how many slots share that device."""

    gpu: int | None
    sharing: int


def local_slots(jobs: int | None, gpus: list[int], cells: int) -> list[Slot]:
    """``jobs`` slots (one per GPU by default) spread over the GPUs in turn."""
    count = max(1, min(jobs if jobs is not None else max(1, len(gpus)), cells))
    if not gpus:
        return [Slot(None, count)] * count
    assigned = [gpus[k % len(gpus)] for k in range(count)]
    return [Slot(gpu, assigned.count(gpu)) for gpu in assigned]


def memory_environment(slot: Slot) -> dict[str, str]:
    """Environment of a job whose GPU is shared: bounded memory under JAX, memory growth under TensorFlow."""
    if slot.gpu is None or slot.sharing <= 1:
        return {}
    env = {}
    if "XLA_PYTHON_CLIENT_MEM_FRACTION" not in os.environ:
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{SHARED_MEMORY / slot.sharing:.3f}"
    if "TF_FORCE_GPU_ALLOW_GROWTH" not in os.environ:
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    return env


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _parse_time(stamp: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None


@dataclass
class JobsOutcome:
    """What became of the submitted cells: finished and failed ones (when followed), the job ids."""

    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)  #: cell id -> job id
    array_job_id: str | None = None
    followed: bool = True


def describe_where(progress: CellProgress) -> str:
    """``host, GPU 0 (shared by 2), job 4242_3`` from progress.json."""
    parts = [progress.host]
    if progress.gpu:
        parts.append(f"GPU {progress.gpu}")
    if progress.gpu_sharing > 1:
        parts.append(f"shared by {progress.gpu_sharing}")
    if progress.job_id:
        parts.append(f"job {progress.job_id}")
    return ", ".join(p for p in parts if p)


def _read_progress(folder: Path) -> CellProgress | None:
    try:
        return CellProgress.read_if_present(folder)
    except RecordError:
        return None


class Follower:
    """Follows cells that train in other processes through their progress.json and status.json,
    and shows them on a ``train.progress.RunProgress``: a line when a cell starts, per epoch and
    when it ends."""

    def __init__(self, out: Path, progress) -> None:
        self.out = Path(out)
        self.progress = progress
        self._since: dict[str, dt.datetime] = {}
        self._seen: dict[str, tuple[str, int]] = {}  # cell -> (attempt's start, epochs shown)

    def watch(self, cell_id: str) -> None:
        """Follow ``cell_id`` from now on (a progress.json from before is an earlier attempt's)."""
        self._since[cell_id] = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def poll(self, cell_id: str) -> None:
        progress = _read_progress(self.out / cell_id)
        started = _parse_time(progress.started_at) if progress is not None else None
        if progress is None or started is None or started < self._since.get(cell_id, started):
            return
        seen = self._seen.get(cell_id)
        if seen is None or seen[0] != progress.started_at:
            resumed = f", resumed after epoch {progress.resumed_from}" if progress.resumed_from else ""
            self.progress.job_started(cell_id, describe_where(progress) + resumed)
            seen = (progress.started_at, progress.resumed_from)  # epochs of an earlier attempt are not shown again
        if progress.epochs_done > seen[1]:
            shown = seen[1]
            for row in _epoch_rows(self.out / cell_id) or [progress.last_epoch or {}]:
                if row and shown < int(row["epoch"]) <= progress.epochs_done:
                    self.progress.job_epoch(cell_id, progress.max_epochs, row)
                    shown = int(row["epoch"])
            seen = (seen[0], max(shown, progress.epochs_done))
        self._seen[cell_id] = seen

    def ended(self, cell_id: str) -> bool:
        return (self.out / cell_id / CellStatus.FILE).exists()

    def finish(self, cell_id: str, job_label: str, log: Path | None) -> str | None:
        """Show how the cell ended; its error (None when finished). A job that ended without
        status.json is recorded failed here."""
        self.poll(cell_id)
        folder = self.out / cell_id
        try:
            status = CellStatus.read_if_present(folder)
        except RecordError as exc:
            status = CellStatus.now(FAILED, str(exc))
        if status is None:
            where = f"; its log: {log}" if log is not None else ""
            error = (
                f"its job {job_label} ended without finishing the cell (killed, out of memory or a crash{where}); "
                "run the same command again to resume it from its last saved epoch"
            )
            status = CellStatus.now(FAILED, error)
            status.write(folder)
            from skinbench.train.progress import set_phase

            set_phase(folder, FAILED)
        if status.status == FINISHED:
            try:
                metrics = CellMetrics.read(folder)
                outcome = f"{FINISHED}, balanced accuracy {metrics.values['balanced_accuracy']:.3f} on {metrics.part}"
            except RecordError:
                outcome = FINISHED
            self.progress.job_ended(cell_id, outcome)
            return None
        self.progress.job_ended(cell_id, f"FAILED: {status.error}")
        return status.error or "failed"


def _epoch_rows(folder: Path) -> list[dict]:
    """The epochs a cell has saved: its checkpoint's history while it trains, history.csv once it has finished."""
    from skinbench.records import CHECKPOINT_DIR, read_history

    try:
        from skinbench.train.state import Checkpoint

        loaded = Checkpoint(folder / CHECKPOINT_DIR).load()
        if loaded is not None:
            return list(loaded[0].history)
        history = read_history(folder)
    except Exception:  # a save being replaced: the next poll reads it
        return []
    return history.to_dict("records") if history is not None else []


def still_running(out: Path, cells: list[str]) -> dict[str, str]:
    """Cells whose earlier job has not ended: cell id -> where it runs. Such a cell is not submitted again.

    A process on this machine that progress.json names and that is alive; a SLURM job of
    jobs.json that sacct reports as not ended (when sacct is on PATH).
    """
    out = Path(out)
    found: dict[str, str] = {}
    host = socket.gethostname()
    for cell in cells:
        folder = out / cell
        if (folder / CellStatus.FILE).exists():
            continue
        progress = _read_progress(folder)
        if (
            progress is not None and progress.phase in ACTIVE_PHASES and progress.host == host
            and progress.pid != os.getpid() and _alive(progress.pid)
        ):
            found[cell] = f"process {progress.pid} on this machine"
    try:
        jobs = JobIds.read_if_present(out)
    except RecordError:
        jobs = None
    if jobs is not None and jobs.executor == SLURM and shutil.which("sacct"):
        ids = {cell: jobs.cells[cell] for cell in cells if cell in jobs.cells and cell not in found
               and not (out / cell / CellStatus.FILE).exists()}
        states = _slurm_states(list(ids.values()), out)
        for cell, job_id in ids.items():
            state = states.get(job_id, "")
            if state.split() and state.split()[0] in SLURM_ACTIVE:
                found[cell] = f"SLURM job {job_id} ({state.lower()})"
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _slurm_states(job_ids: list[str], out: Path) -> dict[str, str]:
    """job id -> its SLURM state (sacct, through submitit's watcher)."""
    if not job_ids:
        return {}
    submitit = _submitit()
    jobs = {job_id: submitit.SlurmJob(folder=out / JOBS_DIR / "%j", job_id=job_id) for job_id in job_ids}
    submitit.SlurmJob.watcher.update()  # one sacct call for them all
    return {job_id: str(job.get_info(mode="cache").get("State") or "UNKNOWN") for job_id, job in jobs.items()}


def run_local(
    cells: list[Cell], spec: RunSpec, out: Path, execution: Execution, job: CellJob, progress, *, poll_s: float = POLL_S
) -> JobsOutcome:
    """Run ``cells`` of ``spec`` as local jobs, up to ``execution.jobs`` at once, until every one has ended."""
    submitit = _submitit()
    from submitit.helpers import environment_variables

    from skinbench.train.jobs import CellTask

    out = Path(out)
    slots = local_slots(execution.jobs, visible_gpus(), len(cells))
    executor = submitit.LocalExecutor(folder=out / JOBS_DIR / "%j")
    executor.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN)
    follower = Follower(out, progress)
    outcome = JobsOutcome()
    queue = list(cells)
    running: dict[int, tuple[str, Any]] = {}
    sharing = ", ".join(sorted({f"GPU {s.gpu}: {s.sharing} at once" if s.gpu is not None else f"CPU: {s.sharing} at once" for s in slots}))
    progress.log(f"{len(cells)} cell(s) as local jobs, {len(slots)} at once ({sharing}); logs in {out / JOBS_DIR}")
    try:
        while queue or running:
            for index, slot in enumerate(slots):
                if index in running or not queue:
                    continue
                task = CellTask(str(out), queue.pop(0), spec)
                cell = task.cell.cell_id
                gpu = str(slot.gpu) if slot.gpu is not None else None
                dataclasses.replace(job, executor=LOCAL, gpu=gpu, gpu_sharing=slot.sharing, submitted_at=now_iso()).write(out / cell)
                if slot.gpu is None:
                    executor.update_parameters(gpus_per_node=0, visible_gpus=())
                else:
                    executor.update_parameters(gpus_per_node=1, visible_gpus=(slot.gpu,))
                follower.watch(cell)
                with environment_variables(**memory_environment(slot)):
                    submitted = executor.submit(task)
                running[index] = (cell, submitted)
                outcome.jobs[cell] = str(submitted.job_id)
                _write_jobs(out, LOCAL, outcome.jobs, None)
            time.sleep(poll_s)
            for index, (cell, submitted) in list(running.items()):
                follower.poll(cell)
                if submitted.done():
                    error = follower.finish(cell, f"local job {submitted.job_id}", submitted.paths.stderr)
                    _count(outcome, cell, error)
                    del running[index]
    except BaseException:
        for cell, submitted in running.values():
            submitted.cancel(check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(not s.done() for _, s in running.values()):
            time.sleep(0.2)
        raise
    finally:
        with contextlib.suppress(OSError):
            (out / JOBS_DIR / "%j").rmdir()  # made by submitit's local controller, empty
    return outcome


def check_available(execution: Execution) -> None:
    """RunError when this machine cannot run ``execution``'s executor (SLURM's tools not on PATH)."""
    if execution.executor != SLURM:
        return
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if missing:
        raise RunError(
            f"execution.executor slurm needs SLURM's {' and '.join(missing)} on PATH: run the command on the "
            "cluster's login node; on machines without SLURM, split the run with matrix.shard K/N",
            fields=("execution.executor", "matrix.shard"),
        )


def submit_slurm(
    cells: list[Cell], spec: RunSpec, out: Path, execution: Execution, job: CellJob, progress
) -> tuple[JobsOutcome, list]:
    """Submit ``cells`` of ``spec`` as one SLURM job array; the outcome (job ids) and submitit's jobs."""
    check_available(execution)
    submitit = _submitit()
    from skinbench.train.jobs import CellTask

    out = Path(out)
    executor = submitit.SlurmExecutor(folder=out / JOBS_DIR / "%j", max_num_timeout=MAX_TIME_LIMIT_REQUEUES)
    executor.update_parameters(**slurm_parameters(execution, out))
    stamp = now_iso()
    for cell in cells:
        dataclasses.replace(job, executor=SLURM, gpu=None, gpu_sharing=1, submitted_at=stamp).write(out / cell.cell_id)
    from submitit.core.utils import FailedJobError, FailedSubmissionError

    try:
        with executor.batch():
            submitted = [executor.submit(CellTask(str(out), cell, spec)) for cell in cells]
    except (FailedJobError, FailedSubmissionError, OSError) as exc:  # sbatch refused it (partition, account, limits...)
        raise RunError(f"sbatch did not take the job array: {str(exc).strip() or type(exc).__name__}") from None
    outcome = JobsOutcome(jobs={cell.cell_id: str(s.job_id) for cell, s in zip(cells, submitted)}, followed=False)
    outcome.array_job_id = str(submitted[0].job_id).split("_")[0] if submitted else None
    _write_jobs(out, SLURM, outcome.jobs, outcome.array_job_id)
    return outcome, submitted


def slurm_parameters(execution: Execution, out: Path) -> dict[str, Any]:
    """submitit's SlurmExecutor parameters: the sbatch options of the array."""
    params: dict[str, Any] = {
        "job_name": f"skinbench-{Path(out).name}",
        "time": execution.time_min,
        "additional_parameters": {"requeue": True, **dict(execution.slurm_options)},
    }
    if execution.partition:
        params["partition"] = execution.partition
    if execution.gpus_per_cell:
        params["gpus_per_node"] = execution.gpus_per_cell
    if execution.cpus_per_cell:
        params["cpus_per_task"] = execution.cpus_per_cell
    if execution.mem:
        params["mem"] = execution.mem
    if execution.array_parallelism:
        params["array_parallelism"] = execution.array_parallelism
    return params


def follow(out: Path, jobs: dict[str, Any], outcome: JobsOutcome, progress, *, poll_s: float = 5.0,
           done: Callable[[Any], bool] | None = None) -> JobsOutcome:
    """Follow submitted jobs (cell id -> submitit job) until every cell has ended."""
    follower = Follower(out, progress)
    for cell in jobs:
        follower.watch(cell)
    waiting = dict(jobs)
    is_done = done or (lambda job: job.done())
    ended_without_status: set[str] = set()
    while waiting:
        time.sleep(poll_s)
        for cell, job in list(waiting.items()):
            follower.poll(cell)
            if not follower.ended(cell):
                if not is_done(job):
                    continue
                if cell not in ended_without_status:  # a shared file system may show status.json late
                    ended_without_status.add(cell)
                    continue
            error = follower.finish(cell, f"SLURM job {job.job_id}", getattr(job.paths, "stderr", None))
            _count(outcome, cell, error)
            del waiting[cell]
    outcome.followed = True
    return outcome


def _count(outcome: JobsOutcome, cell: str, error: str | None) -> None:
    if error is None:
        outcome.finished.append(cell)
    else:
        outcome.failed[cell] = error


def _write_jobs(out: Path, executor: str, cells: dict[str, str], array_job_id: str | None) -> None:
    """jobs.json: this submission's job ids over those of earlier ones."""
    try:
        earlier = JobIds.read_if_present(out)
    except RecordError:
        earlier = None
    arrays = tuple(earlier.array_job_ids) if earlier is not None else ()
    if array_job_id and array_job_id not in arrays:
        arrays = (*arrays, array_job_id)
    merged = {**(earlier.cells if earlier is not None else {}), **cells}
    JobIds(executor, now_iso(), str(Path(out) / JOBS_DIR), arrays, merged).write(out)
