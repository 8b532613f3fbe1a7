"""`skinbench run` (a matrix of backbones x recipes) and `skinbench ablate mobilenetv3` (paper Table 9).

Both are ``skinbench.api.run`` of a ``RunSpec``: each field of the specification is one option
(``OPTIONS``), declared once and given to both commands by ``spec_command``; ``--config FILE``
makes a file's values the options' defaults (flags given beside it win) and ``--print-config``
prints the specification as a file ``--config`` reads. The library's errors name the
specification's fields (``model.weights``); these commands say each field's flag (``FLAGS``).
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, List, Optional

import typer

from skinbench.commands.common import guarded
from skinbench.commands.helpformat import App
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
from skinbench.errors import RunError, SkinbenchError
from skinbench.spec import OPTION_SECTION, SECTIONS, RunSpec, read_options

ablate_app = App(
    help="""Ablation studies.

    Examples:
      skinbench ablate mobilenetv3 --smoke
      skinbench ablate mobilenetv3 --data-dir data/HAM10000
    """,
    no_args_is_help=True,
)

# Both commands' options, each under its panel of --help; a default that is not a value is described.
_SMALL = f"{config.SMOKE.settings.image_size} for the smoke and demo matrices"
DataDir = in_panel(options.DataDir, DATA)
DatasetName = in_panel(
    options.DatasetName, DATA, "synthetic for the smoke and demo matrices and ablate --smoke without --data-dir, "
    "else ham10000")
Split = in_panel(options.Split, DATA)
Strict = in_panel(options.Strict, DATA)
ImageSize = in_panel(options.ImageSize, MODEL, f"native; {_SMALL}")
Weights = in_panel(options.Weights, MODEL, f"imagenet; {config.SMOKE.settings.weights} for the smoke and demo matrices")
Attention = in_panel(options.Attention, MODEL)
Backbones = in_panel(options.Backbones, MODEL, "the matrix's")
Epochs = in_panel(options.Epochs, TRAINING, f"the schedule's cap; {config.SMOKE.settings.epochs} for smoke, "
                  f"{config.DEMO.settings.epochs} for demo, {config.SMOKE_ABLATION.settings.epochs} for ablate --smoke")
BatchSize = in_panel(options.BatchSize, TRAINING, f"the schedule's; {config.SMOKE.settings.batch_size} for the smoke "
                     "and demo matrices")
Seed = in_panel(options.Seed, TRAINING)
Seeds = in_panel(options.Seeds, TRAINING, "--seed")
Precision = in_panel(options.Precision, EXECUTION, config.FULL_SCALE.settings.precision)
Jit = in_panel(options.Jit, EXECUTION)
Out = in_panel(options.Out, OUTPUT, "results/ and the matrix's name, or results/ablation")
Quiet = in_panel(options.Quiet, OUTPUT)

Matrix = Annotated[
    Optional[str],
    choice_option(
        "--matrix",
        config.MATRICES.names(),
        "; ".join(f"'{m.name}': {m.description}" for m in config.MATRICES.values())
        + ".",
        rich_help_panel=MODEL,
        show_default="full, or all with --backbones",
    ),
]
Recipes = Annotated[
    Optional[str],
    choice_list_option(
        "--recipes", catalogue.RECIPE_NAMES, "Comma-separated recipes.", rich_help_panel=MODEL, show_default="both"
    ),
]
Cuts = Annotated[
    Optional[str],
    typer.Option(
        "--cuts",
        metavar="N,...",
        rich_help_panel=MODEL,
        show_default=f"every row, plain MobileNetV3Large included; with --smoke "
        f"{','.join(map(str, config.SMOKE_ABLATION_CUTS))}",
        help="Comma-separated cuts to run, e.g. 230,240,246.",
    ),
]
Smoke = Annotated[
    bool,
    typer.Option(
        "--smoke",
        rich_help_panel=MODEL,
        help="The smoke settings (small images, one epoch, random weights, the synthetic set).",
    ),
]
Schedule = Annotated[
    str,
    choice_option(
        "--schedule",
        config.SCHEDULE_NAMES,
        "; ".join(
            f"'{name}': "
            + " / ".join(
                f"{recipe}: batch {s.batch_size}, epochs of {s.epoch}, Adam {s.learning_rate:g}"
                f"{', ReduceLROnPlateau' if s.reduce_lr else ''}, early stopping on {s.monitor} (patience {s.patience}), "
                f"at most {s.max_epochs} epochs"
                for recipe, s in recipes.items()
            )
            for name, recipes in config.SCHEDULES.items()
        ) + " (docs/guides/training.md, Schedules).",
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
        metavar="X",
        min=0.0,
        max=1.0,
        rich_help_panel=TRAINING,
        show_default=f"the backbone's own (0.999 in MobileNetV3); {config.SMOKE.settings.bn_momentum} for the smoke and "
        "demo matrices",
        help="Momentum of every BatchNormalization layer's moving statistics. With random weights a short run needs "
        "less, or evaluation uses statistics that have not caught up.",
    ),
]
GradientAccumulation = Annotated[
    Optional[int],
    typer.Option(
        "--gradient-accumulation",
        metavar="N",
        min=1,
        rich_help_panel=TRAINING,
        help="Micro-batches per batch: the optimizer steps once per batch on their mean gradient, for a GPU too small "
        "for the batch (BatchNorm then sees each micro-batch's statistics).",
        show_default="1, and 4 on the one retry of a cell that runs out of device memory",
    ),
]
Shard = Annotated[
    Optional[str],
    typer.Option(
        "--shard",
        metavar="K/N",
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
        metavar="N",
        rich_help_panel=EXECUTION,
        show_default="one per GPU, 1 without a GPU",
        help="--executor local: cells at once; more than GPUs share them.",
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
Partition = Annotated[Optional[str], typer.Option("--partition", metavar="NAME", rich_help_panel=SLURM, help="The SLURM partition.")]
TimeLimit = Annotated[
    Optional[str],
    typer.Option(
        "--time",
        metavar="TIME",
        rich_help_panel=SLURM,
        show_default="24:00:00",
        help="Each cell's time limit: minutes or [D-]HH:MM[:SS]; a cell that reaches it is requeued.",
    ),
]
GpusPerCell = Annotated[
    Optional[int], typer.Option("--gpus-per-cell", metavar="N", rich_help_panel=SLURM, show_default="1",
                                help="GPUs per cell (0: CPU only).")
]
CpusPerCell = Annotated[Optional[int], typer.Option("--cpus-per-cell", metavar="N", rich_help_panel=SLURM, help="CPU cores per cell.")]
Mem = Annotated[Optional[str], typer.Option("--mem", metavar="SIZE", rich_help_panel=SLURM, help="Memory per cell, as sbatch takes it (e.g. 32G).")]
ArrayParallelism = Annotated[
    Optional[int],
    typer.Option("--array-parallelism", metavar="N", rich_help_panel=SLURM, show_default="all",
                 help="Cells running at once."),
]
SlurmOption = Annotated[
    Optional[List[str]],
    typer.Option(
        "--slurm-option",
        metavar="KEY=VALUE",
        rich_help_panel=SLURM,
        help="Any other sbatch option as KEY=VALUE (repeatable), e.g. account=myproject, qos=high, constraint=a100.",
    ),
]


Ablation = Annotated[
    Optional[str],
    choice_option(
        "--ablation",
        catalogue.ABLATIONS.names(),
        "Run an ablation in place of a matrix ('skinbench ablate mobilenetv3' is the same): "
        + "; ".join(f"'{a.name}': {a.description}" for a in catalogue.ABLATIONS.values()) + ".",
        rich_help_panel=MODEL,
    ),
]
def _load_config(ctx: typer.Context, value: Optional[Path]) -> Optional[Path]:
    """``--config``: the file's options become the command's defaults (so flags override them)."""
    if value is not None:
        try:
            options = read_options(value)
        except RunError as exc:
            raise typer.BadParameter(str(exc)) from None
        ctx.default_map = {**(ctx.default_map or {}), **options}
    return value


ConfigFile = Annotated[
    Optional[Path],
    typer.Option(
        "--config",
        metavar="FILE",
        is_eager=True,
        callback=_load_config,
        rich_help_panel=OUTPUT,
        help="A run specification (TOML, or YAML) whose values are the defaults of these options; flags given beside "
        "it override them. --print-config writes one.",
    ),
]
PrintConfig = Annotated[
    bool,
    typer.Option(
        "--print-config",
        rich_help_panel=OUTPUT,
        help="Print the run specification these options make (TOML, as --config reads it) and exit.",
    ),
]

#: The option of each field of ``RunSpec`` (the parameter's name is the field's).
OPTIONS: dict[str, Any] = {
    "dataset": DatasetName, "data_dir": DataDir, "split": Split, "strict": Strict,
    "matrix": Matrix, "ablation": Ablation, "backbones": Backbones, "recipes": Recipes, "cuts": Cuts, "smoke": Smoke,
    "seeds": Seeds, "seed": Seed, "shard": Shard,
    "image_size": ImageSize, "weights": Weights, "attention": Attention, "bn_momentum": BnMomentum,
    "schedule": Schedule, "epochs": Epochs, "batch_size": BatchSize, "precision": Precision, "jit": Jit,
    "deterministic": Deterministic, "gradient_accumulation": GradientAccumulation, "keep_models": KeepModels,
    "executor": Executor, "jobs": Jobs, "wait": Wait, "partition": Partition, "time_limit": TimeLimit,
    "gpus_per_cell": GpusPerCell, "cpus_per_cell": CpusPerCell, "mem": Mem, "array_parallelism": ArrayParallelism,
    "slurm_option": SlurmOption, "allow_cpu": AllowCpu, "out": Out, "quiet": Quiet,
}
#: The flag of each field of ``RunSpec`` by its name in the library's errors (``model.weights`` -> ``--weights``).
def _flag(option: Any) -> str:
    """An option's flag (``--keep-models`` of ``--keep-models/--no-keep-models``)."""
    info = typing.get_args(option)[1]
    return (info.param_decls or (info.default,))[0].split("/")[0]  # in Annotated, the flag stands in default's place


