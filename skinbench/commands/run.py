"""`skinbench run` (a matrix of backbones x recipes) and `skinbench ablate mobilenetv3` (paper Table 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from skinbench.commands.common import guarded
from skinbench.commands import options
from skinbench.commands.options import (
    DATA,
    EXECUTION,
    MODEL,
    OUTPUT,
    TRAINING,
    choice_list_option,
    choice_option,
    in_panel,
)
from skinbench import catalogue, config
from skinbench.config import Profile, Settings
from skinbench.errors import RunError
from skinbench.train.executors import Execution, check_available, parse_execution

ablate_app = typer.Typer(help="Ablation studies.", no_args_is_help=True)

# Both commands' options, each under its panel of --help.
DataDir = in_panel(options.DataDir, DATA)
DatasetName = in_panel(options.DatasetName, DATA)
Split = in_panel(options.Split, DATA)
Strict = in_panel(options.Strict, DATA)
ImageSize = in_panel(options.ImageSize, MODEL)
Weights = in_panel(options.Weights, MODEL)
Attention = in_panel(options.Attention, MODEL)
Backbones = in_panel(options.Backbones, MODEL)
Epochs = in_panel(options.Epochs, TRAINING)
BatchSize = in_panel(options.BatchSize, TRAINING)
Seed = in_panel(options.Seed, TRAINING)
Seeds = in_panel(options.Seeds, TRAINING)
Precision = in_panel(options.Precision, EXECUTION)
Jit = in_panel(options.Jit, EXECUTION)
Out = in_panel(options.Out, OUTPUT)
Quiet = in_panel(options.Quiet, OUTPUT)

Matrix = Annotated[
    Optional[str],
    choice_option(
        "--matrix",
        catalogue.MATRICES,
        "'full' (the paper's 11 backbones x 2 recipes; the default), 'paper' (the 13 cells the paper reports), "
        "'modern' (today's backbones x 2 recipes), 'all' (every backbone x 2 recipes; the default with --backbones), "
        "'smoke' (a small CPU check) or 'demo' (MobileNetV3Small long enough to learn the synthetic set).",
        rich_help_panel=MODEL,
    ),
]
Recipes = Annotated[
    Optional[str],
    choice_list_option(
        "--recipes", catalogue.RECIPE_NAMES, "Comma-separated recipes: augmented, metadata.", rich_help_panel=MODEL
    ),
]
Cuts = Annotated[
    Optional[str],
    typer.Option(
        "--cuts",
        rich_help_panel=MODEL,
        help="Comma-separated cuts to run, e.g. 230,240,246 (default: every row, plain MobileNetV3Large included).",
    ),
]
Smoke = Annotated[
    bool,
    typer.Option(
        "--smoke",
        rich_help_panel=MODEL,
        help="The smoke settings (64 px, 1 epoch, random weights) on the [:230] rows unless --cuts says otherwise.",
    ),
]
Schedule = Annotated[
    str,
    choice_option(
        "--schedule",
        config.SCHEDULE_NAMES,
        "; ".join(
            f"'{name}' ({next(iter(recipes.values())).follows.split(':')[0]}): "
            + " / ".join(
                f"{recipe}: batch {s.batch_size}, epochs of {s.epoch}, Adam {s.learning_rate:g}"
                f"{', ReduceLROnPlateau' if s.reduce_lr else ''}, early stopping on {s.monitor} (patience {s.patience}), "
                f"at most {s.max_epochs} epochs"
                for recipe, s in recipes.items()
            )
            for name, recipes in config.SCHEDULES.items()
        ) + " (README, Schedules).",
        rich_help_panel=TRAINING,
    ),
]
KeepModels = Annotated[
    bool,
    typer.Option(
        "--keep-models/--no-keep-models",
        rich_help_panel=OUTPUT,
        help="Keep each finished cell's model (model.keras + inference.json) for predict, explain and export.",
    ),
]
Deterministic = Annotated[
    bool,
    typer.Option(
        "--deterministic",
        rich_help_panel=TRAINING,
        help="Deterministic GPU kernels (TensorFlow op determinism, XLA deterministic ops): repeatable, slower.",
    ),
]
BnMomentum = Annotated[
    Optional[float],
    typer.Option(
        "--bn-momentum",
        min=0.0,
        max=1.0,
        rich_help_panel=TRAINING,
        help="Momentum of every BatchNormalization layer's moving statistics (default: the backbone's own, 0.999 in "
        "MobileNetV3). With random weights a short run needs less (0.9), or evaluation uses statistics that have not "
        "caught up.",
    ),
]
GradientAccumulation = Annotated[
    Optional[int],
    typer.Option(
        "--gradient-accumulation",
        min=1,
        rich_help_panel=TRAINING,
        help="Micro-batches per batch: the optimizer steps once per batch on their mean gradient, for a GPU too small "
        "for the batch (BatchNorm then sees each micro-batch's statistics). Default: 1, and a cell that runs out of "
        "device memory is retried once with 4.",
    ),
]
Shard = Annotated[
    Optional[str],
    typer.Option(
        "--shard",
        rich_help_panel=EXECUTION,
        help="K/N: run only part K (1..N) of the cells, inline: for several machines without SLURM sharing one --out.",
    ),
]
Executor = Annotated[
    str,
    choice_option(
        "--executor",
        catalogue.EXECUTORS,
        "'inline' (this process, cell after cell), 'local' (up to --jobs cells at once, each in its own process) "
        "or 'slurm' (one SLURM job array; returns once submitted unless --wait).",
        rich_help_panel=EXECUTION,
    ),
]
Jobs = Annotated[
    Optional[int],
    typer.Option(
        "--jobs",
        rich_help_panel=EXECUTION,
        help="--executor local: cells at once (default: one per GPU, 1 without a GPU); more than GPUs share them.",
    ),
]
AllowCpu = Annotated[
    bool,
    typer.Option(
        "--allow-cpu",
        rich_help_panel=EXECUTION,
        help="Train on the CPU even when no GPU is visible and the plan is larger than the smoke and demo matrices "
        "(without it such a run stops at once, saying why no GPU was found).",
    ),
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        rich_help_panel=OUTPUT,
        help="Print the plan (cells, image size, epoch cap, estimated GPU time, disk) and exit without training.",
    ),
]
SLURM = "SLURM (--executor slurm)"
Wait = Annotated[
    bool, typer.Option("--wait", rich_help_panel=SLURM, help="Follow the submitted jobs until every cell has run.")
]
Partition = Annotated[Optional[str], typer.Option("--partition", rich_help_panel=SLURM, help="The SLURM partition.")]
TimeLimit = Annotated[
    Optional[str],
    typer.Option(
        "--time",
        rich_help_panel=SLURM,
        help="Each cell's time limit: minutes or [D-]HH:MM[:SS] (default 24:00:00); a cell that reaches it is requeued.",
    ),
]
GpusPerCell = Annotated[
    Optional[int], typer.Option("--gpus-per-cell", rich_help_panel=SLURM, help="GPUs per cell (default 1; 0: CPU only).")
]
CpusPerCell = Annotated[Optional[int], typer.Option("--cpus-per-cell", rich_help_panel=SLURM, help="CPU cores per cell.")]
Mem = Annotated[Optional[str], typer.Option("--mem", rich_help_panel=SLURM, help="Memory per cell, as sbatch takes it (e.g. 32G).")]
ArrayParallelism = Annotated[
    Optional[int],
    typer.Option("--array-parallelism", rich_help_panel=SLURM, help="Cells running at once (default: all)."),
]
SlurmOption = Annotated[
    Optional[List[str]],
    typer.Option(
        "--slurm-option",
        rich_help_panel=SLURM,
        help="Any other sbatch option as KEY=VALUE (repeatable), e.g. account=myproject, qos=high, constraint=a100.",
    ),
]


@guarded
def run(
    dataset: DatasetName = "ham10000",
    data_dir: DataDir = None,
    split: Split = "paper",
    strict: Strict = False,
    matrix: Matrix = None,
    backbones: Backbones = None,
    recipes: Recipes = None,
    image_size: ImageSize = None,
    weights: Weights = None,
    attention: Attention = "paper",
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    schedule: Schedule = "paper",
    deterministic: Deterministic = False,
    bn_momentum: BnMomentum = None,
    gradient_accumulation: GradientAccumulation = None,
    seeds: Seeds = None,
    seed: Seed = 0,
    precision: Precision = None,
    jit: Jit = False,
    shard: Shard = None,
    executor: Executor = "inline",
    jobs: Jobs = None,
    wait: Wait = False,
    partition: Partition = None,
    time_limit: TimeLimit = None,
    gpus_per_cell: GpusPerCell = None,
    cpus_per_cell: CpusPerCell = None,
    mem: Mem = None,
    array_parallelism: ArrayParallelism = None,
    slurm_option: SlurmOption = None,
    allow_cpu: AllowCpu = False,
    out: Out = None,
    keep_models: KeepModels = True,
    dry_run: DryRun = False,
    quiet: Quiet = False,
) -> None:
    """Train a matrix of cells (backbone x recipe x seed); finished cells are kept, killed ones resume.

    Defaults: each backbone's native image size, the schedule's epoch cap and batch (150 and 32 under paper), ImageNet weights;
    the smoke matrix: 64 px, 2 epochs, batch 16, random weights (BatchNorm momentum 0.9), a 1000-image synthetic set;
    the demo matrix: the same for 5 epochs.
    """
    spec = config.matrix_spec(matrix or ("all" if backbones else "full"))
    cells = config.select(
        spec,
        backbones=catalogue.BACKBONES.parse(backbones, "--backbones"),
        recipes=config.parse_list(recipes, "--recipes", catalogue.RECIPE_NAMES),
        split=split,
        seeds=config.parse_seeds(seeds, seed),
    )
    settings = _settings(
        spec.profile, image_size=image_size, epochs=epochs, batch_size=batch_size, weights=weights,
        precision=precision, jit=jit, schedule=schedule, attention=attention, deterministic=deterministic,
        bn_momentum=bn_momentum, gradient_accumulation=gradient_accumulation, keep_model=keep_models,
    )
    part, execution = _execution(
        shard, dataset, data_dir, executor, jobs=jobs, wait=wait, partition=partition, time_limit=time_limit,
        gpus_per_cell=gpus_per_cell, cpus_per_cell=cpus_per_cell, mem=mem, array_parallelism=array_parallelism,
        slurm_options=slurm_option,
    )
    _check_sizes({cell.backbone for cell in cells}, settings)
    require_gpu = _require_gpu(execution, allow_cpu=allow_cpu, cpu_sized=spec.profile.cpu_sized(settings), dry_run=dry_run)
    # Every option is checked: now the heavy imports.
    from skinbench.train.runner import matrix_plans

    plans = _shard(matrix_plans(cells, settings), part)
    _start(plans, settings, spec.profile, dataset, data_dir, out or Path("results") / spec.name, quiet, strict, execution,
           require_gpu=require_gpu, dry_run=dry_run)


@ablate_app.command("mobilenetv3")
@guarded
def ablate_mobilenetv3(
    dataset: DatasetName = "ham10000",
    data_dir: DataDir = None,
    split: Split = "paper",
    strict: Strict = False,
    cuts: Cuts = None,
    smoke: Smoke = False,
    image_size: ImageSize = None,
    weights: Weights = None,
    attention: Attention = "paper",
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    schedule: Schedule = "paper",
    deterministic: Deterministic = False,
    bn_momentum: BnMomentum = None,
    gradient_accumulation: GradientAccumulation = None,
    seeds: Seeds = None,
    seed: Seed = 0,
    precision: Precision = None,
    jit: Jit = False,
    shard: Shard = None,
    executor: Executor = "inline",
    jobs: Jobs = None,
    wait: Wait = False,
    partition: Partition = None,
    time_limit: TimeLimit = None,
    gpus_per_cell: GpusPerCell = None,
    cpus_per_cell: CpusPerCell = None,
    mem: Mem = None,
    array_parallelism: ArrayParallelism = None,
    slurm_option: SlurmOption = None,
    allow_cpu: AllowCpu = False,
    out: Out = None,
    keep_models: KeepModels = True,
    dry_run: DryRun = False,
    quiet: Quiet = False,
) -> None:
    """Paper Table 9: MobileNetV3Large cut at each layer of the table, with the metadata recipe.

    Defaults as for 'skinbench run'; --smoke: 64 px, 1 epoch, batch 16, random weights (BatchNorm momentum 0.9).
    """
    profile = config.SMOKE_ABLATION if smoke else config.BENCHMARK
    settings = _settings(
        profile, image_size=image_size, epochs=epochs, batch_size=batch_size, weights=weights, precision=precision,
        jit=jit, schedule=schedule, attention=attention, deterministic=deterministic, bn_momentum=bn_momentum,
        gradient_accumulation=gradient_accumulation, keep_model=keep_models,
    )
    chosen = _parse_cuts(cuts) if cuts is not None or not smoke else config.SMOKE_ABLATION_CUTS
    chosen_seeds = config.parse_seeds(seeds, seed)
    part, execution = _execution(
        shard, dataset, data_dir, executor, jobs=jobs, wait=wait, partition=partition, time_limit=time_limit,
        gpus_per_cell=gpus_per_cell, cpus_per_cell=cpus_per_cell, mem=mem, array_parallelism=array_parallelism,
        slurm_options=slurm_option,
    )
    _check_sizes({catalogue.ABLATION_BACKBONE}, settings)
    require_gpu = _require_gpu(execution, allow_cpu=allow_cpu, cpu_sized=profile.cpu_sized(settings), dry_run=dry_run)
    # Every option is checked: now the heavy imports.
    from skinbench.train.runner import ablation_plans

    plans = ablation_plans(chosen, split=split, seeds=chosen_seeds, attention=settings.attention)
    plans = _shard(plans, part)
    _start(plans, settings, profile, dataset, data_dir, out or Path("results") / "ablation", quiet, strict, execution,
           require_gpu=require_gpu, dry_run=dry_run)


def _shard(plans: list, parts: tuple[int, int] | None) -> list:
    """The plans of shard ``--shard K/N`` (all without it)."""
    if parts is None:
        return plans
    keep = {cell.cell_id for cell in config.shard([p.cell for p in plans], *parts)}
    return [p for p in plans if p.cell.cell_id in keep]


def _parse_cuts(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        cuts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise RunError(f"--cuts must be comma-separated layer numbers such as 230,240,246, not {text!r}") from None
    return config.check_cuts(cuts)


def _settings(
    profile: Profile,
    *,
    image_size: str | None,
    epochs: int | None,
    batch_size: int | None,
    weights: str | None,
    precision: str | None,
    jit: bool,
    schedule: str,
    attention: str,
    deterministic: bool,
    bn_momentum: float | None,
    gradient_accumulation: int | None,
    keep_model: bool,
) -> Settings:
    """The profile's settings with every option given on the command line applied.

    The parser has already refused values outside --schedule's, --attention's and
    --precision's choices.
    """
    if weights not in (None, "imagenet", "none") and not Path(weights).is_file():
        raise RunError(f"--weights must be 'imagenet', 'none' or an existing weights file; {weights} is none of these")
    settings = profile.settings.override(schedule=schedule, batch_size=batch_size)
    batches = sorted({settings.schedule_for(recipe).batch_size for recipe in catalogue.RECIPES})
    if gradient_accumulation and any(batch % gradient_accumulation for batch in batches):
        raise RunError(f"--gradient-accumulation {gradient_accumulation} does not divide the batch of "
                       f"{' or '.join(map(str, batches))} into equal micro-batches; use a divisor of --batch-size")
    return profile.settings.override(
        image_size=config.parse_image_size(image_size),
        epochs=epochs,
        batch_size=batch_size,
        weights=weights,
        precision=precision,
        jit=jit or None,
        schedule=schedule,
        attention=attention,
        deterministic=deterministic or None,
        bn_momentum=bn_momentum,
        gradient_accumulation=gradient_accumulation,
        keep_model=keep_model,
    )


def _execution(
    shard: str | None, dataset: str, data_dir: Path | None, executor: str, **options: object
) -> tuple[tuple[int, int] | None, Execution]:
    """The shard and the executor's settings, checked with the data options before any heavy import."""
    part = config.parse_shard(shard)
    execution = parse_execution(executor, shard=part is not None, **options)
    check_available(execution)
    _check_data(dataset, data_dir)
    return part, execution


