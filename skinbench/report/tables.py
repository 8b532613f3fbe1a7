"""The paper's Tables 2-11, each as this run's values beside the paper's and their difference.

A table is a long frame with one line per (row, column) cell: this run's mean, standard
deviation and seed count, a 95% interval where bootstrapped, the paper's value and
run - paper. A cell that did not run has no run value; a number the paper does not print has
no paper value; where the two are not the same quantity there is no difference. Each run value
is the quantity the paper's number measures (the bare Keras application beside the paper's
Tables 3 and 11, the mean the paper used in Table 10, epoch times with validation in Table 11).
Nothing is filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd

from skinbench.classes import CLASSES
from skinbench.eval.metrics import BOOTSTRAP_METRICS
from skinbench.catalogue import (
    ABLATION_BACKBONE,
    ABLATION_ROWS,
    AUGMENTED,
    BEST_ABLATION,
    AUTHOR_METADATA_BATCH,
    HAM10000_IMAGES,
    METADATA,
    BACKBONES,
    PAPER_DEVICE,
    PAPER_EPOCH_IMAGES,
    PAPER_EPOCH_STEPS,
    RECIPES,
    display_name,
)
from skinbench.report.runs import CellFolder
from skinbench.report.summary import CellResult, GroupKey, Stat, Summary
from skinbench.studies.do2022.published import DEFAULT_VERSION, Published, published

COLUMNS = ("row", "column", "run", "run_std", "n_seeds", "ci_low", "ci_high", "paper", "difference")


@dataclass(frozen=True)
class Table:
    """One table of the report; ``frame`` has COLUMNS, in display order."""

    name: str  # file stem of its CSV
    title: str
    frame: pd.DataFrame
    row_header: str = "Model"
    headers: dict[str, str] = field(default_factory=dict)  # column key -> heading
    formats: dict[str, str] = field(default_factory=dict)  # row or column key -> format spec
    notes: tuple[str, ...] = ()
    paper_table: int | None = None  # the paper's table it shows beside this run's values, if any

    def format_of(self, row: str, column: str) -> str:
        return self.formats.get(column) or self.formats.get(row) or ".3f"


class _Rows:
    """Collects the cells of one table."""

    def __init__(self) -> None:
        self.entries: list[dict] = []

    def add(self, row: str, column: str, stat: Stat | None, paper: float | None, *, compare: bool = True) -> None:
        """One cell; ``compare=False`` shows the paper's value without a difference (not the same quantity)."""
        run = stat.mean if stat else None
        self.entries.append(
            {
                "row": row,
                "column": column,
                "run": run,
                "run_std": stat.std if stat else None,
                "n_seeds": stat.n if stat else 0,
                "ci_low": stat.ci_low if stat else None,
                "ci_high": stat.ci_high if stat else None,
                "paper": paper,
                "difference": None if run is None or paper is None or not compare else run - paper,
            }
        )

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.entries, columns=list(COLUMNS))
        numeric = [c for c in COLUMNS if c not in ("row", "column")]
        frame[numeric] = frame[numeric].astype("float64")
        frame["n_seeds"] = frame["n_seeds"].astype("int64")
        return frame


def build_tables(summary: Summary, paper: Published) -> list[Table]:
    """Every table of the report, in the paper's order, beside ``paper``'s values."""
    tables = [
        data_distribution(summary, paper),
        backbone_size(summary, paper),
        accuracy_table(summary, paper, 4, AUGMENTED),
        accuracy_table(summary, paper, 5, METADATA),
        per_class_table(summary, paper, 6, "f1"),
        per_class_table(summary, paper, 7, "recall"),
        mobile_models(summary, paper),
        ablation(summary, paper),
        best_mobilenetv3large(summary, paper),
        best_mobilenetv3large_per_class(summary),
        cost(summary, paper),
    ]
    return [with_paper_notes(table, paper) for table in tables]


