"""The report's section for the ``official`` split: the ISIC 2018 Task 3 test set beside the challenge's results.

Cells run with ``--split official`` trained on HAM10000, selected their model on a
lesion-grouped validation part of it and were scored on the challenge's 1,511 test images,
which nothing else touched. Their balanced accuracy (mean per-class recall) is the
challenge's own metric, so it stands beside the published leaderboard. Only a figure with a
source is shown (``catalogue.ISIC2018_TOP_BALANCED_ACCURACY``, ``catalogue.ISIC2018_LEADERBOARD``).
"""

from __future__ import annotations

import pandas as pd

from skinbench.catalogue import ISIC2018_LEADERBOARD, ISIC2018_TEST_IMAGES, ISIC2018_TOP_BALANCED_ACCURACY, ISIC2018_UNSCORED
from skinbench.report.render import interval_text, run_text
from skinbench.report.summary import GroupKey, Summary
from skinbench.report.tables import _Rows, Table

SPLIT = "official"
TABLE_NAME = "official_isic2018_test"
#: (metric key, column heading), in the table's order; the first is the challenge's metric.
METRICS = (
    ("balanced_accuracy", "Balanced accuracy (ISIC metric)"),
    ("accuracy", "Accuracy"),
    ("macro_f1", "F1 (macro)"),
    ("macro_auc", "ROC AUC (macro)"),
)


def official_section(summary: Summary) -> tuple[str, Table | None]:
    """Markdown for report.md and the table (its CSV), or ``("", None)`` when no cell ran the official split."""
    keys = summary.where(split=SPLIT)
    if not keys:
        return "", None
    table = official_table(summary, keys)
    return _markdown(summary, keys, table), table


def official_table(summary: Summary, keys: list[GroupKey] | None = None) -> Table:
    """One row per (backbone, recipe or ablation row) of the official split; the metrics as columns."""
    keys = summary.where(split=SPLIT) if keys is None else keys
    rows = _Rows()
    for key in keys:
        for metric, _ in METRICS:
            rows.add(key.label(), metric, summary.stat(key, metric), None)
    notes = (
        f"The reported part is the ISIC 2018 Task 3 test set ({ISIC2018_TEST_IMAGES:,} images): never used for "
        "training, model selection or early stopping (the validation part is a lesion-grouped 15% of HAM10000). "
        f"{', '.join(ISIC2018_UNSCORED)}, which some releases of its ground truth list (1,512 rows), is left out, "
        "as the official scorer (isic-challenge-scoring) gives it weight 0.",
        f"Published: the top of the leaderboard was a balanced accuracy of {ISIC2018_TOP_BALANCED_ACCURACY:.3f}, "
        f"by a submission that used external data ({ISIC2018_LEADERBOARD}); these cells train on HAM10000 alone.",
    )
    return Table(
        name=TABLE_NAME,
        title="ISIC 2018 Task 3 test set (official split)",
        frame=rows.frame(),
        headers=dict(METRICS),
        notes=notes,
    )


def _markdown(summary: Summary, keys: list[GroupKey], table: Table) -> str:
    frame = table.frame
    records = []
    for key in keys:
        label = key.label()
        record = {"Model": label}
        for metric, heading in METRICS:
            entry = frame[(frame["row"] == label) & (frame["column"] == metric)].iloc[0]
            record[heading] = run_text(_value(entry["run"]), _value(entry["run_std"]), int(entry["n_seeds"]))
            if metric == "balanced_accuracy":
                record["95% CI"] = interval_text(_value(entry["ci_low"]), _value(entry["ci_high"]))
        images = {len(r.y_true) for r in summary.groups[key]}
        record["Test images"] = ", ".join(f"{n:,}" for n in sorted(images))
        records.append(record)
    published = pd.DataFrame([{
        "Result": "Top of the ISIC 2018 Task 3 leaderboard (with external data)",
        "Balanced accuracy": f"{ISIC2018_TOP_BALANCED_ACCURACY:.3f}",
        "Source": ISIC2018_LEADERBOARD,
    }])
    lines = [
        f"## {table.title}",
        "",
        "Trained on HAM10000 (the challenge's training set), the model selected on a lesion-grouped validation "
        f"part of it, scored on the challenge's test set of {ISIC2018_TEST_IMAGES:,} images, which nothing else "
        "touched. Balanced accuracy is the mean per-class recall, the challenge's ranking metric.",
        "",
        pd.DataFrame(records).to_markdown(index=False, disable_numparse=True),
        "",
        "Published results (the only figures shown are those with a source):",
        "",
        published.to_markdown(index=False, disable_numparse=True),
        "",
    ]
    counts = {n for r in records for n in r["Test images"].split(", ")}
    if counts != {f"{ISIC2018_TEST_IMAGES:,}"}:
        lines.append(
            f"- These cells were scored on {', '.join(sorted(counts))} test images, not the challenge's "
            f"{ISIC2018_TEST_IMAGES:,}: their numbers are not comparable with the leaderboard's."
        )
    lines += [f"- {note}" for note in table.notes[:1]]
    return "\n".join(lines).rstrip() + "\n"


def _value(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
