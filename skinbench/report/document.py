"""report.md: title, the paper's Tables 2-11 with their figures, the cells, then the footer.

The footer states the protocol (from config.json, env.json and data.json), the definitions,
the warnings that apply to these run folders, and every cell that did not finish.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from skinbench.catalogue import ABLATION_ROWS
from skinbench.eval.calibration import BINS
from skinbench.eval.operating_points import MIN_TPR
from skinbench.records import DAMAGED, FAILED, FINISHED, PENDING, DataInfo, ScheduleRecord
from skinbench.report.plots import Figures
from skinbench.report.render import DASH, interval_text, run_text, table_markdown
from skinbench.report.summary import Summary
from skinbench.report.tables import Table
from skinbench.studies.do2022.published import Published

_METRIC_HEADINGS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro F1",
    "macro_auc": "Macro AUC",
}


def compose(summary: Summary, paper: Published, tables: list[Table], figures: Figures, official: str = "",
            claims: str = "", *, all_rows: bool = False) -> str:
    """The whole report.md, beside ``paper``'s values (``official``: the sections after Tables 2-11: the official split's, deployment;
    ``claims``: the paper's claims tested and the leak, report.claims and report.leak, right after Tables 2-11).

    It opens with this run's cells, ranked; the paper's tables then show the rows that ran (every
    row with ``all_rows``). On synthetic images no difference to the paper is printed."""
    parts = [_header(summary, paper), _ranked(summary)]
    for table in tables:
        parts.append(table_markdown(table, compare=not summary.results.synthetic, all_rows=all_rows))
        parts += [f"![{caption}]({path})\n" for caption, path in figures.after_table.get(table.name, [])]
    parts += [claims, official, _cells(summary, figures), _protocol(summary), _definitions(summary, paper), _warnings(summary), _unfinished(summary)]
    return "\n".join(part for part in parts if part)


def _header(summary: Summary, paper: Published) -> str:
    results = summary.results
    title = "# skinbench report" + (": SYNTHETIC DATA, not HAM10000" if results.synthetic else "")
    counts = pd.Series([c.status for c in results.cells]).value_counts()
    state = ", ".join(f"{counts[s]} {s}" for s in (FINISHED, DAMAGED, FAILED, PENDING) if s in counts) or "no cells"
    lines = [title, ""]
    if results.synthetic:
        lines += ["> Built from synthetic images: these numbers test the pipeline and say nothing about skin lesions.", ""]
    lines += [
        f"Run folder(s): {', '.join(f.name for f in results.folders)}. Cells: {state}.",
        "",
        f"Each table puts this run's values beside the published ones of {paper.version.citation}. "
        "This run's values are recomputed from each cell's predictions.csv; over several seeds they are "
        "the mean ± sample standard deviation (n = seeds). "
        f"{DASH} marks a cell that did not run or a number the paper does not print. "
        "Definitions, protocol and warnings are at the end.",
        "",
        f"Paper version: `{paper.version.name}`, {paper.version.reference} (`skinbench report --paper`; the tables "
        "keep the preprint's numbering).",
        "",
    ]
    return "\n".join(lines)


def _ranked(summary: Summary) -> str:
    """This run's finished cells, best balanced accuracy first: what the user ran, before the paper's tables."""
    if not summary.cells:
        return "## This run's cells, ranked\n\nNo cell has finished.\n"
    ranked = sorted(summary.cells, key=lambda r: -(r.values.get("balanced_accuracy") or -1.0))
    records = []
    for rank, result in enumerate(ranked, 1):
        interval = (result.ci or {}).get("balanced_accuracy", {})
        balanced = run_text(result.values.get("balanced_accuracy"), None, 1)
        if interval:
            balanced += " " + interval_text(interval["low"], interval["high"])
        params = result.values.get("model.params")
        records.append({
            "Rank": str(rank), "Cell": result.cell.cell_id, "Balanced accuracy": balanced,
            "Accuracy": run_text(result.values.get("accuracy"), None, 1),
            "Macro F1": run_text(result.values.get("macro_f1"), None, 1),
            "Parameters (M)": DASH if params is None else f"{params / 1e6:.1f}",
            "s / epoch": run_text(result.values.get("timing.epoch_s"), None, 1, ".1f"),
        })
    lines = ["## This run's cells, ranked", "",
             "By balanced accuracy (mean per-class recall) on each cell's reported part"
             + (", with its 95% lesion-bootstrap interval" if summary.bootstrap_n else "")
             + "; cells of different splits or seeds are on different images. The paper's tables follow.", "",
             pd.DataFrame(records).to_markdown(index=False, disable_numparse=True), ""]
    if summary.results.synthetic:
        lines += ["On synthetic images these numbers check the mechanics only: the report prints no difference to the "
                  "paper and no verdict on its claims.", ""]
    return "\n".join(lines)


def _cells(summary: Summary, figures: Figures) -> str:
    if not summary.cells:
        return "## Cells\n\nNo cell has finished.\n"
    records = []
    for result in summary.cells:
        record = {"Cell": result.cell.cell_id}
        for metric, heading in _METRIC_HEADINGS.items():
            interval = (result.ci or {}).get(metric, {})
            text = run_text(result.values.get(metric), None, 1)
            if interval:
                text += " " + interval_text(interval["low"], interval["high"])
            record[heading] = text
        record["Epochs"] = run_text(result.values.get("timing.epochs_run"), None, 1, ".0f")
        record["s / epoch"] = run_text(result.values.get("timing.epoch_s"), None, 1, ".1f")
        records.append(record)
    lines = ["## Cells", ""]
    if summary.bootstrap_n:
        lines += [f"Brackets: 95% bootstrap interval ({summary.bootstrap_n:,} resamples of the evaluated lesions, each "
                  "with all its images).", ""]
    lines += [pd.DataFrame(records).to_markdown(index=False, disable_numparse=True), ""]
    for cell_id, path in figures.cells.items():
        lines += [f"### {cell_id}", "", f"![{cell_id}]({path})", ""]
        if cell_id in figures.explained:
            lines += [f"![{cell_id}: mean soft-attention map per class (skinbench explain)]({figures.explained[cell_id]})", ""]
    return "\n".join(lines)


def _protocol(summary: Summary) -> str:
    cells = [r.cell for r in summary.cells] or list(summary.results.cells)
    data = summary.results.data
    envs = [e for e in (c.env() for c in cells) if e is not None]
    configs = [c.config for c in cells]
    items = {
        "Dataset": _dataset(data, summary),
        "Split": _distinct(c.split for c in cells),
        "Reported part": _distinct(m.part for m in (r.cell.metrics() for r in summary.cells) if m is not None),
        "Seeds": _distinct(c.seed for c in cells),
        "Epochs (maximum)": _distinct(c.epochs for c in configs),
        "Epochs run": _distinct(r.values.get("timing.epochs_run") for r in summary.cells),
        "Schedule": _listed(sorted({f"{c.recipe}: {_schedule(c.schedule)}" for c in configs})),
        "Deterministic kernels": _distinct("yes" if c.deterministic else "no" for c in configs),
        "Image size": _distinct(c.image_size for c in configs),
        "Batch size": _distinct(c.batch_size for c in configs),
        "Weights": _distinct(c.weights for c in configs),
        "BatchNorm momentum": _distinct("the backbone's own" if c.bn_momentum is None else c.bn_momentum for c in configs),
        "Soft attention": _distinct(c.attention for c in configs),
        "Precision": _distinct(c.precision for c in configs),
        "Backend": _distinct(c.backend for c in configs),
        "Device": _distinct(e.device() for e in envs),
    }
    return "## Protocol\n\n" + "\n".join(f"- {name}:{'' if value.startswith(chr(10)) else ' '}{value}" for name, value in items.items()) + "\n"


def _definitions(summary: Summary, paper: Published) -> str:
    lines = [
        "- Accuracy: share of images whose arg-max class is the true class.",
        "- Balanced accuracy: mean per-class recall, the ISIC 2018 challenge's metric (cells table). "
        "The paper's \"balanced accuracy\" (Table 8 only) is the mean over classes of (sensitivity + specificity) / 2.",
        "- Per class, one class against the rest: precision, recall (= sensitivity), specificity, "
        "F1 = 2TP / (2TP + FP + FN), ROC AUC. Macro means weigh classes equally; weighted means weigh them by "
        "support.",
        "- Absent class: a class with no true image in a cell's evaluated part is left out of every macro mean "
        "(precision, recall, specificity, F1, AUC and both balanced accuracies), as scikit-learn's balanced accuracy "
        "does, and has weight 0 in the weighted means; its per-class values are not measurements, and the warnings "
        "name it. A class whose ROC AUC is undefined (no positives or no negatives) is left out of the AUC means.",
        "- Parameters, depth and size: model.json of the model as trained. Depth = number of layers that hold "
        "weights (the Keras applications convention).",
        "- FLOPs: model.json `flops` per image, 2 × its `macs` (multiply-accumulates of the layers with a kernel; "
        "BatchNorm, activations and pooling are not counted).",
        "- Time per epoch: median of the epochs after the first (which includes tracing and compilation), "
        "one pass over the training set; training images/s is that set's size over that time.",
        "- ±: sample standard deviation over seeds; n: seeds that finished. Each seed is both a new split and a "
        "new initialisation (and training order), so this spread mixes the two.",
        f"- ECE (top label): the images in {BINS} equal-width bins of their top probability; the sum over bins of "
        "(share of images) × |accuracy − mean top probability| of the bin. Class-wise ECE: the same for each class's "
        "probability against membership of that class, averaged over the classes. Brier score: the mean over images "
        "of the sum over classes of (probability − one-hot label)², 0 perfect and 2 the worst. NLL: the mean of "
        "−log(probability of the true class). Temperature scaling: log-probabilities divided by one T fitted to "
        "minimise the NLL on the validation part; it changes no arg-max, so accuracy is unchanged.",
        "- Operating points: melanoma (its probability) and malignant, mel + bcc + akiec (their summed probability), "
        "against the rest; an image is called positive at or above the threshold. Sensitivity at specificity s: "
        "the lowest threshold whose specificity on the validation part is at least s; specificity at sensitivity s: "
        "the highest threshold whose sensitivity there is at least s; both measured on the reported part. Partial "
        f"AUC: the area under the ROC curve where sensitivity is at least {MIN_TPR:.0%} (the ISIC 2024 challenge's "
        "metric), 0.2 perfect, 0.02 chance. No interval is given for these.",
    ]
    if summary.bootstrap_n:
        lines.append(
            f"- 95% CI: percentile bootstrap over the evaluated images ({summary.bootstrap_n:,} resamples); with "
            "several seeds, of the mean over seeds (resample r of every seed averaged). It resamples lesions, each "
            "with all its evaluated images (the run folder's split file names each image's lesion), since images of "
            "one lesion are not independent: resampling them one by one would give intervals too narrow (on "
            "HAM10000, whose lesions have 1 to 6 images, by up to sqrt(sum n^2 / sum n), 1.2 for nv to 1.5 for mel, "
            "when a lesion's images are classified alike). It resamples the evaluated "
            "images only: the trained model and its split stay fixed, so it does not cover retraining, another "
            "initialisation or another split. Each resample applies the absent-class rule to the classes it holds. "
            "Each cell draws from its own stream, numpy.random.SeedSequence([base seed, CRC-32 of the UTF-8 cell id]) "
            f"with base seed {summary.bootstrap_seed}, so no two cells share resamples and the same run folders "
            "always give the same intervals."
        )
    lines.append(f"- Paper values: as printed in the paper's version `{paper.version.name}` "
                 f"(skinbench/studies/do2022/{paper.version.file}, each value with its source table).")
    return "## Definitions\n\n" + "\n".join(lines) + "\n"


def _warnings(summary: Summary) -> str:
    keys = summary.groups.keys()
    lines = []
    if summary.results.synthetic:
        lines.append("Synthetic data: the images are generated, not HAM10000; no number here is a result about skin lesions.")
    if any(k.split == "paper" for k in keys):
        lines.append(
            "The paper split's scores are optimistic for two reasons. Lesion leakage: it stratifies by diagnosis "
            "but ignores lesion_id, so images of one lesion fall on both sides. Model selection on the reported "
            "part: it reports on its validation part, the part that ReduceLROnPlateau (validation loss), "
            "EarlyStopping (the validation quantity under Protocol) and the reloaded best-epoch weights "
            "(validation accuracy) all select on. The lesion split avoids both: grouped by lesion_id, it selects "
            "on its validation part and reports on a test part that no selection sees."
        )
    if any(k.split == "leaky" for k in keys):
        lines.append(
            "The leaky split's scores are optimistic by lesion leakage: it splits image by image, so images of one "
            "lesion fall on both sides, as in the paper split. It is there to measure the leak (leaky − lesion in "
            "the leak table), not to report a model's skill."
        )
    one_by_one = sorted({k.ablation for k in keys if k.ablation in ABLATION_ROWS and ABLATION_ROWS[k.ablation].one_by_one})
    if one_by_one:
        lines.append(
            f"Ablation row(s) {', '.join(one_by_one)}: the cut lands on a 1x1 feature map, where soft attention "
            "is only a scaling; run as the paper did, not as a useful design."
        )
    lacking = [r.cell.cell_id for r in summary.cells if _absent_classes(r.metrics)]
    if lacking:
        lines.append(
            f"{len(lacking)} cell(s) lack a class in the evaluated part (named below): their macro means and "
            "balanced accuracies average only the classes present, so they do not compare like with like with "
            "cells that have every class, nor with the paper."
        )
    for result in summary.cells:
        lines += [f"{result.cell.cell_id}: {note}." for note in result.metrics["notes"]]
        stored_metrics = result.cell.metrics()
        stored = stored_metrics.values.get("accuracy") if stored_metrics else None
        if stored is not None and abs(stored - result.metrics["accuracy"]) > 1e-6:
            lines.append(
                f"{result.cell.cell_id}: metrics.json says accuracy {stored:.4f} but predictions.csv gives "
                f"{result.metrics['accuracy']:.4f}; the report uses predictions.csv."
            )
    lines += _sharing_warning(summary)
    lines += _accumulation_warning(summary)
    if summary.unfinished:
        damaged = sum(c.status == DAMAGED for c in summary.unfinished)
        lines.append(
            f"{len(summary.unfinished)} cell(s) did not finish{f' ({damaged} finished, then damaged)' if damaged else ''}; "
            f"their values show {DASH} (listed below)."
        )
    return "## Warnings\n\n" + "\n".join(f"- {line}" for line in lines) + "\n" if lines else ""


def _sharing_warning(summary: Summary) -> list[str]:
    """A line when the finished cells were timed sharing their device with different numbers of cells."""
    sharing: dict[int, list[str]] = {}
    for result in summary.cells:
        value = result.values.get("timing.gpu_sharing")
        if value is not None:
            sharing.setdefault(int(value), []).append(result.cell.cell_id)
    if len(sharing) < 2:
        return []
    counts = "; ".join(f"{n} at once: {len(cells)} cell(s), e.g. {cells[0]}" for n, cells in sorted(sharing.items()))
    return [
        f"Cells were timed while different numbers of cells shared their device (timing.json gpu_sharing; {counts}): "
        "compare times per epoch and images per second only between cells of equal sharing."
    ]


def _accumulation_warning(summary: Summary) -> list[str]:
    """A line naming the cells that trained in micro-batches (gradient accumulation)."""
    accumulated = [
        f"{r.cell.cell_id} ({int(r.values['timing.gradient_accumulation'])} x {int(r.values['timing.micro_batch_size'])})"
        for r in summary.cells if (r.values.get("timing.gradient_accumulation") or 1) > 1
    ]
    if not accumulated:
        return []
    return [
        f"{len(accumulated)} cell(s) trained with gradient accumulation, micro-batches that add up to their batch "
        f"(asked for with --gradient-accumulation, or a retry after the device ran out of memory; config.json says "
        f"which): {', '.join(accumulated)}. BatchNormalization normalised each micro-batch with its own statistics "
        "and updated its moving averages once per micro-batch, so these cells do not train exactly as the others."
    ]


def _absent_classes(metrics: dict[str, Any]) -> list[str]:
    """The classes with no true image among a cell's evaluated images."""
    return [name for name, values in metrics["per_class"].items() if values["support"] == 0]