def with_paper_notes(table: Table, paper: Published) -> Table:
    """``table`` with what the paper's data file says of its numbers: where they come from when the
    version numbers its tables otherwise, what this version lacks that the default one has, and its notes."""
    number = table.paper_table
    if number is None:
        return table
    default = published(DEFAULT_VERSION)
    notes = []
    if not paper.has(number):
        notes.append(f"Not in this version: {paper.version.name} has no counterpart of Table {number}; "
                     "the paper column is empty.")
    else:
        if paper.cite(number) != f"Table {number}":
            notes.append(f"Paper values: {paper.cite(number)} of {paper.version.name}.")
        missing = [r for r in default.rows(number) if r not in paper.rows(number)]
        if missing:
            notes.append(f"Not in this version: {', '.join(missing)} (in {default.version.name} Table {number}); "
                         "the paper column is empty there.")
    notes += paper.notes(number)
    return replace(table, notes=table.notes + tuple(notes)) if notes else table




def data_distribution(summary: Summary, paper: Published) -> Table:
    """Table 2: images per class in the dataset (data.json ``class_counts``)."""
    data = summary.results.data
    counts = data.class_counts if data else {}
    rows = _Rows()
    for name in (*CLASSES, "total"):
        count = sum(counts.values()) if name == "total" and counts else counts.get(name)
        rows.add(name, "n_images", None if count is None else Stat(float(count)), paper.value(2, name, "n_images"))
    dropped = data.dropped if data else {}
    notes = [
        "This run: the images the dataset had after dropped rows (data.json `class_counts`); "
        f"the paper: all {HAM10000_IMAGES:,} HAM10000 images."
    ]
    if dropped:
        notes.append("Dropped rows: " + ", ".join(f"{reason} {count}" for reason, count in dropped.items()) + ".")
    if data is None:
        notes.append("No data.json in the run folder(s): this run's counts are unknown.")
    return Table(
        "table02_data_distribution", "Table 2. Data distribution", rows.frame(),
        row_header="Class", headers={"n_images": "Images"}, formats={"n_images": ".0f"}, notes=tuple(notes),
        paper_table=2,
    )


def backbone_size(summary: Summary, paper: Published) -> Table:
    """Table 3: the bare Keras application's parameters, depth and size beside the paper's, and
    the trained model's (with FLOPs) in columns of their own, from model.json."""
    rows = _Rows()
    for backbone in _backbones(summary):
        keys = summary.where(backbone=backbone, recipe=METADATA, ablation=None) or summary.where(
            backbone=backbone, recipe=AUGMENTED, ablation=None
        )
        name = display_name(backbone)
        if not keys and name not in paper.rows(3):
            continue
        key = keys[0] if keys else None
        params, like = _paper_params(paper, 3, name)
        rows.add(name, "params_m", _stat(summary, key, "model.backbone_params", 1e-6), params, compare=like)
        rows.add(name, "depth", _stat(summary, key, "model.backbone_depth"), paper.value(3, name, "depth"))
        rows.add(name, "size_mb", _stat(summary, key, "model.backbone_size_mb"), paper.value(3, name, "size_mb"))
        rows.add(name, "model_params_m", _stat(summary, key, "model.params", 1e-6), None)
        rows.add(name, "model_depth", _stat(summary, key, "model.depth"), None)
        rows.add(name, "model_size_mb", _stat(summary, key, "model.size_mb"), None)
        rows.add(name, "gflops", _stat(summary, key, "model.flops", 1e-9), None)
    return Table(
        "table03_backbones", "Table 3. Backbone size, parameters and depth", rows.frame(),
        headers={
            "params_m": "Keras application: parameters (M)", "depth": "Keras application: depth",
            "size_mb": "Keras application: size (MB)", "model_params_m": "Trained model: parameters (M)",
            "model_depth": "Trained model: depth", "model_size_mb": "Trained model: size (MiB)",
            "gflops": "Trained model: GFLOPs / image",
        },
        formats={"params_m": ".1f", "depth": ".0f", "size_mb": ".0f", "model_params_m": ".1f", "model_depth": ".0f",
                 "model_size_mb": ".0f", "gflops": ".2f"},
        notes=(
            "Keras application: the bare Keras application at its native input size with its 1000-way ImageNet top "
            "(include_top=True), the model the paper's Table 3 counts (model.json `backbone_params`, `backbone_depth`, "
            "`backbone_size_mb`); the difference compares these with the paper. This run's size is its float32 "
            "weights in MiB; the paper's sizes are Keras's HDF5 files in MB, a little larger.",
            "Trained model: the model as trained (backbone cut + soft attention + head, with the metadata branch for "
            "the metadata recipe; that recipe's cells where present), from model.json. The paper gives no such "
            "figures, so these columns have no difference.",
            *_trainable_note(paper, 3),
        ),
        paper_table=3,
    )


