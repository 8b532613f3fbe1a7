"""The report's calibration and clinical operating points, per cell (beyond the paper).

Both are computed from the files every cell writes: predictions.csv (the reported part) and
predictions-val.csv (the validation part, by the same weights). The validation part fits the
temperature and chooses each threshold; the reported part is measured with them, so nothing is
tuned on the images it is judged on. Where the reported part is the validation part itself (the
paper split), the table says so: those figures are then fitted and measured on the same images.
A cell trained before predictions-val.csv was written gets its uncalibrated figures only.
Definitions: ``eval.calibration`` and ``eval.operating_points``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skinbench.eval.calibration import BINS, calibration, fit_temperature, reliability, scale
from skinbench.eval.operating_points import (
    LEVELS,
    MIN_TPR,
    TARGETS,
    operating_points,
    partial_auc,
    positives,
    resampled_rates,
    score,
)
from skinbench.eval.metrics import intervals, resample_counts
from skinbench.eval.predictions import read_predictions
from skinbench.records import VAL_PREDICTIONS_FILE
from skinbench.report.render import DASH
from skinbench.report.summary import CellResult, Summary, bootstrap_stream

CALIBRATION_CSV, OPERATING_CSV = "calibration.csv", "operating_points.csv"


def _validation(result: CellResult) -> tuple[np.ndarray, np.ndarray] | None:
    path = result.cell.path / VAL_PREDICTIONS_FILE
    if not path.exists():
        return None
    _, y_true, probs = read_predictions(path)
    return y_true, probs


#: The comparison's columns: (label, target, fixed rate, level) of an operating point.
COMPARED = (("Melanoma: sens @ spec 90%", "melanoma", "specificity", 0.90),
            ("Malignant: sens @ spec 90%", "malignant", "specificity", 0.90))


def cell_frames(
    result: CellResult, bootstrap_n: int = 0, bootstrap_seed: int = 0
) -> tuple[dict, list[dict], dict[str, np.ndarray]]:
    """One cell's calibration row and operating-point rows; with ``bootstrap_n`` resamples of the reported
    part's lesions (the cell's own stream, as its metrics' intervals draw), the operating points' intervals
    and, per COMPARED label, the resampled sensitivities (for the comparison's intervals over seeds)."""
    y_true, probs = result.y_true, result.probs
    recorded = result.cell.metrics()
    part = recorded.part if recorded is not None else DASH
    row = {"cell": result.cell.cell_id, "part": part, "n_images": len(y_true),
           **vars(calibration(y_true, probs))}
    for target in TARGETS:
        positive = positives(y_true, target)
        row[f"pauc_{target}"] = partial_auc(positive, score(probs, target)) if 0 < positive.sum() < len(y_true) else None
    validation = _validation(result)
    points, compared = [], {}
    if validation is not None:
        val_true, val_probs = validation
        temperature = fit_temperature(val_true, val_probs)
        after = calibration(y_true, scale(probs, temperature))
        row |= {"temperature": temperature, **{f"{k}_scaled": v for k, v in vars(after).items()},
                "fitted_on": "val (the reported part itself)" if part == "val" else "val"}
        counts = (resample_counts(len(y_true), bootstrap_n, bootstrap_stream(bootstrap_seed, result.cell.cell_id),
                                  result.lesions) if bootstrap_n else None)
        found = operating_points(val_true, val_probs, y_true, probs, counts)
        points = [{"cell": result.cell.cell_id, **vars(p)} for p in found]
        for label, target, fixed, level in COMPARED if counts is not None else ():
            point = next((p for p in found if (p.target, p.fixed) == (target, fixed) and np.isclose(p.level, level)), None)
            if point is not None:
                compared[label] = resampled_rates(counts, positives(y_true, target), score(probs, target), point.threshold)[0]
    return row, points, compared


def clinical_frames(summary: Summary) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """calibration.csv and operating_points.csv: one row per finished cell, and per cell, target and level;
    and per cell the resampled sensitivities of the COMPARED points (none without a bootstrap)."""
    rows, points, samples = [], [], {}
    for result in summary.cells:
        row, cell_points, samples[result.cell.cell_id] = cell_frames(result, summary.bootstrap_n, summary.bootstrap_seed)
        rows.append(row)
        points += cell_points
    return pd.DataFrame(rows), pd.DataFrame(points), samples


def _number(value, digits: int = 3) -> str:
    return DASH if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _with_interval(value: float | None, low: float | None, high: float | None) -> str:
    """A rate, with its interval where one was computed."""
    interval = "" if low is None or high is None or pd.isna(low) or pd.isna(high) else f" [{low:.2f}, {high:.2f}]"
    return _number(value) + interval


def clinical_section(summary: Summary) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Markdown for report.md (empty without finished cells) and the two frames written as CSVs."""
    calibrated, points, samples = clinical_frames(summary)
    if calibrated.empty:
        return "", calibrated, points
    scaled = "temperature" in calibrated
    lines = [
        "## Calibration", "",
        f"On each cell's reported part: top-label ECE ({BINS} equal-width bins), class-wise ECE, Brier score and NLL "
        "(definitions at the end), before and after temperature scaling fitted on the validation part.", "",
        "| Cell | Part | Images | ECE | Class-wise ECE | Brier | NLL | T | ECE after | Brier after | NLL after | Fitted on |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in calibrated.to_dict("records"):
        after = [_number(row.get(k)) for k in ("temperature", "ece_scaled", "brier_scaled", "nll_scaled")] if scaled else [DASH] * 4
        lines.append(f"| {row['cell']} | {row['part']} | {row['n_images']} | {_number(row['ece'])} | "
                     f"{_number(row['classwise_ece'])} | {_number(row['brier'])} | {_number(row['nll'])} | "
                     f"{' | '.join(after)} | {row.get('fitted_on') if isinstance(row.get('fitted_on'), str) else 'no validation predictions'} |")
    lines += ["", "## Clinical operating points", "",
              "Thresholds chosen on the validation part, applied to the reported part: sensitivity at a fixed "
              "specificity and specificity at a fixed sensitivity, for melanoma and for malignant (mel, bcc, akiec) "
              f"against benign; partial AUC where sensitivity is at least {MIN_TPR:.0%} (0.2 is perfect), on the "
              "reported part." + (" Brackets: 95% bootstrap interval over the reported part's lesions, the threshold "
                                  "held fixed (it leaves out the threshold's own uncertainty)." if summary.bootstrap_n else ""),
              ""]
    levels = " | ".join(f"Sens @ spec {level:.0%}" for level in LEVELS) + " | " + " | ".join(
        f"Spec @ sens {level:.0%}" for level in LEVELS)
    for target in TARGETS:
        lines += [f"**{target.capitalize()}**", "", f"| Cell | {levels} | pAUC (sens ≥ {MIN_TPR:.0%}) |",
                  "|---|" + "---|" * (2 * len(LEVELS) + 1)]
        for row in calibrated.to_dict("records"):
            mine = points[(points["cell"] == row["cell"]) & (points["target"] == target)] if not points.empty else points
            values = []
            for fixed, measured in (("specificity", "sensitivity"), ("sensitivity", "specificity")):
                for level in LEVELS:
                    hit = mine[(mine["fixed"] == fixed) & np.isclose(mine["level"], level)] if not mine.empty else mine
                    point = hit.iloc[0] if len(hit) else None
                    values.append(DASH if point is None else _with_interval(
                        point[measured], point.get(f"{measured}_ci_low"), point.get(f"{measured}_ci_high")))
            lines.append(f"| {row['cell']} | {' | '.join(values)} | {_number(row[f'pauc_{target}'])} |")
        lines.append("")
    lines += _comparison(summary, calibrated, points, samples)
    return "\n".join(lines), calibrated, points


def _comparison(summary: Summary, calibrated: pd.DataFrame, points: pd.DataFrame,
                samples: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """The backbones side by side: each group of cells (backbone, recipe or ablation row, split) averaged over
    its seeds: the operating points at specificity 90% (with the 95% interval of that mean over the seeds'
    lesion resamples, as the cells table's), the partial AUCs and the ECE."""
    groups: dict = {}
    for result in summary.cells:
        groups.setdefault(result.key, []).append(result.cell.cell_id)
    if len(groups) < 2:
        return []
    by_cell = calibrated.set_index("cell")
    lines = ["**The backbones compared** (mean over each group's seeds, n = seeds" + (
                 "; brackets: 95% interval of that mean over each seed's lesion resamples, thresholds held fixed: the "
                 "images' sampling only, not retraining)" if summary.bootstrap_n else ")"), "",
             "| Group | n | " + " | ".join(label for label, *_ in COMPARED)
             + " | pAUC melanoma | pAUC malignant | ECE |", "|---|---|" + "---|" * (len(COMPARED) + 3)]
    for key, cells in groups.items():
        values = []
        for label, target, fixed, level in COMPARED:
            hit = points[points["cell"].isin(cells) & (points["target"] == target) & (points["fixed"] == fixed)
                         & np.isclose(points["level"], level)] if not points.empty else points
            drawn = [samples[cell][label] for cell in cells if label in samples.get(cell, {})]
            interval = (intervals([{label: s} for s in drawn])[label] if len(hit) and len(drawn) == len(cells)
                        else {"low": None, "high": None})
            values.append(_with_interval(hit["sensitivity"].mean(), interval["low"], interval["high"]) if len(hit)
                          else DASH)
        for column in ("pauc_melanoma", "pauc_malignant", "ece"):
            values.append(_number(by_cell.loc[cells, column].astype(float).mean()))
        lines.append(f"| {key.label()}{summary.split_suffix(key)} | {len(cells)} | {' | '.join(values)} |")
    return [*lines, ""]


def reliability_figure(summary: Summary):
    """The reliability diagram of every finished cell's reported part (before temperature scaling)."""
    from matplotlib.figure import Figure

    if not summary.cells:
        return None
    figure = Figure(figsize=(6, 6))
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for result in summary.cells:
        points = reliability(result.y_true, result.probs)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=result.cell.cell_id)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence (top label)", ylabel="accuracy",
           title=f"Reliability, reported part ({BINS} equal-width bins)")
    ax.legend(fontsize=6, loc="upper left")
    return figure


def write_clinical(out: Path, calibrated: pd.DataFrame, points: pd.DataFrame) -> None:
    """calibration.csv and operating_points.csv (none without finished cells)."""
    from skinbench.io import write_csv

    if not calibrated.empty:
        write_csv(out / CALIBRATION_CSV, calibrated, float_format="%.6g")
    if not points.empty:
        write_csv(out / OPERATING_CSV, points, float_format="%.6g")
