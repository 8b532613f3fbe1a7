"""Tables as Markdown (for report.md) and CSV (one file per table)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd

from skinbench.io import write_csv
from skinbench.report.tables import Table

DASH = "—"
CELL_LEGEND = "Each cell: this run / paper / difference (run − paper)."
SYNTHETIC_LEGEND = "Each cell: this run / paper (no difference: this run's images are synthetic)."


def write_table_csv(table: Table, out: Path) -> Path:
    """``<out>/<table.name>.csv``: the long frame, empty where a value is missing."""
    return write_csv(out / f"{table.name}.csv", table.frame, float_format="%.6g")


def table_markdown(table: Table, *, compare: bool = True, all_rows: bool = True) -> str:
    """The table under its title, then its notes.

    A table with one value column gets separate columns for this run, its 95% interval, the
    paper and the difference; a wider one puts "run / paper / difference" in each cell. Without
    ``compare`` (synthetic images) no difference is shown; without ``all_rows`` the rows this run
    has no value for are named in one line instead.
    """
    ran = table.frame.groupby("row", sort=False)["run"].apply(lambda values: values.notna().any())
    skipped = [row for row, has in ran.items() if not has] if not all_rows else []
    if skipped:
        table = replace(table, frame=table.frame[~table.frame["row"].isin(skipped)])
    columns = list(dict.fromkeys(table.frame["column"]))
    lines = [f"## {table.title}", ""]
    if not table.frame.empty:
        body = _expanded(table, compare) if len(columns) == 1 else _grid(table, columns, compare)
        lines += [body.to_markdown(index=False, disable_numparse=True), ""]
    if skipped:
        lines += [f"Not run here ({len(skipped)} of the paper's rows; `skinbench report --all-rows` shows them): "
                  f"{', '.join(skipped)}.", ""]
    if len(columns) > 1 and table.frame["paper"].notna().any():
        lines[2:2] = [CELL_LEGEND if compare else SYNTHETIC_LEGEND, ""]
    lines += [f"- {note}" for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def _expanded(table: Table, compare: bool = True) -> pd.DataFrame:
    frame = table.frame
    records = []
    for entry in frame.itertuples(index=False):
        fmt = table.format_of(entry.row, entry.column)
        record = {table.row_header: entry.row, "This run": run_text(entry.run, entry.run_std, entry.n_seeds, fmt)}
        if frame["ci_low"].notna().any():
            record["95% CI"] = interval_text(entry.ci_low, entry.ci_high, fmt)
        if frame["paper"].notna().any():
            record["Paper"] = _paper_text(entry.paper, fmt)
            if compare:
                record["Difference"] = _number(entry.difference, "+" + fmt)
        records.append(record)
    return pd.DataFrame(records)


def _grid(table: Table, columns: list[str], compare: bool = True) -> pd.DataFrame:
    frame = table.frame
    with_paper = set(frame.loc[frame["paper"].notna(), "column"])
    records: dict[str, dict[str, str]] = {}
    for entry in frame.itertuples(index=False):
        fmt = table.format_of(entry.row, entry.column)
        text = run_text(entry.run, entry.run_std, entry.n_seeds, fmt)
        if entry.column in with_paper:
            text = f"{text} / {_paper_text(entry.paper, fmt)}" + (f" / {_number(entry.difference, '+' + fmt)}" if compare else "")
        records.setdefault(entry.row, {table.row_header: entry.row})[table.headers.get(entry.column, entry.column)] = text
    headings = [table.row_header, *(table.headers.get(c, c) for c in columns)]
    return pd.DataFrame(list(records.values())).reindex(columns=headings).fillna(DASH)


def run_text(mean: float | None, std: float | None, n: int, fmt: str = ".3f") -> str:
    """This run's value: "0.853", or "0.853 ± 0.012 (n=3)" over several seeds (no ± when they agree);
    a dash when missing. A signed ``fmt`` ("+.3f", for differences) signs the mean only: a standard
    deviation has no sign."""
    if _missing(mean):
        return DASH
    text = format(mean, fmt)
    if n > 1:
        text += ("" if _missing(std) or std == 0 else f" ± {format(std, fmt.lstrip('+'))}") + f" (n={n})"
    return text


def interval_text(low: float | None, high: float | None, fmt: str = ".3f") -> str:
    return DASH if _missing(low) or _missing(high) else f"[{format(low, fmt)}, {format(high, fmt)}]"


def _paper_text(value: float | None, fmt: str) -> str:
    """A printed number as the paper printed it (0.7, 25.6, 10015); derived numbers in ``fmt``."""
    if _missing(value):
        return DASH
    return f"{value:g}" if round(value, 2) == value else format(value, fmt)


def _number(value: float | None, fmt: str) -> str:
    return DASH if _missing(value) else format(value, fmt)


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