def accuracy_table(summary: Summary, paper: Published, table: int, recipe: str) -> Table:
    """Tables 4 and 5: accuracy per backbone for one recipe."""
    rows = _Rows()
    for backbone in _backbone_rows(summary, paper, table, recipe, display_name):
        name = display_name(backbone)
        for key in summary.where(backbone=backbone, recipe=recipe, ablation=None) or [None]:
            label = name + (summary.split_suffix(key) if key else "")
            rows.add(label, "accuracy", _stat(summary, key, "accuracy"), paper.value(table, name, "accuracy"),
                     compare=recipe != AUGMENTED)
    what = "augmented data" if recipe == AUGMENTED else "metadata"
    notes = (f"No difference is shown: {paper.version.augmented_note}.",) if recipe == AUGMENTED else ()
    return Table(
        f"table{table:02d}_accuracy_{recipe}", f"Table {table}. Accuracy with {what} (recipe `{recipe}`)",
        rows.frame(), headers={"accuracy": "Accuracy"}, notes=notes, paper_table=table,
    )


def per_class_table(summary: Summary, paper: Published, table: int, metric: str) -> Table:
    """Tables 6 (F1) and 7 (recall): per class and the unweighted mean, for both recipes."""
    rows = _Rows()
    for recipe in RECIPES:
        def label(backbone: str, recipe: str = recipe) -> str:
            return f"{display_name(backbone)} + {RECIPES[recipe].label}"

        for backbone in _backbone_rows(summary, paper, table, recipe, label):
            paper_row = label(backbone)
            for key in summary.where(backbone=backbone, recipe=recipe, ablation=None) or [None]:
                row = paper_row + (summary.split_suffix(key) if key else "")
                like = recipe != AUGMENTED  # the paper's augmented rows come from another test set
                for name in CLASSES:
                    stat = _stat(summary, key, f"per_class.{name}.{metric}")
                    rows.add(row, name, stat, paper.value(table, paper_row, name), compare=like)
                rows.add(row, "mean", _stat(summary, key, f"macro_{metric}"), paper.value(table, paper_row, "mean"),
                         compare=like)
    title = {"f1": "F1 score", "recall": "Recall (sensitivity)"}[metric]
    notes = ("F1 = 2TP / (2TP + FP + FN); the paper prints TN in the denominator too, a typo.",) if metric == "f1" else ()
    notes += (f"The augmented rows show the paper's values without a difference: {paper.version.augmented_note}.",)
    return Table(
        f"table{table:02d}_{metric}_per_class", f"Table {table}. {title} per class and their unweighted mean",
        rows.frame(), headers={"mean": "Mean"}, notes=notes, paper_table=table,
    )


_TABLE8_METRICS = {
    "accuracy": ("Accuracy", "accuracy"),
    "balanced_accuracy": ("Balanced accuracy (paper's: mean of (sens + spec) / 2)", "paper_balanced_accuracy"),
    "precision": ("Precision (macro)", "macro_precision"),
    "f1": ("F1 (macro)", "macro_f1"),
    "sensitivity": ("Sensitivity (macro)", "macro_recall"),
    "specificity": ("Specificity (macro)", "macro_specificity"),
    "auc": ("ROC AUC (macro)", "macro_auc"),
}


def mobile_models(summary: Summary, paper: Published) -> Table:
    """Table 8: the mobile backbones with the metadata recipe, unweighted means."""
    mobile = BACKBONES.names(mobile=True)
    in_paper = [b for b in mobile if display_name(b) in paper.rows(8)]
    in_paper.sort(key=lambda b: paper.rows(8).index(display_name(b)))
    extra = [b for b in mobile if b not in in_paper and summary.where(backbone=b, recipe=METADATA, ablation=None)]
    rows = _Rows()
    for backbone in in_paper + extra:
        name = display_name(backbone)
        for key in summary.where(backbone=backbone, recipe=METADATA, ablation=None) or [None]:
            column = name + (summary.split_suffix(key) if key else "")
            for paper_column, (row, metric) in _TABLE8_METRICS.items():
                rows.add(row, column, _stat(summary, key, metric), paper.value(8, name, paper_column))
    return Table(
        "table08_mobile_models", "Table 8. Mobile models (recipe `metadata`)", rows.frame(), row_header="Metric",
        notes=("Means are unweighted over the seven classes; the paper averaged rounded per-class values.",),
        paper_table=8,
    )


