"""`skinbench run` (a matrix of backbones x recipes) and `skinbench ablate mobilenetv3` (paper Table 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from skinbench.commands.common import guarded
from skinbench.commands.options import (
    Attention,
    Backbones,
    BatchSize,
    DataDir,
    DatasetName,
    Epochs,
    ImageSize,
    Jit,
    Out,
    Precision,
    Quiet,
    Seed,
    Seeds,
    Split,
    Strict,
    Weights,
)
from skinbench import catalogue, config
from skinbench.config import Profile, Settings
from skinbench.errors import RunError

ablate_app = typer.Typer(help="Ablation studies.", no_args_is_help=True)

Matrix = Annotated[str, typer.Option("--matrix", help="'full' (11 backbones x 2 recipes), 'paper' (the 13 cells the paper reports) or 'smoke' (a small CPU check).")]
Recipes = Annotated[Optional[str], typer.Option("--recipes", help="Comma-separated recipes: augmented, metadata.")]
Shard = Annotated[Optional[str], typer.Option("--shard", help="K/N: run only part K (1..N) of the cells, e.g. one SLURM array task each.")]
EarlyStopping = Annotated[
    str, typer.Option("--early-stopping", help="'paper' (validation accuracy, patience 25) or 'code' (validation loss, patience 35).")
]
Cuts = Annotated[Optional[str], typer.Option("--cuts", help="Comma-separated cuts to run, e.g. 230,240,246 (default: every row, plain MobileNetV3Large included).")]
Smoke = Annotated[
    bool, typer.Option("--smoke", help="The smoke settings (64 px, 1 epoch, random weights) on the [:230] rows unless --cuts says otherwise.")
]


@guarded
def run(
    matrix: Matrix = "full",
    backbones: Backbones = None,
    recipes: Recipes = None,
    seeds: Seeds = None,
    seed: Seed = 0,
    shard: Shard = None,
    data_dir: DataDir = None,
    dataset: DatasetName = "ham10000",
    image_size: ImageSize = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    weights: Weights = None,
    split: Split = "paper",
    early_stopping: EarlyStopping = "paper",
    attention: Attention = "paper",
    strict: Strict = False,
    precision: Precision = None,
    jit: Jit = False,
    out: Out = None,
    quiet: Quiet = False,
) -> None:
    """Train a matrix of cells (backbone x recipe x seed); finished cells are kept, killed ones resume.

    Defaults: each backbone's native image size, at most 150 epochs, batch 32, ImageNet weights;
    the smoke matrix: 64 px, 2 epochs, batch 16, random weights, a 300-image synthetic set.
    """
    from skinbench.train.runner import matrix_plans

    spec = config.matrix_spec(matrix)
    cells = config.select(
        spec,
        backbones=config.parse_list(backbones, "--backbones", catalogue.BACKBONE_NAMES),
        recipes=config.parse_list(recipes, "--recipes", catalogue.RECIPE_NAMES),
        split=split,
        seeds=config.parse_seeds(seeds, seed),
    )
    settings = _settings(spec.profile, image_size, epochs, batch_size, weights, precision, jit, early_stopping, attention)
    plans = _shard(matrix_plans(cells, settings), shard)
    _start(plans, settings, spec.profile, dataset, data_dir, out or Path("results") / spec.name, quiet, strict)


@ablate_app.command("mobilenetv3")
@guarded
def ablate_mobilenetv3(
    cuts: Cuts = None,
    smoke: Smoke = False,
    seeds: Seeds = None,
    seed: Seed = 0,
    shard: Shard = None,
    data_dir: DataDir = None,
    dataset: DatasetName = "ham10000",
    image_size: ImageSize = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    weights: Weights = None,
    split: Split = "paper",
    early_stopping: EarlyStopping = "paper",
    attention: Attention = "paper",
    strict: Strict = False,
    precision: Precision = None,
    jit: Jit = False,
    out: Out = None,
    quiet: Quiet = False,
) -> None:
    """Paper Table 9: MobileNetV3Large cut at each layer of the table, with the metadata recipe.

    Defaults as for 'skinbench run'; --smoke: 64 px, 1 epoch, batch 16, random weights.
    """
    from skinbench.train.runner import ablation_plans

    profile = config.SMOKE_ABLATION if smoke else config.BENCHMARK
    settings = _settings(profile, image_size, epochs, batch_size, weights, precision, jit, early_stopping, attention)
    chosen = _parse_cuts(cuts) if cuts is not None or not smoke else config.SMOKE_ABLATION_CUTS
    plans = ablation_plans(chosen, split=split, seeds=config.parse_seeds(seeds, seed), attention=settings.attention)
    plans = _shard(plans, shard)
    _start(plans, settings, profile, dataset, data_dir, out or Path("results") / "ablation", quiet, strict)


def _shard(plans: list, text: str | None) -> list:
    """The plans of shard ``--shard K/N`` (all without it)."""
    parts = config.parse_shard(text)
    if parts is None:
        return plans
    keep = {cell.cell_id for cell in config.shard([p.cell for p in plans], *parts)}
    return [p for p in plans if p.cell.cell_id in keep]


def _parse_cuts(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise RunError(f"--cuts must be comma-separated layer numbers such as 230,240,246, not {text!r}") from None


def _settings(
    profile: Profile,
    image_size: str | None,
    epochs: int | None,
    batch_size: int | None,
    weights: str | None,
    precision: str | None,
    jit: bool,
    early_stopping: str,
    attention: str,
) -> Settings:
    """The profile's settings with every option given on the command line applied."""
    if early_stopping not in config.EARLY_STOPPING:
        raise RunError(f"--early-stopping must be one of {', '.join(config.EARLY_STOPPING)}, not {early_stopping!r}")
    if attention not in catalogue.ATTENTION_VARIANTS:
        raise RunError(f"--attention must be one of {', '.join(catalogue.ATTENTION_VARIANTS)}, not {attention!r}")
    if precision not in (None, "float32", "mixed"):
        raise RunError(f"--precision must be 'float32' or 'mixed', not {precision!r}")
    if weights not in (None, "imagenet", "none") and not Path(weights).is_file():
        raise RunError(f"--weights must be 'imagenet', 'none' or an existing weights file; {weights} is none of these")
    return profile.settings.override(
        image_size=config.parse_image_size(image_size),
        epochs=epochs,
        batch_size=batch_size,
        weights=weights,
        precision=precision,
        jit=jit or None,
        early_stopping=early_stopping,
        attention=attention,
    )


def _start(
    plans, settings: Settings, profile: Profile, dataset: str, data_dir: Path | None, out: Path, quiet: bool, strict: bool
) -> None:
    from skinbench.console import err_console
    from skinbench.train.rundata import DataSource
    from skinbench.train.runner import run_cells

    if dataset == "synthetic" and data_dir is not None:
        raise RunError("--data-dir is for --dataset ham10000; --dataset synthetic generates its own images")
    summary = run_cells(plans, settings, DataSource(dataset, data_dir, profile.synthetic, strict), out, quiet=quiet)
    err_console.print(
        f"{len(summary.finished)} cell(s) trained, {len(summary.skipped)} already finished; results in {summary.out}",
        highlight=False,
    )
