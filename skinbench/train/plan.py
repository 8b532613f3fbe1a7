"""What a run would do, before it does it (``skinbench run ... --dry-run``).

For every cell: its image size, epoch cap, images per epoch, an estimate of its GPU time and
the disk its checkpoints and kept model take; for the run: the image caches and augmented sets
it builds, and whether they fit on the disks of ``$SKINBENCH_CACHE`` and ``--out``.

The GPU time is an estimate from measured figures only (``skinbench.gpu_bench``, the GPU
bench skinbench ships), labelled with the GPU, backend and date it rests on:
``epochs x (training images / training images/s + validation images / inference images/s)
+ compile``, at the epoch cap (early stopping usually ends a cell sooner, so it is an upper
bound per epoch cap) and at the cell's own image size and precision policy; a cell whose
setting was never measured is said to be unmeasured, never guessed. ``benchmarks/
time_to_paper.py`` costs the paper's study with the same arithmetic (:func:`cell_seconds`).

The config.json a plan makes (``planned_config``) is here too, without Keras, so that a rerun
can compare it with the run folder's before any heavy import (``train.left``).

Nothing is built: the synthetic set is not generated (its size is the profile's), splits are
not drawn (part sizes follow ``data.splits.expected_sizes``) and no model is trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from skinbench.catalogue import ISIC2018_TEST_IMAGES, RECIPES
from skinbench.classes import NUM_CLASSES
from skinbench.config import Schedule, Settings
from skinbench.gpu_bench import fastest_policy, shipped
from skinbench.io import free_bytes
from skinbench.paths import cache_root
from skinbench.records import CellConfig, DatasetRecord, ScheduleRecord
from skinbench.train.resolve import CellPlan


def planned_config(
    plan: CellPlan, settings: Settings, image_size: int, *, n_train: int, dataset: DatasetRecord, backend: str
) -> CellConfig:
    """config.json of a cell: every resolved setting (its schedule for its recipe, its epochs counted on
    ``n_train``, its split's training part), the data it reads and the Keras backend."""
    cell = plan.cell
    schedule = settings.schedule_for(cell.recipe)
    return CellConfig(
        cell_id=cell.cell_id,
        backbone=cell.backbone,
        recipe=cell.recipe,
        ablation=cell.ablation,
        seed=cell.seed,
        split=cell.split,
        image_size=image_size,
        epochs=schedule.max_epochs,
        batch_size=schedule.batch_size,
        weights=settings.weights,
        attention=plan.attention,
        metadata=plan.metadata,
        cut=plan.cut,
        extra_dense=plan.extra_dense,
        precision=settings.precision,
        jit=settings.jit,
        deterministic=settings.deterministic,
        bn_momentum=settings.bn_momentum,
        gradient_accumulation=settings.gradient_accumulation,
        schedule=ScheduleRecord(
            name=schedule.name,
            follows=schedule.follows,
            epoch_steps=schedule.epoch_steps(n_train),
            learning_rate=schedule.learning_rate,
            reduce_lr=schedule.reduce_lr,
            class_weights=schedule.class_weights,
            augment_per_class=schedule.augment_per_class if RECIPES[cell.recipe].augmented else None,
            monitor=schedule.monitor,
            patience=schedule.patience,
            min_delta=schedule.min_delta,
        ),
        dataset=dataset,
        backend=backend,
    )


#: Bytes per parameter of a cell's checkpoint: float32 weights and Adam's two moment slots.
CHECKPOINT_BYTES_PER_PARAM = 3 * 4


@dataclass(frozen=True)
class Figures:
    """The measured figures a cell's estimate rests on: one row of the GPU bench."""

    device: str
    backend: str
    date: str
    policy: str
    image_size: int
    train_images_per_s: float
    infer_images_per_s: float
    compile_s: float  #: the first fit (train step and warm-up), plus the predict compiles where measured
    params: int | None
    source: str


def reference_gpu(table: pd.DataFrame) -> tuple[str, str]:
    """The (device, backend) the shipped estimates rest on: the one with the most rows, newest first."""
    counts = table.groupby(["device", "backend"]).agg(rows=("backbone", "size"), date=("date", "max"))
    return counts.sort_values(["rows", "date"], ascending=False).index[0]


def policy_for(precision: str, device: str, backend: str, backbone: str, table: pd.DataFrame) -> str:
    """The Keras policy ``--precision`` would run as on the measured GPU (``mixed``: bfloat16,
    which every GPU the bench measured, of compute capability 8.0 or newer, runs at full speed)."""
    if precision == "mixed":
        return "mixed_bfloat16"
    if precision == "auto":
        return fastest_policy(device, backend, backbone, table) or "float32"
    return precision


def lookup(
    table: pd.DataFrame, *, device: str, backend: str, backbone: str, recipe: str, image_size: int, policy: str
) -> Figures | None:
    """The bench row of this setting (the metadata model's where the recipe has none), or None."""
    rows = table[(table["device"] == device) & (table["backend"] == backend) & (table["backbone"] == backbone)
                 & (table["image_size"] == image_size) & (table["policy"] == policy)]
    same = rows[rows["recipe"] == recipe]
    rows = same if len(same) else rows[rows["recipe"] == "metadata"]
    rows = rows.dropna(subset=["train_images_per_s", "infer_images_per_s"])
    if rows.empty:
        return None
    row = rows.iloc[-1]
    compile_s = float(row["compile_s"]) + (float(row["predict_compile_s"]) if pd.notna(row["predict_compile_s"]) else 0.0)
    return Figures(
        device=str(row["device"]), backend=str(row["backend"]), date=str(row["date"]), policy=policy,
        image_size=int(row["image_size"]), train_images_per_s=float(row["train_images_per_s"]),
        infer_images_per_s=float(row["infer_images_per_s"]), compile_s=compile_s,
        params=int(row["params"]) if pd.notna(row["params"]) else None, source=str(row["source"]),
    )


def cell_seconds(epochs: float, train_images: int, val_images: int, figures: Figures) -> float:
    """GPU seconds of a cell: ``epochs`` epochs of training and validation, and one compile."""
    per_epoch = train_images / figures.train_images_per_s + val_images / figures.infer_images_per_s
    return epochs * per_epoch + figures.compile_s


@dataclass(frozen=True)
class CellEstimate:
    """One cell of the plan."""

    cell_id: str
    backbone: str
    image_size: int
    epochs: int  #: the epoch cap
    train_images: int  #: images one training epoch sees
    val_images: int  #: images one validation sees
    figures: Figures | None  #: None: this setting was never measured
    params: int | None  #: the model's parameters, where known (the bench's, at its native size)

    @property
    def gpu_seconds(self) -> float | None:
        """Estimated GPU seconds at the epoch cap (None: unmeasured)."""
        return cell_seconds(self.epochs, self.train_images, self.val_images, self.figures) if self.figures else None

    @property
    def checkpoint_bytes(self) -> int | None:
        """One saved epoch: weights and Adam's slots (a save writes its new epoch before removing the old: twice)."""
        return self.params * CHECKPOINT_BYTES_PER_PARAM if self.params else None


@dataclass(frozen=True)
class DiskNeed:
    """Bytes one thing the run builds takes, where, and whether it is already there."""

    what: str
    folder: Path
    nbytes: int
    present: bool


@dataclass(frozen=True)
class RunPlan:
    cells: list[CellEstimate]
    disks: list[DiskNeed]
    reference: tuple[str, str]  #: (device, backend) of the estimates
    n_images: int
    images_note: str  #: where the image count comes from

    def needed(self, root: Path) -> int:
        """Bytes still to write below ``root``'s file system (things already present excluded)."""
        return sum(d.nbytes for d in self.disks if not d.present and same_disk(d.folder, root))


def same_disk(folder: Path, root: Path) -> bool:
    """Whether two folders (or their nearest existing parents) are on one file system."""
    return _device_of(folder) == _device_of(root)


def _device_of(path: Path) -> int:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path.stat().st_dev


def epoch_images(schedule: Schedule, n_train: int, n_trained: int) -> int:
    """Images a training epoch sees: whole batches of one pass over the ``n_trained`` images
    (augmented or not), or the schedule's batches, counted on the ``n_train`` before augmentation."""
    steps = schedule.epoch_steps(n_train)
    batches = steps if steps is not None else n_trained // schedule.batch_size
    return batches * schedule.batch_size


def plan_run(
    cells: Sequence[tuple[str, str, str, str, int]],
    settings: Settings,
    *,
    n_images: int,
    images_note: str,
    fingerprint: str | None,
    out: Path,
    test_images: int = ISIC2018_TEST_IMAGES,
    table: pd.DataFrame | None = None,
) -> RunPlan:
    """The plan of ``cells``: (cell id, backbone, recipe, split, image size) each.

    ``n_images``: usable images of the dataset; ``fingerprint``: the dataset's (None when it is
    not there yet), to tell which image caches exist.
    """
    from skinbench.data.augment import default_target_total
    from skinbench.data.cache import cache_key
    from skinbench.data.splits import expected_sizes

    table = shipped() if table is None else table
    device, backend = reference_gpu(table)
    estimates, disks = [], {}
    for cell_id, backbone, recipe, split, size in cells:
        sizes = expected_sizes(split, n_images, test_images=test_images)
        schedule = settings.schedule_for(recipe)
        n_trained = sizes["train"]
        if RECIPES[recipe].augmented:  # the training part after offline augmentation
            n_trained = (schedule.augment_per_class * NUM_CLASSES if schedule.augment_per_class
                         else default_target_total(sizes["train"]))
        figures = lookup(table, device=device, backend=backend, backbone=backbone, recipe=recipe, image_size=size,
                         policy=policy_for(settings.precision, device, backend, backbone, table))
        params = figures.params if figures else _bench_params(table, backbone)
        estimates.append(CellEstimate(cell_id, backbone, size, schedule.max_epochs,
                                      epoch_images(schedule, sizes["train"], n_trained),
                                      sizes["val"], figures, params))
        image_bytes = size * size * 3
        cache = cache_root() / "images" / (cache_key(fingerprint, size, "crop") if fingerprint else "new")
        disks.setdefault(("cache", size), DiskNeed(
            f"{size}px image cache ({n_images:,} images)", cache_root(), n_images * image_bytes,
            fingerprint is not None and (cache / "info.json").exists()))
        if split == "official":
            disks.setdefault(("test", size), DiskNeed(f"{size}px ISIC 2018 test-set cache", cache_root(),
                                                      test_images * image_bytes, False))
        if RECIPES[recipe].augmented:
            disks.setdefault(("augmented", size, split, cell_id.rsplit("-s", 1)[1]), DiskNeed(
                f"{size}px augmented training set, {split} split, seed {cell_id.rsplit('-s', 1)[1]}",
                cache_root(), n_trained * image_bytes, False))
    known = [e for e in estimates if e.checkpoint_bytes]
    if known:
        disks["checkpoint"] = DiskNeed("checkpoints of the cell training (two saves at once, at most)", out,
                                       2 * max(e.checkpoint_bytes for e in known), False)
        if settings.keep_model:
            disks["models"] = DiskNeed("kept models (model.keras with the optimizer's state)", out,
                                       sum(e.checkpoint_bytes for e in known), False)
    return RunPlan(estimates, list(disks.values()), (device, backend), n_images, images_note)


def _bench_params(table: pd.DataFrame, backbone: str) -> int | None:
    """The metadata model's parameters at the native size, from any bench row of the backbone."""
    rows = table[(table["backbone"] == backbone) & table["params"].notna()]
    return int(rows["params"].iloc[0]) if len(rows) else None


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.2f} h"


def fits(plan: RunPlan, folder: Path) -> tuple[int, int, bool]:
    """(bytes needed, bytes free, whether it fits) on the disk of ``folder``."""
    needed, free = plan.needed(folder), free_bytes(folder)
    return needed, free, needed <= free


def summary_frame(plan: RunPlan) -> pd.DataFrame:
    """One row per cell, for the terminal."""
    return pd.DataFrame([{
        "cell": e.cell_id,
        "px": e.image_size,
        "epoch cap": e.epochs,
        "images/epoch": e.train_images,
        "est. GPU h at cap": round(e.gpu_seconds / 3600, 2) if e.gpu_seconds is not None else None,
        "checkpoint GiB": round(e.checkpoint_bytes / 2**30, 2) if e.checkpoint_bytes else None,
    } for e in plan.cells])


def describe_reference(plan: RunPlan, table: pd.DataFrame | None = None) -> str:
    """Which measurement the estimates rest on, in words."""
    table = shipped() if table is None else table
    device, backend = plan.reference
    rows = table[(table["device"] == device) & (table["backend"] == backend)]
    dates = ", ".join(sorted(set(rows["date"].astype(str))))
    return f"{device} under {backend} ({dates}; skinbench/gpu_bench.csv)"