def ablation(summary: Summary, paper: Published) -> Table:
    """Table 9: the MobileNetV3Large truncation ablation, accuracy per row."""
    present = {k.ablation for k in summary.groups if k.ablation is not None}
    rows = _Rows()
    for row_key in [*ABLATION_ROWS, *sorted(present - set(ABLATION_ROWS))]:
        known = ABLATION_ROWS.get(row_key)
        label = f"{known.paper_name if known else row_key} [{row_key}{', 1x1' if known and known.one_by_one else ''}]"
        printed = paper.value(9, known.paper_name, "accuracy") if known else None
        for key in summary.where(ablation=row_key) or [None]:
            rows.add(label + (summary.split_suffix(key) if key else ""), "accuracy", _stat(summary, key, "accuracy"), printed)
    notes = [
        "Rows marked 1x1 cut where the feature map is 1x1: soft attention there is only a scaling; "
        "they are run as the paper did.",
    ]
    notes += [
        f"{row.paper_name} [{row.key}]: the whole ImageNet {display_name(ABLATION_BACKBONE)} up to its flattened "
        f"1000-way logits (tf.keras 2 `layers[-2]`, the Flatten before the softmax: Layer[:{row.cut}]), followed "
        f"directly by Dense({len(CLASSES)}, softmax) and trained with the class-weighted loss; no soft attention, "
        "no metadata and no skinbench head, as in the author's notebook `MobileNetV3Large - 10split - LRStrategy`."
        for row in ABLATION_ROWS.values()
        if not row.attention
    ]
    return Table(
        "table09_ablation", f"Table 9. {display_name(ABLATION_BACKBONE)} ablation", rows.frame(),
        headers={"accuracy": "Accuracy"}, notes=tuple(notes), paper_table=9,
    )


#: Paper Table 10's column -> (row label, metric): each row takes the mean the paper used.
#: Its precision, F1 and sensitivity are support-weighted means; its specificity and AUC macro means.
_TABLE10_METRICS = {
    "accuracy": ("Accuracy", "accuracy"),
    "precision": ("Precision (weighted)", "weighted_precision"),
    "f1": ("F1 (weighted)", "weighted_f1"),
    "sensitivity": ("Sensitivity (weighted)", "weighted_recall"),
    "specificity": ("Specificity (macro)", "macro_specificity"),
    "auc": ("ROC AUC (macro)", "macro_auc"),
}


def best_mobilenetv3large(summary: Summary, paper: Published) -> Table:
    """Table 10: the paper's best MobileNetV3Large (the [:240] cut), each metric the mean the paper used."""
    rows = _Rows()
    label = ABLATION_ROWS[BEST_ABLATION].label
    for key in summary.where(ablation=BEST_ABLATION) or [None]:
        column = f"{display_name(ABLATION_BACKBONE)} {label}" + (summary.split_suffix(key) if key else "")
        for paper_column, (row, metric) in _TABLE10_METRICS.items():
            rows.add(row, column, _stat(summary, key, metric), paper.value(10, display_name(ABLATION_BACKBONE), paper_column))
    notes = [
        "Each row is compared with the mean the paper used. Precision, F1 and sensitivity: support-weighted means "
        "(the paper's equal values, as the author's classification report shows). Specificity and ROC AUC: "
        "unweighted (macro) means over the classes (the author's notebook for this model gives specificity 0.899 "
        "weighted and 0.966 macro, ROC AUC 0.963 weighted and 0.976 macro, against the printed 0.95 and 0.98)."
    ]
    best = _best_ablation(summary)
    if best is not None:
        notes.append(f"This run's most accurate ablation row: {best[0]} (mean accuracy {best[1]:.3f}).")
    return Table(
        "table10_best_mobilenetv3large",
        f"Table 10. The best {display_name(ABLATION_BACKBONE)} ({label} + soft attention + metadata)",
        rows.frame(), row_header="Metric", notes=tuple(notes), paper_table=10,
    )


