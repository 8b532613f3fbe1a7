"""GPU-hours of the paper's study and of ``make reproduce``, from measured figures only.

Every cell of ``--matrix paper`` (13 cells) plus the MobileNetV3Large ablation (10 rows, paper
Table 9), and of ``--matrix full`` (22 cells) plus the ablation, is costed with the arithmetic
of ``skinbench --dry-run`` (``train.plan.cell_seconds``): epochs x (training images / training
images/s + validation images / inference images/s) + one compile, plus checkpoints where
``--checkpoint-s`` gives their cost.

* The figures: ``--epochs-csv`` (whole epochs through the trainer, written by
  ``benchmarks/gpu.sh``) where it has the cell's backbone, recipe and image size, else the bench
  (``--bench``: a ``skinbench bench`` CSV; default the GPU bench skinbench ships). A bench that
  lacks a backbone the matrices need is refused, naming it: a partial bench does not cost a
  study.
* The epochs: where ``--runs`` gives finished run folders, each cell runs the mean of the
  epochs its backbone and recipe (or ablation row) ran there (``timing.json``'s
  ``epochs_run``: what early stopping left); every other cell is costed at each of ``--epochs``
  (60, 80 and 150 by default), a stated range, since early stopping is not guessed.
* Several cells at once (``--executor local --jobs N``): ``--jobs-csv`` (``gpu.sh``'s jobs step)
  holds one cell trained alone and N at once; their throughput ratio gives the wall-clock hours
  of the same work on one GPU, on a line of its own (unmeasured without it).

Images per epoch follow the HAM10000 paper split: both matrices and the ablation have metadata
cells, so the runner drops the 57 rows without an age (``data.ham10000``) for every cell; the
9,958 images split 90/10 (``data.splits.expected_sizes``), a training epoch is its whole
batches of 32, and the augmented recipe grows the training part by the paper's factor.

Usage: python benchmarks/time_to_paper.py [--bench FILE] [--epochs-csv FILE] [--runs DIR ...]
       [--jobs-csv FILE] [--checkpoint-s S] [--epochs 60,80,150]
The last line printed is ``paper_gpu_hours: <h>`` (the paper's study at 80 epochs for every
cell without a measured epoch count).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from skinbench import gpu_bench
from skinbench.catalogue import ABLATION_BACKBONE, ABLATION_ROWS, BACKBONES, HAM10000_IMAGES, METADATA, RECIPES
from skinbench.config import MATRICES, Settings
from skinbench.data.augment import default_target_total
from skinbench.data.splits import expected_sizes
from skinbench.errors import RunError
from skinbench.records import CellConfig, Timing, status_of
from skinbench.train.plan import Figures, cell_seconds, epoch_images, lookup, reference_gpu

DEFAULT_EPOCHS = (60, 80, 150)
#: The epochs the last line is given at.
HEADLINE_EPOCHS = 80
#: Rows of HAM10000_metadata.csv without an age, which the metadata recipe cannot use.
MISSING_AGE_ROWS = 57
UNMEASURED = "unmeasured (counted as 0)"
SETTINGS = Settings()  #: the paper's batch and schedule

METADATA_IMAGES = HAM10000_IMAGES - MISSING_AGE_ROWS
_SIZES = expected_sizes("paper", METADATA_IMAGES)
_METADATA, _AUGMENTED = SETTINGS.schedule_for("metadata"), SETTINGS.schedule_for("augmented")
TRAIN_IMAGES, VAL_IMAGES = epoch_images(_METADATA, _SIZES["train"], _SIZES["train"]), _SIZES["val"]
AUGMENTED_TRAIN_IMAGES = epoch_images(_AUGMENTED, _SIZES["train"], default_target_total(_SIZES["train"]))


@dataclass(frozen=True)
class Cell:
    """One cell to cost: what it trains and on how many images."""

    name: str
    backbone: str
    recipe: str
    train_images: int
    ablation: str | None = None  #: a key of ABLATION_ROWS

    @property
    def key(self) -> tuple[str, str]:
        """(backbone, recipe or ablation row): the cells of a run folder whose epochs it takes."""
        return self.backbone, f"ablation-{self.ablation}" if self.ablation else self.recipe


def cells(matrix: str) -> list[Cell]:
    """The matrix's cells and the ablation rows (all MobileNetV3Large on the metadata data)."""
    found = [
        Cell(f"{backbone} {recipe}", backbone, recipe, AUGMENTED_TRAIN_IMAGES if RECIPES[recipe].augmented else TRAIN_IMAGES)
        for backbone, recipe in MATRICES.get(matrix).pairs
    ]
    return found + [
        Cell(f"{ABLATION_BACKBONE} ablation {key}", ABLATION_BACKBONE, METADATA, TRAIN_IMAGES, ablation=key)
        for key in ABLATION_ROWS
    ]


