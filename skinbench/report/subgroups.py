"""The report's subgroups: each cell's reported part by sex, age band and anatomical site group.

The groups come from the dataset's metadata (HAM10000_metadata.csv in the folder the cell's
config.json names): a missing or unrecorded value is its own group, ``unknown``, never dropped.
Per group: images, lesions, balanced accuracy and melanoma recall, each with a 95% percentile
bootstrap interval that resamples the group's lesions (each with all its images), as the cells
table does. A group with fewer than ``MIN_IMAGES`` images, or without two classes, is marked too
small and left out of the worst-group gap: the largest minus the smallest balanced accuracy
among the groups of one attribute.

Even groups that a model serves equally show a gap, from sampling alone, and the more groups the
larger. So each gap has a permutation p-value (``gap_p_value``): the groups' labels are shuffled
among the lesions (each lesion keeps one label and all its images), as many times as the report
bootstraps, and p is the share of shuffles whose gap is at least the observed one. One test per
cell and attribute, not corrected for their number.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from skinbench.classes import CLASSES
from skinbench.eval.metrics import intervals, resample_counts, resampled_balanced_accuracy, resampled_metrics
from skinbench.report.render import DASH
from skinbench.report.summary import CellResult, Summary

CSV_NAME = "subgroups.csv"
METADATA_FILE = "HAM10000_metadata.csv"
UNKNOWN = "unknown"
MIN_IMAGES = 30  #: fewer images in a group: too small to say anything
#: Age bands, as [low, high) in years.
AGE_BANDS: tuple[tuple[int, int], ...] = ((0, 30), (30, 45), (45, 60), (60, 75), (75, 200))
#: HAM10000's localization values in site groups; any other value is "other".
SITE_GROUPS: dict[str, tuple[str, ...]] = {
    "head and neck": ("face", "scalp", "ear", "neck"),
    "trunk": ("back", "trunk", "chest", "abdomen"),
    "upper extremity": ("upper extremity", "hand"),
    "lower extremity": ("lower extremity", "foot"),
    "other": ("acral", "genital"),
}


def age_band(age: float) -> str:
    if pd.isna(age):
        return UNKNOWN
    low, high = next((low, high) for low, high in AGE_BANDS if low <= age < high)
    return f"{low}+" if high >= 200 else f"{low}-{high - 1}"


def site_group(site: object) -> str:
    if pd.isna(site) or str(site).strip().lower() in ("", UNKNOWN):
        return UNKNOWN
    return next((group for group, sites in SITE_GROUPS.items() if str(site).strip().lower() in sites), "other")


def attributes(metadata: pd.DataFrame) -> pd.DataFrame:
    """Each image's sex, age band and site group (indexed by image_id)."""
    sex = metadata["sex"].fillna(UNKNOWN).astype(str).str.strip().str.lower().replace("", UNKNOWN)
    return pd.DataFrame({
        "sex": sex.to_numpy(),
        "age band": metadata["age"].map(age_band).to_numpy(),
        "site": metadata["localization"].map(site_group).to_numpy(),
    }, index=metadata["image_id"].to_numpy())


def _metadata(result: CellResult) -> pd.DataFrame | None:
    path = Path(result.cell.config.dataset.root) / METADATA_FILE
    return pd.read_csv(path) if path.exists() else None


def _group_row(y: np.ndarray, probs: np.ndarray, lesions: np.ndarray, n: int, seed: int) -> dict:
    mel = CLASSES.index("mel")
    classes = len(np.unique(y))
    row: dict = {"images": len(y), "lesions": len(np.unique(lesions)), "classes": classes,
                 "too_small": len(y) < MIN_IMAGES or classes < 2}
    counts = np.ones((1, len(y)))
    if n:
        counts = np.vstack([counts, resample_counts(len(y), n, seed, lesions)])
    balanced = resampled_metrics(counts, y, probs)["balanced_accuracy"]
    hits, melanomas = (y == mel) & (probs.argmax(axis=1) == mel), (y == mel).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = (counts @ hits) / (counts @ melanomas)
    for name, values in (("balanced_accuracy", balanced), ("mel_recall", recall)):
        row[name] = None if np.isnan(values[0]) else float(values[0])
        interval = intervals([{name: values[1:]}])[name]
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = interval["low"], interval["high"]
    return row


def subgroup_frame(summary: Summary) -> tuple[pd.DataFrame, list[str]]:
    """One row per cell, attribute and group; and, per cell without it, the metadata file not found."""
    rows, missing = [], []
    for result in summary.cells:
        metadata = _metadata(result)
        if metadata is None:
            missing.append(str(Path(result.cell.config.dataset.root) / METADATA_FILE))
            continue
        groups = attributes(metadata).reindex(result.image_ids).fillna(UNKNOWN)
        for attribute in groups.columns:
            labels = groups[attribute].to_numpy()
            mine = []
            for group in sorted(groups[attribute].unique()):
                members = labels == group
                seed = zlib.crc32(f"{result.cell.cell_id}/{attribute}/{group}".encode())
                row = _group_row(result.y_true[members], result.probs[members], result.lesions[members],
                                 summary.bootstrap_n, seed)
                mine.append({"cell": result.cell.cell_id, "attribute": attribute, "group": group, **row})
            usable = [row["group"] for row in mine if not row["too_small"] and row["balanced_accuracy"] is not None]
            seed = zlib.crc32(f"{result.cell.cell_id}/{attribute}/gap".encode())
            p = gap_p_value(result.y_true, result.probs, result.lesions, labels, usable, summary.bootstrap_n, seed)
            rows += [{**row, "gap_p": p} for row in mine]
    return pd.DataFrame(rows), missing


