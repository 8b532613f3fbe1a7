"""The Python API: run a specification, load a run folder, write its report.

    import skinbench

    spec = skinbench.RunSpec.from_options(matrix="demo", dataset="synthetic", seeds="0,1", out="results/demo")
    skinbench.run(spec)                       # trains the cells (finished ones are kept)
    run = skinbench.load_run("results/demo")  # typed cells and a table of their metrics
    print(run.table[["cell", "accuracy", "balanced_accuracy"]])
    skinbench.write_report("results/demo")    # report.md and its CSVs

``skinbench run`` and ``skinbench ablate`` are this module's ``run`` with the command line's
options. Every option is checked here, before any heavy import, so a mistake costs no time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from skinbench import catalogue, config
from skinbench.config import Profile, Settings
from skinbench.errors import RunError
from skinbench.io import write_text
from skinbench.records import DataInfo
from skinbench.spec import SPEC_FILE, RunSpec

if TYPE_CHECKING:
    import pandas as pd

    from skinbench.report.runs import CellFolder, Results
    from skinbench.train.executors import Execution
    from skinbench.train.runner import RunSummary

@dataclass(frozen=True)
class Prepared:
    """A specification resolved into what the runner takes."""

    spec: RunSpec
    dataset: str  #: the data the cells read: --dataset, else ham10000 with --data-dir, else the profile's
    plans: list
    settings: Settings
    profile: Profile
    execution: Execution
    out: Path
    require_gpu: bool
    finished: bool = False  #: every cell is finished in ``out`` with these settings and data: a run trains nothing

    def source(self):
        """The ``train.resolve.DataSource`` the cells read."""
        from skinbench.train.resolve import resolve

        return resolve(self.spec).source


def prepare(spec: RunSpec, *, dry_run: bool = False) -> Prepared:
    """Check every option of ``spec`` and resolve its cells, settings and executor.

    No Keras, TensorFlow or JAX is imported before the options are checked.
    """
    from skinbench.train.executors import check_available, parse_execution
    from skinbench.train.resolve import plan_for, resolve

    m = spec.matrix
    seeds = config.parse_seeds(m.seeds, m.seed)
    resolved = resolve(spec)
    if m.ablation is not None:
        ablation = catalogue.ABLATIONS.get(m.ablation)
        if m.matrix is not None or m.backbones is not None or m.recipes is not None:
            raise RunError("an ablation trains its own cells: give no matrix.matrix, matrix.backbones or matrix.recipes "
                           "with it", fields=("matrix.matrix", "matrix.backbones", "matrix.recipes"))
        name, backbones = "ablation", {ablation.backbone}
        chosen = _parse_cuts(m.cuts) if m.cuts is not None or not m.smoke else config.SMOKE_ABLATION_CUTS
        cells = config.ablation_cells(chosen, split=spec.data.split, seeds=seeds)
    else:
        if m.cuts is not None or m.smoke:
            raise RunError("matrix.cuts and matrix.smoke are options of an ablation (matrix.ablation)",
                           fields=("matrix.cuts", "matrix.smoke", "matrix.ablation"))
        matrix = resolved.matrix
        cells = config.select(
            matrix,
            backbones=catalogue.BACKBONES.parse(m.backbones, "matrix.backbones"),
            recipes=config.parse_list(m.recipes, "matrix.recipes", catalogue.RECIPE_NAMES),
            split=spec.data.split,
            seeds=seeds,
        )
        name, backbones = matrix.name, {cell.backbone for cell in cells}
    profile, settings = resolved.profile, resolved.settings
    part = config.parse_shard(m.shard)
    x = spec.execution
    execution = parse_execution(
        x.executor, shard=part is not None, jobs=x.jobs, wait=x.wait, partition=x.partition, time_limit=x.time_limit,
        gpus_per_cell=x.gpus_per_cell, cpus_per_cell=x.cpus_per_cell, mem=x.mem,
        array_parallelism=x.array_parallelism, slurm_options=list(x.slurm_option) or None,
    )
    check_available(execution)
    dataset = resolved.source.name
    _check_data(dataset, spec.data.data_dir)
    for backbone in sorted(backbones & set(catalogue.BACKBONES)):
        catalogue.BACKBONES[backbone].check_size(settings.image_size, "model.image_size")
    from skinbench.train.device import backend_name
    from skinbench.train.left import nothing_left

    plans, out = _shard([plan_for(cell, settings) for cell in cells], part), x.out or Path("results") / name
    finished = nothing_left(  # from the run folder's records: no Keras yet
        plans, settings, dataset, lambda: resolved.source.root(progress=False), out, backend=backend_name())
    require_gpu = _require_gpu(execution, allow_cpu=x.allow_cpu, cpu_sized=profile.cpu_sized(settings),
                               dry_run=dry_run or finished)
    return Prepared(spec, dataset, plans, settings, profile, execution, out, require_gpu, finished)


def run(spec: RunSpec | Prepared) -> RunSummary:
    """Train the cells of ``spec`` (or of what ``prepare`` made of it) into its run folder (finished cells
    are kept, interrupted ones resume) and return what happened; ``spec`` is kept in the folder's run.toml."""
    prepared = spec if isinstance(spec, Prepared) else prepare(spec)
    spec = prepared.spec
    from skinbench.console import err_console
    from skinbench.train.device import device_line
    from skinbench.train.runner import run_cells

    if prepared.execution.executor != catalogue.SLURM:  # a SLURM job says its own device in its log
        err_console.print(device_line(precision=prepared.settings.precision, jit=prepared.settings.jit),
                          highlight=False, soft_wrap=True)
    try:
        return run_cells(spec, [plan.cell for plan in prepared.plans], prepared.out, execution=prepared.execution,
                         require_gpu=prepared.require_gpu)
    finally:  # once the data is in place (data.json), even when the run stops: a refused run leaves no folder
        if (prepared.out / DataInfo.FILE).exists():
            keep_spec(spec, prepared.out)