FLAGS: dict[str, str] = {f"{OPTION_SECTION[name]}.{name}": _flag(option) for name, option in OPTIONS.items()}
#: What ``skinbench ablate <name>`` leaves out: the matrix it replaces.
MATRIX_ONLY = frozenset({"matrix", "ablation", "backbones", "recipes"})


def _default(name: str) -> Any:
    """The option's default: its field's (an empty tuple is the option's None)."""
    kind = SECTIONS[OPTION_SECTION[name]]
    default = kind.__dataclass_fields__[name].default
    return None if default == () else default


def spec_command(exclude: frozenset[str] = frozenset(), **fixed: Any) -> Callable[[Callable], Callable]:
    """A command whose options are ``OPTIONS`` but ``exclude``, plus --config, --print-config and
    --dry-run; it calls the decorated function with the ``RunSpec`` they make (``fixed`` set too)."""

    def make(func: Callable[..., None]) -> Callable:
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters = [
            inspect.Parameter(name, keyword, default=_default(name), annotation=option)
            for name, option in OPTIONS.items()
            if name not in exclude
        ]
        parameters += [
            inspect.Parameter("config_file", keyword, default=None, annotation=ConfigFile),
            inspect.Parameter("print_config", keyword, default=False, annotation=PrintConfig),
            inspect.Parameter("dry_run", keyword, default=False, annotation=DryRun),
        ]

        def command(*, config_file: Optional[Path], print_config: bool, dry_run: bool, **values: Any) -> None:
            try:
                func(RunSpec.from_options(**values, **fixed), print_config=print_config, dry_run=dry_run)
            except SkinbenchError as exc:
                raise flagged(exc) from None

        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__name__, command.__doc__ = func.__name__, func.__doc__
        return guarded(command)

    return make