def lesion_shuffles(labels: np.ndarray, lesions: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``(n + 1, images)``: row 0 each image's group as observed (its lesion's first image's), then ``n``
    shuffles of the lesions' groups among the lesions, each lesion's images keeping one group."""
    codes = pd.factorize(pd.Series(lesions))[0]
    first = pd.Series(labels).groupby(codes).first().to_numpy()  # each lesion's group
    rng = np.random.default_rng(seed)
    return np.vstack([first, rng.permuted(np.tile(first, (n, 1)), axis=1)])[:, codes]


def gap_p_value(y: np.ndarray, probs: np.ndarray, lesions: np.ndarray, labels: np.ndarray, usable: list[str],
                n: int, seed: int) -> float | None:
    """The permutation p-value of the worst-group gap among the ``usable`` groups (see the module doc);
    None without two usable groups or permutations. A lesion whose images carry several labels takes its
    first image's."""
    if len(usable) < 2 or not n:
        return None
    shuffled = lesion_shuffles(labels, lesions, n, seed)
    accuracy = np.vstack([resampled_balanced_accuracy((shuffled == group).astype(float), y, probs) for group in usable])
    gaps = np.nanmax(accuracy, axis=0) - np.nanmin(accuracy, axis=0)
    return float((1 + np.sum(gaps[1:] >= gaps[0] - 1e-12)) / (n + 1))


def worst_group_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Per cell and attribute: the largest minus the smallest balanced accuracy of the groups not too small,
    and its permutation p-value."""
    usable = frame[~frame["too_small"] & frame["balanced_accuracy"].notna()]
    gaps = usable.groupby(["cell", "attribute"]).agg(max=("balanced_accuracy", "max"), min=("balanced_accuracy", "min"),
                                                     count=("balanced_accuracy", "count"), p=("gap_p", "first"))
    gaps = gaps[gaps["count"] >= 2].reset_index()
    return gaps.assign(gap=gaps["max"] - gaps["min"])


def _value(row: dict, name: str) -> str:
    value, low, high = row.get(name), row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    if value is None or pd.isna(value):
        return DASH
    if low is None or pd.isna(low):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def subgroup_section(summary: Summary) -> tuple[str, pd.DataFrame]:
    """Markdown for report.md (empty without finished cells) and the frame written as subgroups.csv."""
    frame, missing = subgroup_frame(summary)
    if frame.empty and not missing:
        return "", frame
    lines = ["## Subgroups", "",
             "Each cell's reported part by sex, age band (" + ", ".join(
                 f"{low}+" if high >= 200 else f"{low}-{high - 1}" for low, high in AGE_BANDS) + " years) and site "
             "group (" + "; ".join(f"{group}: {', '.join(sites)}" for group, sites in SITE_GROUPS.items()) + "); "
             f"'{UNKNOWN}' is its own group. Brackets: 95% bootstrap interval over the group's lesions"
             + (f" ({summary.bootstrap_n:,} resamples)" if summary.bootstrap_n else " (skipped: --bootstrap 0)")
             + f". Groups of fewer than {MIN_IMAGES} images or one class are marked too small and left out of the "
             "worst-group gap (largest minus smallest balanced accuracy of one attribute's groups).", ""]
    for path, count in pd.Series(missing, dtype=object).value_counts(sort=False).items():
        lines += [f"No subgroups for {count} cell(s): no metadata at {path}.", ""]
    if not frame.empty:
        gaps = worst_group_gaps(frame).set_index(["cell", "attribute"])
        lines += ["| Cell | Attribute | Group | Images | Lesions | Balanced accuracy | Melanoma recall | Note |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in frame.to_dict("records"):
            note = "too small" if row["too_small"] else ""
            lines.append(f"| {row['cell']} | {row['attribute']} | {row['group']} | {row['images']} | {row['lesions']} | "
                         f"{_value(row, 'balanced_accuracy')} | {_value(row, 'mel_recall')} | {note} |")
        lines += ["", "Worst-group gap in balanced accuracy (permutation p over lesions, one test per cell and "
                  "attribute, uncorrected): " + (
            "; ".join(f"{cell} by {attribute}: {gap.gap:.3f}" + (f" (p {gap.p:.3f})" if pd.notna(gap.p) else "")
                      for (cell, attribute), gap in gaps.iterrows())
            or "none (fewer than two groups large enough)") + ".", ""]
    return "\n".join(lines), frame