def keep_spec(spec: RunSpec, out: Path) -> None:
    """Write ``spec`` into the run folder as run.toml, once: a folder keeps the specification it was
    started with (later invocations, shards and resumes leave it)."""
    path = Path(out) / SPEC_FILE
    if not path.exists():
        Path(out).mkdir(parents=True, exist_ok=True)
        write_text(path, spec.to_toml())


@dataclass(frozen=True)
class Run:
    """A run folder (or several, merged), read: its typed cells and one row of metrics per finished cell."""

    results: Results
    table: pd.DataFrame  #: cells.csv's columns: one row per finished cell

    @property
    def cells(self) -> tuple[CellFolder, ...]:
        return self.results.cells


def load_run(*paths: Path | str) -> Run:
    """Read the run folder(s) ``paths``: every cell's records, and a pandas table of every finished
    cell's metrics (recomputed from its predictions.csv; no bootstrap intervals)."""
    from skinbench.report.runs import load_results
    from skinbench.report.summary import summarise
    from skinbench.report.tables import cells_frame

    results = load_results([Path(p) for p in paths])
    return Run(results, cells_frame(summarise(results, 0)))


def write_report(
    *paths: Path | str, out: Path | str | None = None, bootstrap: int = 1000, plots: bool = True, paper: str = "preprint",
    all_rows: bool = False,
) -> Path:
    """Write the report of the run folder(s) ``paths`` (report.md, its CSVs and figures) beside the
    numbers of the paper's version ``paper`` (preprint or sensors2022) and return report.md's path."""
    from skinbench.report.build import build_report

    path, _ = build_report([Path(p) for p in paths], Path(out) if out is not None else None, bootstrap=bootstrap,
                           plots=plots, paper=paper, all_rows=all_rows)
    return path


def _shard(plans: list, parts: tuple[int, int] | None) -> list:
    """The plans of shard ``K/N`` (all without one)."""
    if parts is None:
        return plans
    keep = {cell.cell_id for cell in config.shard([p.cell for p in plans], *parts)}
    return [p for p in plans if p.cell.cell_id in keep]


def _parse_cuts(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        cuts = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise RunError(f"matrix.cuts must be comma-separated layer numbers such as 230,240,246, not {text!r}",
                       fields=("matrix.cuts",)) from None
    return config.check_cuts(cuts)


def _check_data(dataset: str, data_dir: Path | None) -> None:
    if dataset == "synthetic" and data_dir is not None:
        raise RunError("data.data_dir is for data.dataset ham10000; data.dataset synthetic generates its own images",
                       fields=("data.data_dir", "data.dataset"))
    if dataset == "ham10000":
        from skinbench.data.ham10000 import check_data_dir

        check_data_dir(data_dir)


def _require_gpu(execution: Execution, *, allow_cpu: bool, cpu_sized: bool, dry_run: bool) -> bool:
    """Whether the cells need a GPU; refused here, before any heavy import, when none is visible.

    A SLURM submission is not checked here (a login node has no GPU): its jobs check, and a job
    given no GPU (``--gpus-per-cell 0``) needs ``--allow-cpu``.
    """
    from skinbench.train.device import require_gpu

    needed = not (allow_cpu or cpu_sized)
    if dry_run:
        return needed
    if execution.executor == catalogue.SLURM:
        if needed and execution.gpus_per_cell == 0:
            raise RunError("execution.gpus_per_cell 0 gives the jobs no GPU, and this plan is larger than the smoke and "
                           "demo matrices: set execution.allow_cpu to train it on CPUs",
                           fields=("execution.gpus_per_cell", "execution.allow_cpu"))
        return needed
    require_gpu(allow_cpu=allow_cpu, cpu_sized=cpu_sized)
    return needed