def _check_data(dataset: str, data_dir: Path | None) -> None:
    if dataset == "synthetic" and data_dir is not None:
        raise RunError("--data-dir is for --dataset ham10000; --dataset synthetic generates its own images")
    if dataset == "ham10000":
        from skinbench.data.ham10000 import check_data_dir

        check_data_dir(data_dir)


def _check_sizes(backbones: set[str], settings: Settings) -> None:
    """--image-size against each backbone's smallest input (backbones registered by a plugin are
    checked when their model is built)."""
    for name in sorted(backbones & set(catalogue.BACKBONES)):
        catalogue.BACKBONES[name].check_size(settings.image_size)


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
            raise RunError("--gpus-per-cell 0 gives the jobs no GPU, and this plan is larger than the smoke and demo "
                           "matrices: add --allow-cpu to train it on CPUs")
        return needed
    require_gpu(allow_cpu=allow_cpu, cpu_sized=cpu_sized)
    return needed


def _start(
    plans,
    settings: Settings,
    profile: Profile,
    dataset: str,
    data_dir: Path | None,
    out: Path,
    quiet: bool,
    strict: bool,
    execution: Execution,
    *,
    require_gpu: bool,
    dry_run: bool,
) -> None:
    from skinbench.console import err_console
    from skinbench.train.device import device_line
    from skinbench.train.rundata import DataSource
    from skinbench.train.runner import run_cells

    source = DataSource(dataset, data_dir, profile.synthetic, strict)
    if dry_run:
        from skinbench.commands.plan import print_plan

        print_plan(plans, settings, source, out)
        return
    if execution.executor != catalogue.SLURM:  # a SLURM job says its own device in its log
        err_console.print(device_line(precision=settings.precision, jit=settings.jit), highlight=False, soft_wrap=True)
    summary = run_cells(plans, settings, source, out, quiet=quiet, execution=execution, require_gpu=require_gpu)
    running = f", {len(summary.running)} still running in earlier jobs" if summary.running else ""
    running += f", {len(summary.repaired)} repaired (evaluated again)" if summary.repaired else ""
    if summary.followed:
        err_console.print(
            f"{len(summary.finished)} cell(s) trained, {len(summary.skipped)} already finished{running}; "
            f"results in {summary.out}",
            highlight=False,
        )
        return
    for cell_id, job_id in summary.submitted.items():  # stdout: the job ids, one per line
        typer.echo(f"{job_id}\t{cell_id}")
    err_console.print(
        f"{len(summary.submitted)} cell(s) submitted, {len(summary.skipped)} already finished{running}; "
        f"follow them with: skinbench status {summary.out} --watch",
        highlight=False,
    )