def best_mobilenetv3large_per_class(summary: Summary) -> Table:
    """Table 10, per class: this run only (the paper gives no per-class values for it)."""
    rows = _Rows()
    for key in summary.where(ablation=BEST_ABLATION) or [None]:
        for name in CLASSES:
            row = name + (summary.split_suffix(key) if key else "")
            for metric in ("precision", "recall", "specificity", "f1", "auc", "support"):
                rows.add(row, metric, _stat(summary, key, f"per_class.{name}.{metric}"), None)
    return Table(
        "table10_per_class", "Table 10 (per class). The best MobileNetV3Large, this run only", rows.frame(),
        row_header="Class", formats={"support": ".0f"},
        headers={"precision": "Precision", "recall": "Recall", "specificity": "Specificity", "f1": "F1",
                 "auc": "ROC AUC", "support": "Support"},
    )


#: The author's own training logs (not the paper): DenseNet201's seconds per epoch (one pass over
#: the 8,962 training images) ranged this widely across his runs.
AUTHOR_DENSENET201_EPOCH_S = (251, 1102)

_APP_PARAMS, _APP_DEPTH = "Keras application: parameters (M)", "Keras application: depth"
_MODEL_PARAMS, _MODEL_DEPTH = "Trained model: parameters (M)", "Trained model: depth"
_EPOCH_IMAGES = "Training images per epoch"
_EPOCH_ROW = "Seconds per epoch, training + validation"
_IMAGE_ROW = "Milliseconds per training image, training + validation"
_INFER_ROW = "Inference time (s), as the paper prints it"


def cost(summary: Summary, paper: Published) -> Table:
    """Table 11: the bare application's size, the trained model's, accuracy, and time per epoch and
    per training image with validation included (as the paper's progress-bar times are)."""
    models = {
        display_name(ABLATION_BACKBONE): summary.where(ablation=BEST_ABLATION),
        **{display_name(b): summary.where(backbone=b, recipe=METADATA, ablation=None) for b in ("densenet201", "inceptionresnetv2")},
    }
    rows = _Rows()
    devices = []
    for name, keys in models.items():
        paper_epoch = paper.value(11, name, "epoch_s")
        best = f" {ABLATION_ROWS[BEST_ABLATION].label}" if name == display_name(ABLATION_BACKBONE) else ""
        for key in keys or [None]:
            column = name + best + (summary.split_suffix(key) if key else "")
            rows.add(_APP_PARAMS, column, _stat(summary, key, "model.backbone_params", 1e-6), paper.value(11, name, "params_m"))
            rows.add(_APP_DEPTH, column, _stat(summary, key, "model.backbone_depth"), paper.value(11, name, "depth"))
            trainable = paper.value(11, name, "trainable_params")
            rows.add(_MODEL_PARAMS, column, _stat(summary, key, "model.params", 1e-6),
                     None if trainable is None else trainable * 1e-6, compare=False)
            rows.add(_MODEL_DEPTH, column, _stat(summary, key, "model.depth"), None)
            rows.add("Accuracy", column, _stat(summary, key, "accuracy"), paper.value(11, name, "accuracy"))
            rows.add(_EPOCH_IMAGES, column, _stat(summary, key, "timing.epoch_images"), PAPER_EPOCH_IMAGES)
            rows.add(_EPOCH_ROW, column, epoch_seconds(summary, key), paper_epoch, compare=_paper_epochs(summary, key))
            paper_image = None if paper_epoch is None else 1000 * paper_epoch / PAPER_EPOCH_IMAGES
            rows.add(_IMAGE_ROW, column, image_milliseconds(summary, key), paper_image)
            if any(paper.value(11, n, "infer_s") is not None for n in models):
                rows.add(_INFER_ROW, column, None, paper.value(11, name, "infer_s"))
            if key is not None:
                devices.append(f"{column}: {_devices(summary, key)}")
    printed = ", ".join(f"{name} {paper.value(11, name, 'epoch_s'):g} s" for name in models)
    densenet = display_name("densenet201")
    low, high = AUTHOR_DENSENET201_EPOCH_S
    return Table(
        "table11_cost", "Table 11. Cost: parameters, depth, accuracy and training time", rows.frame(), row_header="",
        formats={_APP_PARAMS: ".1f", _APP_DEPTH: ".0f", _MODEL_PARAMS: ".1f", _MODEL_DEPTH: ".0f",
                 _EPOCH_IMAGES: ".0f", _EPOCH_ROW: ".1f", _IMAGE_ROW: ".2f"},
        notes=(
            "Keras application rows: the bare Keras application at its native size with its ImageNet top "
            "(model.json `backbone_params`, `backbone_depth`), the model the paper counts; the difference compares "
            "the two. Trained model rows: the model as trained (cut + soft attention + head + metadata branch; "
            "model.json `params`, `depth`), which the paper does not give.",
            "Times include validation on both sides: the paper's come from Keras's progress bar, which counts the "
            "validation at the end of each epoch; this run's are history.csv `seconds` + `val_seconds`, the median "
            "over the epochs that did not trace (timing.json `traced_epochs` left out).",
            f"The paper's epoch is one pass over the notebooks' {PAPER_EPOCH_IMAGES:,} training images, in "
            f"{PAPER_EPOCH_STEPS} steps of {AUTHOR_METADATA_BATCH} (Keras 2's batches for fit(steps_per_epoch="
            f"len(train_df) / 10) without a batch size): {printed}. \"{_EPOCH_ROW}\" is compared only where this "
            f"run's epochs are those {PAPER_EPOCH_STEPS} steps of {AUTHOR_METADATA_BATCH} (the `code` schedule on "
            f"the paper split of HAM10000); \"{_IMAGE_ROW}\" always: the paper's is its seconds / "
            f"{PAPER_EPOCH_IMAGES:,} (derived, not printed), this run's the median epoch time / timing.json "
            "`epoch_images` (the images one epoch trains on). A larger batch trains an image faster, so a run at "
            f"batch 32 (the `paper` schedule) is not timed like the author's batches of {AUTHOR_METADATA_BATCH}.",
            f"Devices: the paper, an {PAPER_DEVICE}; this run, " + ("; ".join(devices) or (
                f"none: no cell of these models finished ({len(summary.cells)} other cell(s) did)")) + " (env.json).",
            f"The author's own logs show {densenet} between {low:,} and {high:,} s per {PAPER_EPOCH_STEPS}-step epoch "
            f"across runs, not one stable {paper.value(11, densenet, 'epoch_s'):,.0f} s.",
            *_trainable_note(paper, 11),
        ),
        paper_table=11,
    )