def load_bench(path: Path | None) -> tuple[pd.DataFrame, str]:
    """The bench (the shipped table when ``path`` is None) and how to name it."""
    if path is None:
        return gpu_bench.shipped(), "skinbench/gpu_bench.csv"
    return gpu_bench.from_bench_csv(path), str(path)


def check_complete(bench: pd.DataFrame, label: str, device: str, backend: str) -> None:
    """RunError naming every backbone of the matrices the bench has no row for."""
    needed = {cell.backbone for matrix in ("paper", "full") for cell in cells(matrix)}
    rows = bench[(bench["device"] == device) & (bench["backend"] == backend)]
    missing = sorted(needed - set(rows["backbone"]))
    if missing:
        raise RunError(f"{label} has no {device} ({backend}) row for {', '.join(missing)}: a partial bench cannot cost "
                       "the study; bench them (benchmarks/gpu.sh) or give a bench that has them")


def load_epochs(path: Path | None) -> pd.DataFrame | None:
    """``gpu.sh``'s epochs.csv (None when not given); RunError when it is empty or unreadable."""
    if path is None:
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot read it as an epochs CSV ({exc})") from None
    frame = frame.dropna(subset=["train_images_per_s"]) if "train_images_per_s" in frame else frame.iloc[:0]
    if frame.empty:
        raise RunError(f"{path} holds no measured epoch")
    return frame


def figures_for(cell: Cell, bench: pd.DataFrame, epochs: pd.DataFrame | None, device: str, backend: str) -> tuple[Figures | None, str]:
    """A cell's figures and where they come from: the epochs CSV at the cell's native size, else the bench."""
    size = BACKBONES[cell.backbone].native_size
    if epochs is not None:
        rows = epochs[(epochs["backbone"] == cell.backbone) & (epochs["recipe"] == cell.recipe) & (epochs["image_size"] == size)]
        rows = rows.dropna(subset=["val_s", "first_epoch_s", "epoch_s"])
        if len(rows):
            row = rows.loc[rows["train_images_per_s"].astype(float).idxmax()]
            compile_s = float(row["first_epoch_s"]) - float(row["epoch_s"]) + float(row["first_val_s"]) - float(row["val_s"])
            figures = Figures(device, backend, "", str(row["dtype_policy"]), size, float(row["train_images_per_s"]),
                              float(row["n_val_images"]) / float(row["val_s"]), compile_s, None, "epochs CSV")
            return figures, "epochs CSV: whole epochs through the trainer (validation measured; compile = first epoch - later)"
    for policy in _policies(bench, device, backend, cell.backbone):
        figures = lookup(bench, device=device, backend=backend, backbone=cell.backbone, recipe=cell.recipe,
                         image_size=size, policy=policy)
        if figures is not None:
            note = "" if cell.ablation is None else "; the uncut model's figure (no ablation row was benched)"
            return figures, f"bench: the training step alone, its fastest measured precision{note}"
    return None, f"no bench row for {cell.backbone} at {size} px"