def flagged(error: SkinbenchError) -> SkinbenchError:
    """``error`` as the command line says it: each field it names written as its flag."""
    if not error.fields:
        return error
    return type(error)(error.named(FLAGS), fields=error.fields)


@spec_command()
def run(spec: RunSpec, *, print_config: bool, dry_run: bool) -> None:
    """Train a matrix of cells (backbone x recipe x seed); finished cells are kept, killed ones resume.

    Defaults: each backbone's native image size, the schedule's epoch cap and batch (paper: 150 epochs of batch 32), ImageNet weights;
    the smoke matrix: 64 px, 2 epochs, batch 16, random weights (BatchNorm momentum 0.9), a 1000-image synthetic set;
    the demo matrix: the same for 5 epochs.

    Examples:
      skinbench run --matrix smoke
      skinbench run --matrix paper --data-dir data/HAM10000 --seeds 0,1,2
      skinbench run --backbones resnet50 --data-dir data/HAM10000 --dry-run
    """
    _start(spec, print_config=print_config, dry_run=dry_run)


@ablate_app.command("mobilenetv3")
@spec_command(MATRIX_ONLY, ablation="mobilenetv3")
def ablate_mobilenetv3(spec: RunSpec, *, print_config: bool, dry_run: bool) -> None:
    """Paper Table 9: MobileNetV3Large cut at each layer of the table, with the metadata recipe.

    Defaults as for 'skinbench run'; --smoke: 64 px, 1 epoch, batch 16, random weights (BatchNorm momentum 0.9).

    Examples:
      skinbench ablate mobilenetv3 --smoke
      skinbench ablate mobilenetv3 --data-dir data/HAM10000 --cuts 230,240,246
    """
    _start(spec, print_config=print_config, dry_run=dry_run)


def _start(spec: RunSpec, *, print_config: bool, dry_run: bool) -> None:
    """Print the specification, or its plan, or run it and say what happened."""
    from skinbench import api
    from skinbench.console import err_console

    if print_config:
        typer.echo(spec.to_toml(), nl=False)
        return
    prepared = api.prepare(spec, dry_run=dry_run)
    if dry_run:
        from skinbench.commands.plan import print_plan

        print_plan(prepared.plans, prepared.settings, prepared.source(), prepared.out)
        return
    if prepared.finished:  # said before any heavy import
        err_console.print(
            f"all {len(prepared.plans)} cells of {prepared.out} are finished; nothing to do (their report: skinbench "
            f"report {prepared.out}; to train a cell again, delete its folder)", highlight=False, soft_wrap=True,
        )
        return
    summary = api.run(prepared)
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
