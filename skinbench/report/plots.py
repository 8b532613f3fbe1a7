"""The report's figures as PNG files (matplotlib's object API with the Agg canvas, no pyplot state).

Per cell: normalised confusion matrix, one-vs-rest ROC curves and training curves in one
figure. Across cells: accuracy against parameters and against time per epoch (training +
validation, as Table 11 counts it), and the ablation bar chart beside the paper's values.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator, NullFormatter
from sklearn.metrics import roc_curve

from skinbench.io import write_atomic
from skinbench.records import CLASS_MEANS, EXPLAIN_DIR
from skinbench.catalogue import AUGMENTED, METADATA, display_name
from skinbench.report.summary import CellResult, Stat, Summary
from skinbench.report.tables import Table, epoch_seconds

PLOTS_DIR = "plots"


@dataclass
class Figures:
    """Paths (relative to the report) of the figures drawn: after a table, and per cell."""

    after_table: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # table name -> (caption, path)
    cells: dict[str, str] = field(default_factory=dict)  # cell id -> path
    explained: dict[str, str] = field(default_factory=dict)  # cell id -> its skinbench explain class means


def draw_all(summary: Summary, tables: list[Table], out: Path) -> Figures:
    """Draw every figure into ``<out>/plots/`` and say where each went.

    A cell that ``skinbench explain --per-class`` ran on has its mean attention maps copied in
    too (``plots/explain/<cell>.png``), so the report folder holds every figure it shows.
    """
    figures = Figures()
    for result in summary.cells:
        figures.cells[result.cell.cell_id] = save_figure(cell_figure(result), out, f"cells/{result.cell.cell_id}.png")
        means = result.cell.path / EXPLAIN_DIR / CLASS_MEANS
        if means.exists():
            relative = f"{PLOTS_DIR}/explain/{result.cell.cell_id}.png"
            write_atomic(out / relative, lambda tmp, source=means: shutil.copyfile(source, tmp))
            figures.explained[result.cell.cell_id] = relative
    _add(figures, "table11_cost", out, "cost.png", "Accuracy against parameters and time per epoch", cost_figure(summary))
    ablation = next(t for t in tables if t.name == "table09_ablation")
    _add(figures, ablation.name, out, "ablation.png", "Ablation: this run beside the paper", ablation_figure(ablation))
    return figures


def cell_figure(result: CellResult) -> Figure:
    """Confusion matrix (rows normalised), ROC curves, loss and accuracy per epoch of one cell."""
    metrics = result.metrics
    classes = metrics["classes"]
    figure = Figure(figsize=(11, 9))
    figure.subplots_adjust(left=0.07, right=0.97, bottom=0.06, top=0.92, wspace=0.25, hspace=0.3)
    (ax_cm, ax_roc), (ax_loss, ax_acc) = figure.subplots(2, 2)
    figure.suptitle(result.cell.cell_id)

    counts = np.asarray(metrics["confusion_matrix"], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    ax_cm.imshow(normalised, vmin=0, vmax=1, cmap="Blues")
    for (i, j), value in np.ndenumerate(normalised):
        ax_cm.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value > 0.5 else "black")
    ax_cm.set(xticks=range(len(classes)), yticks=range(len(classes)), xticklabels=classes, yticklabels=classes,
              xlabel="predicted", ylabel="true", title="Confusion matrix (each true class sums to 1)")

    y_true, probs = result.y_true, result.probs
    for index, name in enumerate(classes):
        positive = y_true == index
        if positive.any() and not positive.all():
            fpr, tpr, _ = roc_curve(positive, probs[:, index])
            auc = metrics["per_class"][name]["auc"]
            ax_roc.plot(fpr, tpr, label=f"{name} ({auc:.2f})")
    ax_roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, one class against the rest")
    ax_roc.legend(fontsize=7, loc="lower right")

    history = result.history
    for axis, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        for column in (metric, f"val_{metric}"):
            if history is not None and column in history and "epoch" in history:
                axis.plot(history["epoch"], history[column], marker=".", label=column)
        axis.set(xlabel="epoch", title=f"Training curve: {metric}" + ("" if history is not None else " (no history.csv)"))
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if axis.has_data():
            axis.legend(fontsize=7)
    return figure


#: x axes of the cost figure: label and the group's value (trained model parameters; Table 11's epoch time).
_COSTS = (
    ("parameters (millions)", lambda summary, key: _scaled(summary.stat(key, "model.params"), 1e-6)),
    ("seconds per epoch, training + validation", epoch_seconds),
)
_MARKERS = {AUGMENTED: "s", METADATA: "o"}


def cost_figure(summary: Summary) -> Figure | None:
    """Accuracy (mean ± std over seeds) of each backbone and recipe against its parameters and its
    time per epoch (log scales), one panel per cost that some cell has; None when no cell has one."""
    panels = []
    for label, value in _COSTS:
        points = [
            (recipe, key, cost, accuracy)
            for recipe in _MARKERS
            for key in summary.where(recipe=recipe, ablation=None)
            if (cost := value(summary, key)) is not None and (accuracy := summary.stat(key, "accuracy")) is not None
        ]
        if points:
            panels.append((label, points))
    if not panels:
        return None
    figure = Figure(figsize=(6.5 * len(panels), 5.5))
    figure.subplots_adjust(left=0.06 * 2 / len(panels), right=0.98, bottom=0.11, top=0.9, wspace=0.2)
    for axis, (label, points) in zip(np.atleast_1d(figure.subplots(1, len(panels))), panels):
        for recipe, key, cost, accuracy in points:
            axis.errorbar(cost.mean, accuracy.mean, xerr=cost.std or 0, yerr=accuracy.std or 0, fmt=_MARKERS[recipe],
                          capsize=3, color="tab:blue" if recipe == METADATA else "tab:orange")
            axis.annotate(f"{display_name(key.backbone)} ({recipe}){summary.split_suffix(key)}",
                          (cost.mean, accuracy.mean), textcoords="offset points", xytext=(4, 4), fontsize=7)
        axis.set(xscale="log", xlabel=f"{label}, log scale", ylabel="accuracy", title=f"This run: accuracy against {label}")
        axis.margins(x=0.5, y=0.1)  # room for the labels right of the points
        _label_log_axis(axis)
        axis.grid(True, alpha=0.3)
    return figure


def _label_log_axis(axis) -> None:
    """Tick labels on a log x axis whatever its span: within one decade the minor ticks carry them."""
    low, high = axis.get_xlim()
    if high / low < 10:
        axis.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(np.inf, np.inf)))
    else:
        axis.xaxis.set_minor_formatter(NullFormatter())


def ablation_figure(table: Table) -> Figure | None:
    """Bars of this run's accuracy per ablation row (± std) beside the paper's; None when no row ran."""
    frame = table.frame
    if frame["run"].isna().all():
        return None
    positions = np.arange(len(frame))
    figure = Figure(figsize=(11, 0.45 * len(frame) + 1.5))
    figure.subplots_adjust(left=0.4, right=0.97, bottom=0.1, top=0.9)
    axis = figure.subplots()
    axis.barh(positions - 0.2, frame["run"].fillna(0), height=0.4, xerr=frame["run_std"].fillna(0), label="this run")
    axis.barh(positions + 0.2, frame["paper"].fillna(0), height=0.4, label="paper", alpha=0.6)
    axis.set(yticks=positions, yticklabels=[_short(row) for row in frame["row"]],
             xlabel="accuracy", xlim=(0, 1), title="MobileNetV3Large ablation (missing bars: not run / not published)")
    axis.invert_yaxis()
    axis.legend(fontsize=8)
    return figure


def _scaled(stat: Stat | None, factor: float) -> Stat | None:
    return None if stat is None else stat.scaled(factor)


def _short(row: str) -> str:
    """An ablation row label without the parts every row shares."""
    return row.removeprefix("MobileNetV3Large-Layer").replace(" + Soft-Attention", " + SA")


def _add(figures: Figures, table: str, out: Path, name: str, caption: str, figure: Figure | None) -> None:
    if figure is not None:
        figures.after_table.setdefault(table, []).append((caption, save_figure(figure, out, name)))


def save_figure(figure: Figure, out: Path, name: str) -> str:
    """Write the figure under ``<out>/plots/`` atomically; return its path relative to ``out``."""
    relative = f"{PLOTS_DIR}/{name}"
    FigureCanvasAgg(figure)
    write_atomic(out / relative, lambda tmp: figure.savefig(tmp, format="png", dpi=90))
    return relative
