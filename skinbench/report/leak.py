"""The leak, measured: the same model under the paper split and under the lesion (or official) split.

The paper split reports on its validation part, which holds other images of lesions it
trains on and which model selection (ReduceLROnPlateau, EarlyStopping, the best-epoch
weights) saw; the lesion split reports on a test part of lesions it never trained on, which
no selection saw. For a model (backbone and recipe, or ablation row) run under both, the
paper-split score minus the other split's is how much of the paper protocol's score is lesion
leakage and selection on the reported part, plus the chance difference between two sets of
images. The two cells report on different images, so this is an unpaired difference: its
interval takes resample r of one side's own bootstrap minus resample r of the other's (each
side's seeds averaged resample by resample; the sides draw independently), through
``eval.paired.unpaired_interval``. Against the ``official`` split the test set itself also
changes (the ISIC 2018 Task 3 test images).
"""

from __future__ import annotations

import pandas as pd

from skinbench.eval.paired import PAIRED_METRICS, unpaired_interval
from skinbench.report.pairs import cells_text
from skinbench.report.render import DASH, interval_text, run_text
from skinbench.report.summary import Summary
from skinbench.report.tables import Table

PAPER_SPLIT = "paper"
OTHER_SPLITS = ("lesion", "official")
TABLE_NAME = "leak"
METRIC_LABELS = {"balanced_accuracy": "Balanced accuracy", "accuracy": "Accuracy", "macro_f1": "Mean per-class F1"}
COLUMNS = (
    "model", "other_split", "metric", "cells_paper", "cells_other", "n_seeds_paper", "n_seeds_other",
    "paper_split", "paper_split_sd", "other", "other_sd", "difference", "ci_low", "ci_high",
)


def leak_frame(summary: Summary) -> pd.DataFrame:
    """COLUMNS: per model run under the paper split and another, per metric, paper split minus the other."""
    rows = []
    for key in summary.where(split=PAPER_SPLIT):
        for other_split in OTHER_SPLITS:
            other = key._replace(split=other_split)
            if other not in summary.groups:
                continue
            paper_cells, other_cells = summary.groups[key], summary.groups[other]
            for metric in PAIRED_METRICS:
                paper, lesion = summary.stat(key, metric), summary.stat(other, metric)
                if paper is None or lesion is None:
                    continue
                low = high = None
                if all(r.samples is not None for r in [*paper_cells, *other_cells]):
                    low, high = unpaired_interval([r.samples[metric] for r in paper_cells],
                                                  [r.samples[metric] for r in other_cells])
                rows.append({
                    "model": key.label(with_row_key=True), "other_split": other_split, "metric": metric,
                    "cells_paper": cells_text(r.cell for r in paper_cells),
                    "cells_other": cells_text(r.cell for r in other_cells),
                    "n_seeds_paper": paper.n, "n_seeds_other": lesion.n, "paper_split": paper.mean, "paper_split_sd": paper.std, "other": lesion.mean, "other_sd": lesion.std,
                    "difference": paper.mean - lesion.mean, "ci_low": low, "ci_high": high,
                })
    return pd.DataFrame(rows, columns=list(COLUMNS))


def leak_section(summary: Summary) -> tuple[str, Table | None]:
    """Markdown for report.md and the table (leak.csv), or ``("", None)`` when no model ran under both splits."""
    frame = leak_frame(summary)
    if frame.empty:
        return "", None
    table = Table(TABLE_NAME, "The leak, measured: the paper split against the lesion split", frame)
    records = []
    for r in frame.itertuples(index=False):
        records.append({
            "Model": r.model,
            "Measure": METRIC_LABELS[r.metric],
            "Paper split": run_text(r.paper_split, _sd(r.paper_split_sd), int(r.n_seeds_paper)),
            "Against": r.other_split,
            "Its score": run_text(r.other, _sd(r.other_sd), int(r.n_seeds_other)),
            "Paper − other": format(r.difference, "+.3f"),
            "95% interval (unpaired)": DASH if pd.isna(r.ci_low) else interval_text(r.ci_low, r.ci_high, "+.3f"),
        })
    for index in range(len(records) - 1, 0, -1):  # each model named on its first row only
        if (records[index]["Model"], records[index]["Against"]) == (records[index - 1]["Model"], records[index - 1]["Against"]):
            records[index]["Model"] = ""
    lines = [
        f"## {table.title}",
        "",
        "The same model trained under `--split paper` and under `--split lesion` (or `official`). The paper split "
        "reports on its validation part, which holds other images of the lesions it trains on and which model "
        "selection saw; the lesion split reports on a test part of unseen lesions that no selection saw. Their "
        "difference, paper-split score minus the other split's, is how much of the paper protocol's score is lesion "
        "leakage and selection on the reported part (plus the chance difference between two sets of images).",
        "",
        pd.DataFrame(records).to_markdown(index=False, disable_numparse=True),
        "",
    ]
    for model in dict.fromkeys(frame["model"]):
        part = frame[frame["model"] == model].iloc[0]
        lines.append(f"- {model}: paper split {part['cells_paper']}; {part['other_split']} split {part['cells_other']}.")
    lines += [
        "- The two cells report on different images, so the difference is unpaired: its 95% interval takes resample r "
        "of one side's own bootstrap minus resample r of the other's (each side's seeds averaged resample by "
        "resample). It covers the images only, not retraining.",
    ]
    if (frame["other_split"] == "official").any():
        lines.append("- Against the official split the test set itself changes too (the ISIC 2018 Task 3 test images).")
    return "\n".join(lines).rstrip() + "\n", table


def _sd(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
