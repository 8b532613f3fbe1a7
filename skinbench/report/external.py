"""The report's external validation: each cell scored on other datasets (``skinbench evaluate``).

Read from ``<cell>/external/<dataset>/`` (records.ExternalInfo, predictions.csv, groups.csv,
unmapped.csv). Per cell and dataset: the internal balanced accuracy (the cell's reported part),
the external one (the images whose class has a HAM10000 counterpart), each with a 95% percentile
bootstrap interval that resamples whole groups (internal: lesions; external: the dataset's
grouping key, lesion, patient or case), and the drop (internal − external) with the interval of
the difference of the two independent resamples; the top-label ECE on both sides
(``eval.calibration``). Per dataset, whether the ranking of the models holds: Kendall's tau
(``scipy.stats.kendalltau``, tau-b) between their internal and external balanced accuracies, with
the number of models and images it rests on. A model is a group of cells that differ only by seed
(``summary.GroupKey``), ranked by the mean over its seeds: seeds of one model are not independent
models, and counting them as such would overstate the evidence. Images of classes without a counterpart (SCC, UNK,
...) are counted apart, with the share the model calls malignant (mel, bcc or akiec).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from skinbench.classes import ISIC_CODE, ISIC_COLUMNS
from skinbench.eval.calibration import BINS, top_label_ece
from skinbench.eval.metrics import bootstrap, compute_metrics
from skinbench.eval.operating_points import TARGETS
from skinbench.eval.predictions import read_predictions
from skinbench.io import write_csv
from skinbench.records import EXTERNAL_DIR, GROUPS_FILE, PREDICTIONS_FILE, UNMAPPED_FILE, ExternalInfo, RecordError
from skinbench.report.render import DASH, interval_text
from skinbench.report.summary import CellResult, Summary

CSV_NAME = "external.csv"
METRIC = "balanced_accuracy"


@dataclass(frozen=True)
class ExternalResult:
    """One cell scored on one dataset."""

    result: CellResult
    info: ExternalInfo
    y_true: np.ndarray
    probs: np.ndarray
    groups: np.ndarray
    unmapped: pd.DataFrame  #: unmapped.csv


def _percentiles(samples: np.ndarray | None) -> tuple[float | None, float | None]:
    if samples is None or np.all(np.isnan(samples)):
        return None, None
    low, high = np.nanpercentile(samples, [2.5, 97.5])
    return float(low), float(high)


def read_external(result: CellResult) -> tuple[list[ExternalResult], list[str]]:
    """The cell's external results; and a line per folder that cannot be read."""
    found, problems = [], []
    root = result.cell.path / EXTERNAL_DIR
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        try:
            info = ExternalInfo.read(folder)
            image_ids, y_true, probs = read_predictions(folder / PREDICTIONS_FILE)
            groups = pd.read_csv(folder / GROUPS_FILE, dtype=str).set_index("image")["group"]
            unmapped = pd.read_csv(folder / UNMAPPED_FILE)
        except (RecordError, OSError, ValueError, KeyError) as exc:
            problems.append(f"{folder}: {exc}".split("\n")[0])
            continue
        found.append(ExternalResult(result, info, y_true, probs, groups.reindex(image_ids).fillna("").to_numpy(), unmapped))
    return found, problems


def external_frame(summary: Summary) -> tuple[pd.DataFrame, list[str]]:
    """One row per cell and dataset (see the module doc), and the folders that could not be read."""
    rows, problems = [], []
    n = summary.bootstrap_n
    for result in summary.cells:
        externals, unreadable = read_external(result)
        problems += unreadable
        internal = result.samples[METRIC] if result.samples is not None else None
        for ext in externals:
            seed = np.random.SeedSequence([summary.bootstrap_seed, zlib.crc32(f"{result.cell.cell_id}/{ext.info.dataset}".encode())])
            external = bootstrap(ext.y_true, ext.probs, n, seed, clusters=ext.groups)[METRIC] if n and len(ext.y_true) else None
            value_in, value_out = result.metrics[METRIC], _balanced(ext)
            drop = internal - external if internal is not None and external is not None else None
            called = _called_malignant(ext.unmapped)
            rows.append({
                "cell": result.cell.cell_id, "backbone": result.cell.backbone, "recipe": result.cell.recipe,
                "model": result.key.label(with_row_key=True) + summary.split_suffix(result.key),
                "dataset": ext.info.dataset, "title": ext.info.title, "group_key": ext.info.group_key,
                "internal_images": len(result.y_true), "external_images": len(ext.y_true),
                "external_groups": len(set(ext.groups)),
                "internal": value_in, "internal_ci": _percentiles(internal),
                "external": value_out, "external_ci": _percentiles(external),
                "drop": None if value_out is None else value_in - value_out, "drop_ci": _percentiles(drop),
                "internal_ece": top_label_ece(result.y_true, result.probs),
                "external_ece": top_label_ece(ext.y_true, ext.probs) if len(ext.y_true) else None,
                "unmapped": dict(ext.info.unmapped),
                "unmapped_called_malignant": called,
                "shared_with_training": ext.info.shared_with_training, "metadata": ext.info.metadata,
            })
    return pd.DataFrame(rows), problems