def _policies(bench: pd.DataFrame, device: str, backend: str, backbone: str) -> list[str]:
    """The backbone's measured policies, fastest first."""
    rows = bench[(bench["device"] == device) & (bench["backend"] == backend) & (bench["backbone"] == backbone)]
    return list(rows.sort_values("train_images_per_s", ascending=False)["policy"].drop_duplicates())


def run_epochs(folders: Sequence[Path]) -> dict[tuple[str, str], float]:
    """Mean ``epochs_run`` of the finished cells in ``folders``, per (backbone, recipe or ablation row)."""
    found: dict[tuple[str, str], list[int]] = {}
    for folder in folders:
        for config_file in sorted(Path(folder).glob(f"*/{CellConfig.FILE}")):
            cell = config_file.parent
            if status_of(cell) != "finished":
                continue
            config = CellConfig.read(cell)
            key = (config.backbone, f"ablation-{config.ablation}" if config.ablation else config.recipe)
            found.setdefault(key, []).append(Timing.read(cell).epochs_run)
    return {key: sum(values) / len(values) for key, values in found.items()}


def jobs_speedup(path: Path | None) -> tuple[int, float] | None:
    """(N, throughput of N cells at once / one cell's) from ``gpu.sh``'s jobs.csv, or None."""
    if path is None:
        return None
    frame = pd.read_csv(path)
    alone = frame[frame["gpu_sharing"] == 1]
    shared = frame[frame["gpu_sharing"] > 1]
    if alone.empty or shared.empty:
        raise RunError(f"{path} needs cells run alone (gpu_sharing 1) and at once (gpu_sharing > 1)")
    n = int(shared["gpu_sharing"].iloc[0])
    one = float((alone["epoch_images"] / alone["epoch_s"]).mean())
    together = float((shared["epoch_images"] / shared["epoch_s"]).mean()) * n
    return n, together / one


def _hours(seconds: float) -> str:
    return f"{seconds:,.0f} s = {seconds / 3600:.2f} h"


def estimate(
    matrix: str, bench: pd.DataFrame, epochs: pd.DataFrame | None, *, device: str, backend: str,
    epoch_counts: Sequence[int], measured_epochs: dict[tuple[str, str], float], checkpoint_s: float | None, out=sys.stdout,
) -> dict[int, float]:
    """Print the arithmetic of one matrix plus the ablation; return the total seconds per epoch count."""
    chosen = cells(matrix)
    print(f"\n== --matrix {matrix} + ablation: {len(chosen) - len(ABLATION_ROWS)} + {len(ABLATION_ROWS)} cells ==", file=out)
    print(f"{'cell':<42} {'policy':<15} {'epochs':>8} {'training s/epoch':<28} {'validation s/epoch':<24} compile s", file=out)
    totals = dict.fromkeys(epoch_counts, 0.0)
    sources: set[str] = set()
    for cell in chosen:
        figures, source = figures_for(cell, bench, epochs, device, backend)
        sources.add(source)
        fixed = measured_epochs.get(cell.key)
        if figures is None:
            print(f"{cell.name:<42} {'-':<15} {'-':>8} {UNMEASURED}", file=out)
            continue
        train = cell.train_images / figures.train_images_per_s
        val = VAL_IMAGES / figures.infer_images_per_s
        print(
            f"{cell.name:<42} {figures.policy:<15} {f'{fixed:.1f}' if fixed else 'range':>8} "
            f"{f'{cell.train_images:,} / {figures.train_images_per_s:,.2f} = {train:.3f}':<28} "
            f"{f'{VAL_IMAGES:,} / {figures.infer_images_per_s:,.2f} = {val:.3f}':<24} {figures.compile_s:.2f}",
            file=out,
        )
        for n in epoch_counts:
            epochs_run = fixed if fixed else n
            totals[n] += cell_seconds(epochs_run, cell.train_images, VAL_IMAGES, figures)
            totals[n] += epochs_run * checkpoint_s if checkpoint_s is not None else 0.0
    for n, total in totals.items():
        print(f"{n} epochs for the cells without a measured count: {_hours(total)}", file=out)
    print("which figures each cell rests on:", file=out)
    for source in sorted(sources):
        print(f"  {source}", file=out)
    print(f"  checkpoints: {f'{checkpoint_s:g} s per save, one per epoch' if checkpoint_s is not None else UNMEASURED}", file=out)
    return totals