def _unfinished(summary: Summary) -> str:
    if not summary.unfinished:
        return ""
    frame = pd.DataFrame(
        [{"Cell": c.cell_id, "Status": c.status, "Error": _one_line(c.error)} for c in summary.unfinished]
    )
    title = "Failed, damaged and pending cells" if any(c.status == DAMAGED for c in summary.unfinished) else "Failed and pending cells"
    return f"## {title}\n\n" + frame.to_markdown(index=False, disable_numparse=True) + "\n"


def _dataset(data: DataInfo | None, summary: Summary) -> str:
    if data is None:
        return DASH
    counts = data.class_counts
    name = data.name
    if summary.results.synthetic and "synthetic" not in name:
        name += " (synthetic)"
    return f"{name}, {sum(counts.values()):,} images" if counts else name


def _schedule(schedule: ScheduleRecord) -> str:
    epoch = "one pass over the training part" if schedule.epoch_steps is None else f"{schedule.epoch_steps} batches"
    delta = f", min_delta {schedule.min_delta:g}" if schedule.min_delta else ""
    weights = {None: "unweighted loss"}.get(schedule.class_weights, f"class weights {schedule.class_weights}")
    augmented = f"; augmented to {schedule.augment_per_class:,} images per class" if schedule.augment_per_class else ""
    return (
        f"{schedule.name} ({schedule.follows}): epoch = {epoch}; Adam {schedule.learning_rate:g}"
        f"{', ReduceLROnPlateau' if schedule.reduce_lr else ', no learning-rate reduction'}; {weights}{augmented}; "
        f"early stopping on {schedule.monitor}, patience {schedule.patience}{delta}"
    )


def _distinct(values: Iterable[Any]) -> str:
    """The distinct non-empty values, sorted (numbers by value), or a dash."""
    found = sorted(
        {v for v in values if v is not None and v != ""},
        key=lambda v: (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)),
    )
    return ", ".join(_plain(v) for v in found) or DASH


def _listed(texts: list[str]) -> str:
    """One text as it is, several as a nested list (each may hold commas), none as a dash."""
    if len(texts) <= 1:
        return texts[0] if texts else DASH
    return "".join(f"\n  - {text}" for text in texts)


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _one_line(text: str | None) -> str:
    return DASH if not text else " ".join(str(text).split()).replace("|", "\\|")