def epoch_seconds(summary: Summary, key: GroupKey | None) -> Stat | None:
    """Seconds per epoch, training + validation: each cell's median over the epochs that did not
    trace (history.csv ``seconds`` + ``val_seconds``), then mean and sd over seeds."""
    return _over_seeds(summary, key, _cell_epoch_seconds)


def image_milliseconds(summary: Summary, key: GroupKey | None) -> Stat | None:
    """``epoch_seconds`` per training image of the epoch (timing.json ``epoch_images``), in ms."""

    def per_image(result: CellResult) -> float | None:
        seconds, timing = _cell_epoch_seconds(result), result.cell.timing()
        return None if seconds is None or timing is None or not timing.epoch_images else 1000 * seconds / timing.epoch_images

    return _over_seeds(summary, key, per_image)


def _cell_epoch_seconds(result: CellResult) -> float | None:
    history, timing = result.history, result.cell.timing()
    if history is None or timing is None:
        return None
    untraced = history[~history["epoch"].isin(timing.traced_epochs)]
    seconds = (untraced["seconds"] + untraced["val_seconds"]).dropna()
    return float(seconds.median()) if len(seconds) else None


def _over_seeds(summary: Summary, key: GroupKey | None, value: Callable[[CellResult], float | None]) -> Stat | None:
    """Mean, sample sd (None for one seed) and count over a group's cells of a per-cell value."""
    values = [v for v in (value(r) for r in summary.groups[key]) if v is not None] if key is not None else []
    if not values:
        return None
    return Stat(float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None, len(values))


