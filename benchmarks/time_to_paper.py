"""GPU-hours of the paper's study and of ``make reproduce``, from measured figures only.

Every cell of ``--matrix paper`` (13 cells) plus the MobileNetV3Large ablation (10 rows, paper
Table 9), and of ``--matrix full`` (22 cells) plus the ablation, is costed at a fixed number of
epochs (60, 80 and 150 by default: every cell runs that many; early stopping is not guessed) as
the sum of four terms:

* training: epochs x training images per epoch / the backbone's training images/s, at the
  faster of its measured precisions. From ``--epochs-csv`` (whole epochs through the trainer,
  written by ``benchmarks/gpu.sh``) where that file has the cell's backbone and recipe, else
  from the bench CSV (the training step alone on in-memory batches);
* validation: epochs x validation images / inference images/s, at the precision the training
  figure came from (the epochs CSV's measured validation time, else the bench's batch-32
  ``predict_on_batch`` figure);
* compile: once per cell. The epochs CSV's first epoch minus a later one (training and
  validation), else the bench CSV's ``compile_s`` (the first ``fit``: the train step's
  compile and its warm-up steps) plus ``predict_compile_s`` where the bench measured it;
* checkpoints: epochs x ``--checkpoint-s`` (one save per epoch); unmeasured without it.

A term with no measurement is printed as unmeasured and counted as 0: the totals are then lower
bounds, and the output says so. Nothing else a cell does (building the model, the final
evaluation and latency, preparing the data) is counted.

Images per epoch follow the HAM10000 paper split: both matrices and the ablation have
metadata cells, so the runner drops the 57 rows without an age (``data.ham10000``) for every
cell; of the 9,958 images the stratified 90/10 split trains on 8,962 and validates on 996
(``train_test_split`` rounds the validation part up); the augmented recipe trains on that part
grown by the paper's factor (``data.augment.default_target_total``).

Usage: python benchmarks/time_to_paper.py [--bench FILE] [--epochs-csv FILE] [--checkpoint-s S]
       [--epochs 60,80,150]
The last line printed is ``paper_gpu_hours: <h>`` (the paper's study at 80 epochs).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from skinbench.catalogue import ABLATION_BACKBONE, ABLATION_ROWS, HAM10000_IMAGES, METADATA
from skinbench.config import matrix_spec
from skinbench.data.augment import default_target_total
from skinbench.data.splits import DEFAULT_FRACTIONS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = ROOT / "results" / "gpu" / "bench_h200.csv"
DEFAULT_EPOCHS = (60, 80, 150)
#: The epochs the last line is given at.
HEADLINE_EPOCHS = 80
#: Rows of HAM10000_metadata.csv without an age, which the metadata recipe cannot use.
MISSING_AGE_ROWS = 57
UNMEASURED = "unmeasured (counted as 0)"


def split_sizes(n_images: int) -> tuple[int, int]:
    """(training, validation) images of the paper split of ``n_images`` (validation rounded up)."""
    val = math.ceil(DEFAULT_FRACTIONS["paper"][1] * n_images)
    return n_images - val, val


METADATA_IMAGES = HAM10000_IMAGES - MISSING_AGE_ROWS
TRAIN_IMAGES, VAL_IMAGES = split_sizes(METADATA_IMAGES)
AUGMENTED_TRAIN_IMAGES = default_target_total(TRAIN_IMAGES)


@dataclass(frozen=True)
class Cell:
    """One cell to cost: what it trains, on how many images, and the figures it rests on."""

    name: str
    backbone: str
    recipe: str
    train_images: int
    val_images: int
    ablation: str | None = None  #: a key of ABLATION_ROWS


@dataclass(frozen=True)
class Figures:
    """Per-cell measured figures (None: unmeasured) and where each came from."""

    precision: str
    train_images_per_s: float | None
    train_source: str
    val_s_per_epoch: float | None
    val_arithmetic: str
    val_source: str
    compile_s: float | None
    compile_arithmetic: str
    compile_source: str
    image_size: int | None = None  #: the input size the figures were measured at


def cells(matrix: str) -> list[Cell]:
    """The matrix's cells and the ablation rows (all MobileNetV3Large on the metadata data)."""
    found = [
        Cell(f"{backbone} {recipe}", backbone, recipe, TRAIN_IMAGES if recipe == METADATA else AUGMENTED_TRAIN_IMAGES, VAL_IMAGES)
        for backbone, recipe in matrix_spec(matrix).pairs
    ]
    found += [
        Cell(f"{ABLATION_BACKBONE} ablation {key}", ABLATION_BACKBONE, METADATA, TRAIN_IMAGES, VAL_IMAGES, ablation=key)
        for key in ABLATION_ROWS
    ]
    return found


