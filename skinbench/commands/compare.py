"""`skinbench compare`: two groups of cells, pair by pair on the same images, and over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from skinbench.commands.common import guarded
from skinbench.commands.options import TableFormat
from skinbench.console import console, err_console, frame_width, print_frame

#: Columns of the printed table (the CSV has every column of report.pairs.COMPARE_COLUMNS).
SHOWN = {
    "a": "a", "b": "b", "seeds": "seeds", "metric": "metric", "value_a": "a value", "value_b": "b value",
    "difference": "a - b", "ci": "95% CI (images)", "t": "95% t (seeds)", "mcnemar_p": "McNemar p",
}
#: The narrow layout's headers of the same columns (the pair's cells are named above its table).
NARROW = {"value_a": "a", "value_b": "b", "ci": "95% CI\n(images)", "t": "95% t\n(seeds)", "mcnemar_p": "McNemar\np"}
#: Metric names the narrow layout abbreviates (listed once above its table).
ABBREVIATED = {"balanced_accuracy": "bal_acc"}


@guarded
def compare(
    run_dirs: Annotated[List[Path], typer.Argument(help="Run folder(s) that 'skinbench run' wrote; several are merged (shards).")],
    a: Annotated[str, typer.Option("--a", metavar="PATTERN", help="fnmatch pattern of the cell ids of group a, e.g. '*-metadata-*'.")],
    b: Annotated[str, typer.Option("--b", metavar="PATTERN", help="fnmatch pattern of the cell ids of group b, e.g. '*-augmented-*'.")],
    out: Annotated[Optional[Path], typer.Option("--out", metavar="FILE", help="Also write every column as CSV to this file.")] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", metavar="N", min=0, help="Paired bootstrap resamples for the 95% intervals; 0 skips them.")
    ] = 1000,
    format: TableFormat = "table",
) -> None:
    """Compare two groups of cells image by image: the difference a - b in balanced accuracy, accuracy and
    macro F1 with a 95% paired-bootstrap interval, and McNemar's exact test on correctness; over seeds, the
    mean difference, its sd and (from 3 seeds) a t interval.

    Patterns are fnmatch patterns on cell ids (quote them): --a '*-metadata-*' --b '*-augmented-*'.
    A pair has the same split and seed (the same images, matched by image id) and the same value of
    each field (backbone; recipe or ablation row) of which the two groups share a value; a field the
    groups share no value of is the one compared. So '*-metadata-*' against '*-augmented-*' pairs each
    backbone's two recipes, and 'mobilenetv3large-*' against 'inceptionresnetv2-*' each recipe's two
    backbones.

    Examples:
      skinbench compare results/demo --a '*-metadata-*' --b '*-augmented-*'
      skinbench compare results/full --a 'resnet50-*' --b 'vgg16-*' --format csv
    """
    from skinbench.io import write_csv
    from skinbench.report.pairs import compare as compare_cells
    from skinbench.report.runs import load_results

    comparison = compare_cells(load_results(run_dirs), a, b, bootstrap=bootstrap)
    if out is not None:
        write_csv(out, comparison.frame, float_format="%.6g")
    narrow = False
    if format == "csv":
        print_frame(comparison.frame, "csv")
    else:
        shown, title = _shown(comparison.frame), f"a = {a}, b = {b}"
        needed = frame_width(shown, title)
        narrow = format == "table" and needed > console.width
        if narrow:
            _print_narrow(shown, title, needed)
        else:
            print_frame(shown, format, title=title)
        for note in comparison.notes:
            console.print(f"- {note}", highlight=False, soft_wrap=not narrow)
    for cell in comparison.unpaired:
        err_console.print(f"no partner: {cell}", highlight=False)
    if comparison.unfinished:
        err_console.print(f"left out (not finished): {', '.join(comparison.unfinished)}", highlight=False,
                          soft_wrap=not narrow)
    if out is not None:
        err_console.print(f"wrote {out}", highlight=False)



def _shown(frame):
    """The printed columns: values to 3 decimals, intervals in brackets, a dash where there is none."""
    import pandas as pd

    def number(value, fmt: str = ".3f") -> str:
        return "—" if value is None or pd.isna(value) else format(value, fmt)

    def interval(low, high) -> str:
        return "—" if low is None or pd.isna(low) else f"[{number(low, '+.3f')}, {number(high, '+.3f')}]"

    shown = pd.DataFrame({
        "a": frame["a"], "b": frame["b"], "seeds": frame["seeds"], "metric": frame["metric"],
        "value_a": frame["value_a"].map(number), "value_b": frame["value_b"].map(number),
        "difference": frame["difference"].map(lambda v: number(v, "+.3f")),
        "ci": [interval(lo, hi) for lo, hi in zip(frame["ci_low"], frame["ci_high"])],
        "t": [interval(lo, hi) for lo, hi in zip(frame["t_low"], frame["t_high"])],
        "mcnemar_p": frame["mcnemar_p"].map(lambda v: number(v, ".3g")),
    })
    return shown.rename(columns=SHOWN)


def _print_narrow(shown, title: str, needed: int) -> None:
    """The narrow layout: the fallback line, the id parts every cell shares, the abbreviations, each pair
    numbered with its two cells, then one row per pair and metric under the pair's number (#)."""
    from skinbench.commands.narrow import compact_table, fallback_line, print_lines, short_ids

    key = {column: name for name, column in SHOWN.items()}  # printed column -> its key
    ids = short_ids([*shown[SHOWN["a"]], *shown[SHOWN["b"]]])
    pairs = list(dict.fromkeys(zip(shown[SHOWN["a"]], shown[SHOWN["b"]])))
    used = [f"{short} = {metric}" for metric, short in ABBREVIATED.items() if metric in set(shown[SHOWN["metric"]])]
    print_lines([
        fallback_line(needed), ids.line, "abbreviated: " + ", ".join(used) if used else None,
        *(f"pair {n}: a = {ids.short[x]}, b = {ids.short[y]}" for n, (x, y) in enumerate(pairs, start=1)),
    ])
    columns = [c for c in shown.columns if key[c] not in ("a", "b", "seeds")]
    rows = [
        [str(pairs.index((row[SHOWN["a"]], row[SHOWN["b"]])) + 1),
         *(ABBREVIATED.get(row[c], row[c]) if key[c] == "metric" else row[c] for c in columns)]
        for _, row in shown.iterrows()
    ]
    headers = ["#", *(NARROW.get(key[c], c) for c in columns)]
    console.print(compact_table(headers, [h != "metric" for h in headers], rows, title=title), highlight=False)