def main(argv: Sequence[str] | None = None, out=sys.stdout) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, default=None, help="a skinbench bench CSV (default: the shipped GPU bench)")
    parser.add_argument("--epochs-csv", type=Path, default=None, help="epochs.csv written by benchmarks/gpu.sh")
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="finished run folders whose epoch counts to use")
    parser.add_argument("--jobs-csv", type=Path, default=None, help="jobs.csv written by benchmarks/gpu.sh")
    parser.add_argument("--checkpoint-s", type=float, default=None, help="seconds a checkpoint costs the training loop")
    parser.add_argument("--epochs", default=",".join(map(str, DEFAULT_EPOCHS)), help="comma-separated epoch counts")
    args = parser.parse_args(argv)
    epoch_counts = sorted({int(n) for n in args.epochs.split(",") if n.strip()} | {HEADLINE_EPOCHS})
    try:
        bench, label = load_bench(args.bench)
        device, backend = reference_gpu(bench)
        check_complete(bench, label, device, backend)
        epochs = load_epochs(args.epochs_csv)
        speedup = jobs_speedup(args.jobs_csv)
    except RunError as exc:
        parser.exit(2, f"time_to_paper: {exc}\n")
    measured = run_epochs(args.runs)
    dates = ", ".join(sorted(set(bench[(bench["device"] == device) & (bench["backend"] == backend)]["date"].astype(str))))
    print("time_to_paper: GPU-hours from measured figures only", file=out)
    print(f"bench: {label}: {device} under {backend} ({dates})", file=out)
    print(f"epochs CSV: {args.epochs_csv or 'none given: training and validation rest on the bench'}", file=out)
    print(f"epochs per cell: {f'measured in {len(measured)} (backbone, recipe) groups of the given runs; ' if measured else ''}"
          f"the rest at {', '.join(map(str, epoch_counts))} (a range: early stopping is not guessed)", file=out)
    print(f"images per epoch: HAM10000 {HAM10000_IMAGES:,} - {MISSING_AGE_ROWS} rows without an age = {METADATA_IMAGES:,}; "
          f"paper split: {TRAIN_IMAGES:,} training images in whole batches, {VAL_IMAGES:,} validation; augmented recipe: "
          f"{AUGMENTED_TRAIN_IMAGES:,}", file=out)
    totals = {
        matrix: estimate(matrix, bench, epochs, device=device, backend=backend, epoch_counts=epoch_counts,
                         measured_epochs=measured, checkpoint_s=args.checkpoint_s, out=out)
        for matrix in ("paper", "full")
    }
    print("\nsummary (GPU-hours, one cell at a time):", file=out)
    for matrix, by_epochs in totals.items():
        print(f"  --matrix {matrix} + ablation: " + ", ".join(f"{n} epochs {s / 3600:.2f} h" for n, s in by_epochs.items()), file=out)
    if speedup is None:
        print("  several cells at once (--executor local --jobs N): unmeasured (no --jobs-csv)", file=out)
    else:
        n, ratio = speedup
        hours = totals["paper"][HEADLINE_EPOCHS] / ratio / 3600
        print(f"  --executor local --jobs {n}: {n} cells at once ran {ratio:.2f} times one cell's throughput: the paper's "
              f"study at {HEADLINE_EPOCHS} epochs in {hours:.2f} h of wall clock on one GPU", file=out)
    hours = totals["paper"][HEADLINE_EPOCHS] / 3600
    print(f"paper_gpu_hours: {hours:.2f}", file=out)
    return hours


if __name__ == "__main__":
    main()