def _called_malignant(unmapped: pd.DataFrame) -> float | None:
    """The share of ``unmapped``'s images whose most probable class is malignant (TARGETS["malignant"])."""
    if unmapped.empty:
        return None
    predicted = unmapped[list(ISIC_COLUMNS)].idxmax(axis=1)
    return float(predicted.isin([ISIC_CODE[c] for c in TARGETS["malignant"]]).mean())


def _balanced(ext: ExternalResult) -> float | None:
    return compute_metrics(ext.y_true, ext.probs)[METRIC] if len(ext.y_true) else None


def rankings(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: Kendall's tau-b between the models' internal and external balanced accuracies, each
    model's the mean over its seeds' cells."""
    rows = []
    for dataset, group in frame.groupby("dataset", sort=False):
        usable = group.dropna(subset=["internal", "external"])
        models = usable.groupby("model", sort=False)[["internal", "external"]].mean()
        tau, p = kendalltau(models["internal"], models["external"]) if len(models) >= 2 else (np.nan, np.nan)
        rows.append({"dataset": dataset, "models": len(models), "cells": len(usable),
                     "tau": None if np.isnan(tau) else float(tau),
                     "p": None if np.isnan(p) else float(p), "external_images": int(usable["external_images"].max()),
                     "internal_images": int(usable["internal_images"].max())})
    return pd.DataFrame(rows)


def _value(value, ci) -> str:
    if value is None or pd.isna(value):
        return DASH
    return f"{value:.3f} {interval_text(*ci)}" if ci[0] is not None else f"{value:.3f}"


def external_section(summary: Summary) -> tuple[str, pd.DataFrame]:
    """Markdown for report.md (empty when no cell was scored elsewhere) and the frame of external.csv."""
    frame, problems = external_frame(summary)
    if frame.empty and not problems:
        return "", frame
    lines = ["## External validation", "",
             "Kept models scored on other datasets (`skinbench evaluate`), on the images whose class has a HAM10000 "
             "counterpart; classes without one are counted apart, never merged. Internal: the cell's reported part. "
             "Brackets: 95% bootstrap intervals resampling whole groups (internal: lesions; external: the dataset's "
             "grouping key)" + (f", {summary.bootstrap_n:,} resamples" if summary.bootstrap_n else ", skipped: --bootstrap 0")
             + "; the drop is internal − external, its interval that of the difference of the two independent "
             f"resamples. ECE: top-label expected calibration error, {BINS} equal-width bins.", ""]
    lines += [f"Not read: {problem}" for problem in problems] + ([""] if problems else [])
    if not frame.empty:
        lines += ["| Cell | Dataset | Images (groups) | Internal BA | External BA | Drop | ECE internal / external | "
                  "Without counterpart (called malignant) | Shared with training |", "|---|---|---|---|---|---|---|---|---|"]
        for row in frame.to_dict("records"):
            unmapped = ", ".join(f"{k} {v}" for k, v in row["unmapped"].items()) or DASH
            if row["unmapped_called_malignant"] is not None:
                unmapped += f" ({row['unmapped_called_malignant']:.0%})"
            shared = DASH if row["shared_with_training"] is None else str(row["shared_with_training"])
            external_ece = DASH if row["external_ece"] is None else f"{row['external_ece']:.3f}"
            lines.append(
                f"| {row['cell']} | {row['title']} | {row['external_images']:,} ({row['external_groups']:,} {row['group_key']}) | "
                f"{_value(row['internal'], row['internal_ci'])} | {_value(row['external'], row['external_ci'])} | "
                f"{_value(row['drop'], row['drop_ci'])} | {row['internal_ece']:.3f} / {external_ece} | {unmapped} | {shared} |")
        lines += ["", "Does the ranking of the models hold? Kendall's tau-b between internal and external balanced accuracy, "
                  "each model (backbone and recipe or ablation row) by the mean of its seeds; one test per dataset, "
                  "not corrected across datasets:"]
        for row in rankings(frame).to_dict("records"):
            title = frame.loc[frame["dataset"] == row["dataset"], "title"].iloc[0]
            verdict = (f"tau {row['tau']:.2f} (p {row['p']:.2g})" if row["tau"] is not None
                       else "no tau (fewer than two models, or tied values)")
            lines.append(f"- {title}: {verdict}, over {row['models']} model(s) ({row['cells']} cell(s)) on "
                         f"{row['external_images']:,} external images (internal: up to {row['internal_images']:,} images a cell).")
        lines.append("")
    return "\n".join(lines), frame


def write_external(summary: Summary, out: Path) -> str:
    """The section's Markdown; external.csv beside the report when any cell was scored elsewhere."""
    text, frame = external_section(summary)
    if not frame.empty:
        flat = frame.drop(columns=["internal_ci", "external_ci", "drop_ci", "unmapped"]).assign(
            **{f"{name}_ci_{side}": frame[f"{name}_ci"].map(lambda ci, i=i: ci[i])
               for name in ("internal", "external", "drop") for i, side in enumerate(("low", "high"))},
            unmapped=frame["unmapped"].map(lambda d: ";".join(f"{k}={v}" for k, v in d.items())))
        write_csv(Path(out) / CSV_NAME, flat, float_format="%.6g")
    return text