def _fastest(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows.loc[rows[column].astype(float).idxmax()]


def figures_for(cell: Cell, bench: pd.DataFrame, epochs: pd.DataFrame | None, bench_label: str) -> Figures:
    """The figures a cell rests on: the epochs CSV where it has the backbone and recipe, else the bench."""
    parallel_compile = "predict_compile_s" not in bench.columns  # bench CSVs before the lock covered compiles
    measured = epochs[(epochs["backbone"] == cell.backbone) & (epochs["recipe"] == cell.recipe)] if epochs is not None else None
    if measured is not None and len(measured):
        row = _fastest(measured, "train_images_per_s")
        val_s = compile_s = None
        val_arithmetic, compile_arithmetic = UNMEASURED, UNMEASURED
        val_source = compile_source = f"epochs CSV has no validation times for {cell.backbone}"
        if "val_s" in row and pd.notna(row.get("val_s")) and pd.notna(row.get("n_val_images")):
            rate = float(row["n_val_images"]) / float(row["val_s"])
            val_s = cell.val_images / rate
            val_arithmetic = f"{cell.val_images:,} / {rate:,.2f}"
            val_source = f"epochs CSV: measured validation of {int(row['n_val_images']):,} images in {float(row['val_s']):.3f} s"
        if pd.notna(row.get("first_epoch_s")) and pd.notna(row.get("epoch_s")):
            train_part = float(row["first_epoch_s"]) - float(row["epoch_s"])
            compile_arithmetic = f"{float(row['first_epoch_s']):.2f} - {float(row['epoch_s']):.2f}"
            compile_s = train_part
            compile_source = "epochs CSV: first training pass minus a later one"
            if pd.notna(row.get("first_val_s")) and pd.notna(row.get("val_s")):
                compile_s += float(row["first_val_s"]) - float(row["val_s"])
                compile_arithmetic += f" + {float(row['first_val_s']):.2f} - {float(row['val_s']):.2f}"
                compile_source += ", plus the same for validation (one process)"
            else:
                compile_source += " (validation's compile unmeasured, 0)"
        ran = row.get("dtype_policy")
        return Figures(
            str(ran) if pd.notna(ran) else str(row["precision"]), float(row["train_images_per_s"]),
            "epochs CSV: whole training epochs through the trainer, the faster measured precision",
            val_s, val_arithmetic, val_source, compile_s, compile_arithmetic, compile_source, _size(row),
        )
    rows = bench[(bench["backbone"] == cell.backbone) & (bench["recipe"] == cell.recipe)]
    stand_in = ""
    if not len(rows):
        rows = bench[(bench["backbone"] == cell.backbone) & (bench["recipe"] == METADATA)]
        stand_in = f"; the {METADATA} model's figure (no {cell.recipe} row in the bench)"
    if not len(rows):
        missing = f"{bench_label} has no row for {cell.backbone}: {UNMEASURED}"
        return Figures("-", None, missing, None, UNMEASURED, missing, None, "", missing)
    row = _fastest(rows, "train_images_per_s")
    infer = float(row["infer_images_per_s"])
    compile_s = float(row["compile_s"])
    compile_arithmetic = ""
    if parallel_compile:
        compile_source = (
            "bench compile_s (train step and warm-up), measured with several processes compiling at once "
            "(results/gpu/README.md): not a one-process figure; the predict programs unmeasured (0)"
        )
    else:
        predict_compile_s = float(row["predict_compile_s"])
        compile_arithmetic = f"{compile_s:.2f} + {predict_compile_s:.2f}"
        compile_s += predict_compile_s
        compile_source = "bench compile_s + predict_compile_s (one process holding the device)"
    if cell.ablation:
        stand_in += "; the uncut model's figure (no ablation row was benched)"
    precision = str(row["policy"]) if "policy" in row and pd.notna(row["policy"]) else str(row["precision"])
    return Figures(
        precision, float(row["train_images_per_s"]),
        f"{bench_label}: the training step alone, the faster measured precision{stand_in}",
        cell.val_images / infer, f"{cell.val_images:,} / {infer:,.2f}",
        f"{bench_label}: predict_on_batch at batch 32, the training figure's precision",
        compile_s, compile_arithmetic, compile_source, _size(row),
    )


def _size(row: pd.Series) -> int | None:
    value = row.get("image_size")
    return int(value) if value is not None and pd.notna(value) else None


def _hours(seconds: float) -> str:
    return f"{seconds:,.0f} s = {seconds / 3600:.2f} h"


def estimate(
    matrix: str, bench: pd.DataFrame, epochs: pd.DataFrame | None, *, bench_label: str, epoch_counts: Sequence[int],
    checkpoint_s: float | None, out=sys.stdout,
) -> dict[int, float]:
    """Print the arithmetic of one matrix plus the ablation; return the total seconds per epoch count."""
    chosen = cells(matrix)
    print(f"\n== --matrix {matrix} + ablation: {len(chosen) - len(ABLATION_ROWS)} + {len(ABLATION_ROWS)} cells ==", file=out)
    print(f"{'cell':<42} {'precision':<15} {'px':>4} {'training s/epoch':<30} {'validation s/epoch':<26} compile s (once)", file=out)
    train_total = val_total = compile_total = 0.0
    sources: dict[str, set[str]] = {"training": set(), "validation": set(), "compile": set()}
    unmeasured: set[str] = set()
    for cell in chosen:
        f = figures_for(cell, bench, epochs, bench_label)
        if f.train_images_per_s is None:
            train, train_text = None, UNMEASURED
        else:
            train = cell.train_images / f.train_images_per_s
            train_text = f"{cell.train_images:,} / {f.train_images_per_s:,.2f} = {train:.3f}"
        train_total += train or 0.0
        val_text = f"{f.val_arithmetic} = {f.val_s_per_epoch:.3f}" if f.val_s_per_epoch is not None else UNMEASURED
        compile_text = UNMEASURED if f.compile_s is None else f"{f.compile_arithmetic} = {f.compile_s:.2f}" if f.compile_arithmetic else f"{f.compile_s:.2f}"
        print(
            f"{cell.name:<42} {f.precision:<15} {f.image_size or '-':>4} {train_text:<30} "
            f"{val_text:<26} {compile_text}",
            file=out,
        )
        val_total += f.val_s_per_epoch or 0.0
        compile_total += f.compile_s or 0.0
        for term, source, value in (("training", f.train_source, train), ("validation", f.val_source, f.val_s_per_epoch),
                                    ("compile", f.compile_source, f.compile_s)):
            sources[term].add(source)
            if value is None:
                unmeasured.add(term)
    print(f"{'sum':<42} {'':<15} {'':>4} {f'T = {train_total:,.3f}':<30} {f'V = {val_total:,.3f}':<26} C = {compile_total:,.2f}", file=out)
    totals = {}
    for n in epoch_counts:
        training, validation = n * train_total, n * val_total
        if checkpoint_s is None:
            checkpoints, checkpoint_text = 0.0, f"checkpoints {UNMEASURED}"
        else:
            checkpoints = n * len(chosen) * checkpoint_s
            checkpoint_text = f"checkpoints {n} x {len(chosen)} x {checkpoint_s:g} = {_hours(checkpoints)}"
        total = training + validation + compile_total + checkpoints
        totals[n] = total
        print(
            f"{n} epochs: training {n} x {train_total:,.3f} = {_hours(training)}; "
            f"validation {n} x {val_total:,.3f} = {_hours(validation)}; compile {_hours(compile_total)}; "
            f"{checkpoint_text}; total {_hours(total)}",
            file=out,
        )
    print("which terms rest on which measurement:", file=out)
    for term, found in sources.items():
        for source in sorted(found):
            print(f"  {term}: {source}", file=out)
    print(
        f"  checkpoints: {'--checkpoint-s ' + format(checkpoint_s, 'g') + ' s per save, one save per epoch per cell' if checkpoint_s is not None else 'no GPU measurement given (--checkpoint-s): ' + UNMEASURED}",
        file=out,
    )
    if unmeasured or checkpoint_s is None:
        print("  unmeasured terms count as 0: the totals leave them out", file=out)
    return totals


def load_epochs(path: Path | None) -> pd.DataFrame | None:
    """The epochs CSV of ``benchmarks/gpu.sh`` (None when not given); older files lack ``recipe``."""
    if path is None:
        return None
    frame = pd.read_csv(path)
    if "recipe" not in frame:
        frame["recipe"] = METADATA  # gpu.sh's epochs step runs the metadata recipe
    return frame.dropna(subset=["train_images_per_s"])


def main(argv: Sequence[str] | None = None, out=sys.stdout) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH, help="a skinbench bench CSV (default: the committed H200 one)")
    parser.add_argument("--epochs-csv", type=Path, default=None, help="epochs.csv written by benchmarks/gpu.sh")
    parser.add_argument("--checkpoint-s", type=float, default=None, help="measured seconds per checkpoint save on the GPU")
    parser.add_argument("--epochs", default=",".join(map(str, DEFAULT_EPOCHS)), help="comma-separated epoch counts")
    args = parser.parse_args(argv)
    epoch_counts = [int(n) for n in args.epochs.split(",") if n.strip()]
    if HEADLINE_EPOCHS not in epoch_counts:
        epoch_counts.append(HEADLINE_EPOCHS)
    bench = pd.read_csv(args.bench)
    epochs = load_epochs(args.epochs_csv)
    try:
        label = str(args.bench.resolve().relative_to(ROOT))
    except ValueError:
        label = str(args.bench)
    devices = ", ".join(sorted(set(bench["device"].astype(str) + " (" + bench["backend"].astype(str) + ")")))
    dates = ", ".join(sorted(set(bench["date"].astype(str)))) if "date" in bench else "no date column"
    print("time_to_paper: GPU-hours from measured figures only", file=out)
    print(f"bench: {label}: {len(bench)} rows, {devices}, {dates}", file=out)
    if "policy" not in bench:
        print("precision 'mixed' in a bench without a policy column: mixed_float16 on a GPU (the bench's rule then)", file=out)
    print(f"epochs: {args.epochs_csv if epochs is not None else 'none given: training and validation rest on the bench'}", file=out)
    print(
        f"images per epoch: HAM10000 {HAM10000_IMAGES:,} - {MISSING_AGE_ROWS} rows without an age = {METADATA_IMAGES:,}; "
        f"paper split: {TRAIN_IMAGES:,} training, {VAL_IMAGES:,} validation; augmented recipe: {AUGMENTED_TRAIN_IMAGES:,} "
        f"training (data.augment.default_target_total({TRAIN_IMAGES:,}))",
        file=out,
    )
    totals = {
        matrix: estimate(matrix, bench, epochs, bench_label=label, epoch_counts=epoch_counts, checkpoint_s=args.checkpoint_s, out=out)
        for matrix in ("paper", "full")
    }
    print("\nsummary (GPU-hours):", file=out)
    for matrix, by_epochs in totals.items():
        print(f"  --matrix {matrix} + ablation: " + ", ".join(f"{n} epochs {s / 3600:.2f} h" for n, s in by_epochs.items()), file=out)
    hours = totals["paper"][HEADLINE_EPOCHS] / 3600
    print(f"paper_gpu_hours: {hours:.2f}", file=out)
    return hours


if __name__ == "__main__":
    main()
