"""The task that ``--executor local|slurm`` runs for one cell: ``CellTask(run_dir, cell, spec)``.

The task carries the run folder, the cell (``config.Cell``) and the run specification
(``spec.RunSpec``, frozen: submitit pickles it as it is). The job resolves the specification as
the submitting command did (``train.resolve``), rebuilds the cell's config.json from it and the
cell (``train.cell.cell_config``, refusing to train when that differs from the config.json the
command wrote: the data or the code changed since), and reads job.json (``records.CellJob``:
the cache the data was prepared in, the GPU it was given) and the data the submitting command
prepared (the split files, the image cache, the augmented sets). It trains the cell as an inline
run would (``train.cell.run_job``), writing the same files.

Preemption and time limits follow submitit's checkpointing protocol: on the signal SLURM
sends before it stops a job (USR2, ``signal_delay_s`` before the end), submitit calls
``CellTask.checkpoint``, which marks progress.json ``requeued`` and returns the same job;
submitit then requeues it (``scontrol requeue``), and the requeued job resumes from the cell's
last saved epoch (``train.state``).

This module imports no Keras: the job sets the environment first (the cache, the Keras
backend of config.json, the plugins), then imports the trainer.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

from skinbench.config import Cell
from skinbench.records import FAILED, CellConfig, CellJob, CellStatus
from skinbench.spec import RunSpec

#: Comma-separated modules every job imports before its cell runs; a module that defines
#: ``register()`` has it called (e.g. one that adds a backbone to the catalogue and registry).
PLUGINS_ENV = "SKINBENCH_PLUGINS"


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (never to a stream closed since)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def import_submitit():
    """submitit, without its logging configuration when this process imports it first.

    On import submitit applies ``logging.config.dictConfig``, which closes every handler the
    process had (a test runner's, an application's) and binds its own to the streams of that
    moment. The submitting command imports it with ``SUBMITIT_LOG_LEVEL=NOCONFIG`` and logs
    submitit's warnings to the current stderr instead. A job's process has imported submitit
    already (its entry point, ``submitit.core._submit``), so jobs keep submitit's logs.
    """
    if "submitit" in sys.modules:
        return sys.modules["submitit"]
    before = os.environ.get("SUBMITIT_LOG_LEVEL")
    os.environ["SUBMITIT_LOG_LEVEL"] = "NOCONFIG"
    try:
        import submitit
    finally:
        if before is None:
            del os.environ["SUBMITIT_LOG_LEVEL"]
        else:
            os.environ["SUBMITIT_LOG_LEVEL"] = before
    handler = _CurrentStderr()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("submitit %(levelname)s: %(message)s"))
    logger = logging.getLogger("submitit")
    logger.addHandler(handler)
    return submitit


submitit = import_submitit()


class CellTask(submitit.helpers.Checkpointable):
    """Train one cell of a run folder as its run specification says; the submitted callable of every executor job."""

    def __init__(self, run_dir: str, cell: Cell, spec: RunSpec) -> None:
        self.run_dir = str(run_dir)
        self.cell = cell
        self.spec = spec

    def __call__(self) -> str:
        """Train the cell; its outcome, ``finished`` or ``failed: <error>`` (also in status.json)."""
        if "spec" not in vars(self):
            return self._refuse_earlier()
        folder = Path(self.run_dir) / self.cell.cell_id
        prepare_process(folder)
        from skinbench.train.cell import run_job

        return run_job(Path(self.run_dir), self.cell, self.spec, job_id=current_job_id())

    def _refuse_earlier(self) -> str:
        """A task pickled by a skinbench before tasks carried the specification (``run_dir``, ``cell_id``):
        the cell is failed, saying how to resubmit it."""
        error = ("this job was submitted by an earlier skinbench, whose jobs carried no run specification; "
                 "run the same command again to resubmit the cell")
        CellStatus.now(FAILED, error).write(Path(self.run_dir) / vars(self)["cell_id"])
        return f"{FAILED}: {error}"

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        """Preempted or out of time: the same job again (the cell's checkpoint holds its state)."""
        from skinbench.train.progress import set_phase

        set_phase(Path(self.run_dir) / self.cell.cell_id, "requeued")
        return submitit.helpers.DelayedSubmission(CellTask(self.run_dir, self.cell, self.spec))

    def __repr__(self) -> str:
        return f"CellTask({self.run_dir!r}, {self.cell.cell_id!r})"


def prepare_process(folder: Path) -> None:
    """Before any Keras import: the cache the data was prepared in, config.json's Keras backend, the plugins."""
    job = CellJob.read(folder)
    os.environ["SKINBENCH_CACHE"] = job.cache_root
    os.environ["KERAS_BACKEND"] = CellConfig.read(folder).backend
    load_plugins()


def load_plugins() -> list[str]:
    """Import the modules named in ``$SKINBENCH_PLUGINS``, calling their ``register()``; their names."""
    names = [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]
    for name in names:
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if callable(register):
            register()
    return names


def current_job_id() -> str | None:
    """The executor's id of the job this process runs (``<array>_<task>`` on SLURM), else None."""
    try:
        return str(submitit.JobEnvironment().job_id)
    except Exception:  # not inside a submitit job
        return None