def _paper_epochs(summary: Summary, key: GroupKey | None) -> bool:
    """Whether every cell of the group trained the author's epochs: his steps and batch size."""
    return key is not None and all(
        r.cell.config.schedule.epoch_steps == PAPER_EPOCH_STEPS and r.cell.config.batch_size == AUTHOR_METADATA_BATCH
        for r in summary.groups[key]
    )


def _devices(summary: Summary, key: GroupKey) -> str:
    """The device(s) a group's cells ran on (env.json)."""
    envs = [r.cell.env() for r in summary.groups[key]]
    return ", ".join(sorted({(env.device() if env else None) or "unknown" for env in envs}))


CELL_COLUMNS = (
    "cell", "status", "backbone", "recipe", "ablation", "split", "seed", "folder",
    *(f"{m}{suffix}" for m in BOOTSTRAP_METRICS for suffix in ("", "_ci_low", "_ci_high")),
    "epochs_run", "epoch_s", "error",
)


def cells_frame(summary: Summary) -> pd.DataFrame:
    """One line per cell of the run folders: its state, headline metrics with 95% intervals, timing, error."""
    records = []
    for result in summary.cells:
        record = _cell_fields(result.cell)
        for metric in BOOTSTRAP_METRICS:
            interval = (result.ci or {}).get(metric, {})
            record |= {metric: result.values.get(metric), f"{metric}_ci_low": interval.get("low"),
                       f"{metric}_ci_high": interval.get("high")}
        record |= {"epochs_run": result.values.get("timing.epochs_run"), "epoch_s": result.values.get("timing.epoch_s")}
        records.append(record)
    records += [_cell_fields(cell) | {"error": cell.error} for cell in summary.unfinished]
    frame = pd.DataFrame(records, columns=list(CELL_COLUMNS))
    return frame.sort_values("cell", ignore_index=True)


def _cell_fields(cell: CellFolder) -> dict:
    return {
        "cell": cell.cell_id, "status": cell.status, "backbone": cell.backbone, "recipe": cell.recipe,
        "ablation": cell.ablation, "split": cell.split, "seed": cell.seed, "folder": cell.path.parent.name,
    }


def _stat(summary: Summary, key: GroupKey | None, metric: str, factor: float = 1.0) -> Stat | None:
    stat = summary.stat(key, metric) if key is not None else None
    return stat.scaled(factor) if stat is not None and factor != 1.0 else stat


def _backbones(summary: Summary) -> list[str]:
    """Registry order, then any other backbone the run folders name."""
    return [*BACKBONES.names(), *sorted({k.backbone for k in summary.groups} - set(BACKBONES))]


def _backbone_rows(summary: Summary, paper: Published, table: int, recipe: str, label: Callable[[str], str]) -> list[str]:
    """Backbones with a row in the paper's table (its order), then those only this run has."""
    printed = paper.rows(table)
    in_paper = sorted((b for b in _backbones(summary) if label(b) in printed), key=lambda b: printed.index(label(b)))
    extra = [
        b for b in _backbones(summary) if b not in in_paper and summary.where(backbone=b, recipe=recipe, ablation=None)
    ]
    return in_paper + extra


def _paper_params(paper: Published, table: int, row: str) -> tuple[float | None, bool]:
    """The paper's parameters (M) of one backbone and whether they are the total this run counts: the
    version's ``params_m``, else its exact ``trainable_params`` (not the same quantity: no difference)."""
    total = paper.value(table, row, "params_m")
    if total is not None:
        return total, True
    trainable = paper.value(table, row, "trainable_params")
    return (None if trainable is None else trainable * 1e-6), False


def _trainable_note(paper: Published, table: int) -> tuple[str, ...]:
    """Where the version prints trainable parameters: what the parameter column then shows."""
    if not any(column == "trainable_params" for column in paper.table(table).columns):
        return ()
    where = "Keras application" if table == 3 else "Trained model"
    return (f"{where}: parameters (M): the paper's value is its exact count of trainable parameters, in millions, "
            "shown without a difference: this run counts every parameter, trainable or not.",)


def _best_ablation(summary: Summary) -> tuple[str, float] | None:
    scored = [
        (key.ablation + summary.split_suffix(key), stat.mean)
        for key in summary.groups
        if key.ablation is not None and (stat := summary.stat(key, "accuracy")) is not None
    ]
    return max(scored, key=lambda item: item[1]) if scored else None
