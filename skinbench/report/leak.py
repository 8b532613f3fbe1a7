"""The leak, measured and taken apart: the same model under the paper, leaky, lesion and official splits.

The paper split reports on its validation part, which holds other images of lesions it trains
on (leakage) and which model selection (ReduceLROnPlateau, EarlyStopping, the best-epoch
weights) saw (selection on the reported part); it also trains on 90% of the images where the
others train on 70% (size, and with one-pass epochs more gradient steps). The leaky split
(image by image, 70/15/15, the test part reported) has the lesion split's sizes and selection
and the paper split's leakage. So, for a model (backbone and recipe, or ablation row) run under
them (``DECOMPOSITION``):

- leaky - lesion: the leak alone (size, steps and selection held equal);
- paper - leaky: selection on the reported part plus the larger training part (leakage in both);
- paper - lesion: all of these together (the paper protocol's optimism);
- paper - official: all of these and another test set (the ISIC 2018 Task 3 test images).

Two splits report on different images, so each difference is unpaired. Its 95% interval is
Welch's t interval over seeds when both sides have at least ``MIN_SEEDS_FOR_T`` seeds
(``eval.paired.welch_interval``: it covers retraining and a new split), else the unpaired
bootstrap: resample r of one side's own (lesion-clustered) bootstrap minus resample r of the
other's (each side's seeds averaged resample by resample; the sides draw independently), through
``eval.paired.unpaired_interval``, which covers the images only.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from skinbench.eval.paired import MIN_SEEDS_FOR_T, PAIRED_METRICS, unpaired_interval, welch_interval
from skinbench.report.pairs import cells_text
from skinbench.report.render import DASH, interval_text, run_text
from skinbench.report.summary import GroupKey, Summary
from skinbench.report.tables import Table


class Difference(NamedTuple):
    """One difference of the leak table: ``a`` split minus ``b`` split, and what it measures."""

    a: str
    b: str
    measures: str


#: The differences the leak table shows, in its order, each where the run has both splits.
DECOMPOSITION = (
    Difference("leaky", "lesion", "leakage alone (training size, steps and selection equal)"),
    Difference("paper", "leaky", "selection on the reported part + the larger training part"),
    Difference("paper", "lesion", "leakage + selection + training size: the paper protocol's optimism"),
    Difference("paper", "official", "leakage + selection + training size + another test set"),
)
TABLE_NAME = "leak"
TITLE = "The leak, measured: the paper split against the leaky, lesion and official splits"
METRIC_LABELS = {"balanced_accuracy": "Balanced accuracy", "accuracy": "Accuracy", "macro_f1": "Mean per-class F1"}
WELCH = f"Welch t over seeds ({MIN_SEEDS_FOR_T}+ a side)"
IMAGES_ONLY = "unpaired bootstrap: images only"
COLUMNS = (
    "model", "a_split", "b_split", "measures", "metric", "cells_a", "cells_b", "n_seeds_a", "n_seeds_b",
    "value_a", "sd_a", "value_b", "sd_b", "difference", "ci_low", "ci_high", "interval",
)


def leak_frame(summary: Summary) -> pd.DataFrame:
    """COLUMNS: per model run under both splits of a DECOMPOSITION difference, per metric, a split minus b."""
    rows = []
    models = dict.fromkeys(key._replace(split="") for key in summary.groups)
    for model in models:
        for difference in DECOMPOSITION:
            key_a, key_b = model._replace(split=difference.a), model._replace(split=difference.b)
            if key_a in summary.groups and key_b in summary.groups:
                rows += [row for metric in PAIRED_METRICS if (row := _row(summary, key_a, key_b, difference, metric))]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _row(summary: Summary, key_a: GroupKey, key_b: GroupKey, difference: Difference, metric: str) -> dict | None:
    a, b = summary.stat(key_a, metric), summary.stat(key_b, metric)
    if a is None or b is None:
        return None
    cells_a, cells_b = summary.groups[key_a], summary.groups[key_b]
    low, high = welch_interval([r.values.get(metric) for r in cells_a], [r.values.get(metric) for r in cells_b])
    interval = WELCH
    if low is None:
        interval = IMAGES_ONLY
        if all(r.samples is not None for r in [*cells_a, *cells_b]):
            low, high = unpaired_interval([r.samples[metric] for r in cells_a], [r.samples[metric] for r in cells_b])
        else:
            interval = "none"
    return {
        "model": key_a.label(with_row_key=True), "a_split": difference.a, "b_split": difference.b,
        "measures": difference.measures, "metric": metric,
        "cells_a": cells_text(r.cell for r in cells_a), "cells_b": cells_text(r.cell for r in cells_b),
        "n_seeds_a": a.n, "n_seeds_b": b.n, "value_a": a.mean, "sd_a": a.std, "value_b": b.mean, "sd_b": b.std,
        "difference": a.mean - b.mean, "ci_low": low, "ci_high": high, "interval": interval,
    }


def leak_section(summary: Summary) -> tuple[str, Table | None]:
    """Markdown for report.md and the table (leak.csv), or ``("", None)`` when no model ran under two of the splits."""
    frame = leak_frame(summary)
    if frame.empty:
        return "", None
    table = Table(TABLE_NAME, TITLE, frame)
    records = []
    for r in frame.itertuples(index=False):
        records.append({
            "Model": r.model,
            "Difference": f"{r.a_split} − {r.b_split}",
            "What it measures": r.measures,
            "Measure": METRIC_LABELS[r.metric],
            "a": run_text(r.value_a, _sd(r.sd_a), int(r.n_seeds_a)),
            "b": run_text(r.value_b, _sd(r.sd_b), int(r.n_seeds_b)),
            "a − b": format(r.difference, "+.3f"),
            "95% interval": DASH if pd.isna(r.ci_low) else f"{interval_text(r.ci_low, r.ci_high, '+.3f')} ({r.interval})",
        })
    for index in range(len(records) - 1, 0, -1):  # each model and difference named on its first row only
        if (records[index]["Model"], records[index]["Difference"]) == (records[index - 1]["Model"], records[index - 1]["Difference"]):
            records[index]["Model"] = records[index]["Difference"] = records[index]["What it measures"] = ""
    lines = [
        f"## {TITLE}",
        "",
        "The same model trained under several `--split`s. The paper split reports on its validation part, which "
        "holds other images of the lesions it trains on (leakage) and which model selection saw (selection), and "
        "trains on 90% of the images. The leaky split splits image by image as the paper split does (leakage) but "
        "70/15/15, selecting on its validation part and reporting on its test part, as the lesion split does; the "
        "lesion split keeps each lesion in one part. So leaky − lesion is the leak alone (training size, gradient "
        "steps and selection held equal), paper − leaky is selection on the reported part plus the larger training "
        "part, and paper − lesion is all of it. Each row shows the differences whose two splits the run has.",
        "",
        pd.DataFrame(records).to_markdown(index=False, disable_numparse=True),
        "",
    ]
    for r in frame.drop_duplicates(["model", "a_split", "b_split"]).itertuples(index=False):
        lines.append(f"- {r.model}, {r.a_split} − {r.b_split}: a = {r.cells_a}; b = {r.cells_b}.")
    lines += [
        f"- Two splits report on different images, so each difference is unpaired. With {MIN_SEEDS_FOR_T} seeds or "
        "more on both sides its 95% interval is Welch's t interval of the difference of the means over seeds "
        "(scipy.stats.ttest_ind, unequal variances): it covers retraining and a new split. With fewer it is the "
        "unpaired bootstrap, resample r of one side's own bootstrap (lesions resampled, each side's seeds averaged "
        "resample by resample) minus resample r of the other's, which covers the evaluated images only, not "
        "retraining: such an interval says nothing about another training run.",
    ]
    if (frame["b_split"] == "official").any():
        lines.append("- Against the official split the test set itself changes too (the ISIC 2018 Task 3 test images).")
    return "\n".join(lines).rstrip() + "\n", table


def _sd(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
