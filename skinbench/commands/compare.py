"""`skinbench compare`: two groups of cells, pair by pair on the same images, and over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from skinbench.commands.common import guarded
from skinbench.commands.options import TableFormat
from skinbench.console import console, err_console, print_frame

#: Columns of the printed table (the CSV has every column of report.pairs.COMPARE_COLUMNS).
SHOWN = {
    "a": "a", "b": "b", "seeds": "seeds", "metric": "metric", "value_a": "a value", "value_b": "b value",
    "difference": "a - b", "ci": "95% CI (images)", "t": "95% t (seeds)", "mcnemar_p": "McNemar p",
}


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
    if format == "csv":
        print_frame(comparison.frame, "csv")
    else:
        print_frame(_shown(comparison.frame), format, title=f"a = {a}, b = {b}")
        for note in comparison.notes:
            console.print(f"- {note}", highlight=False, soft_wrap=True)
    for cell in comparison.unpaired:
        err_console.print(f"no partner: {cell}", highlight=False)
    if comparison.unfinished:
        err_console.print(f"left out (not finished): {', '.join(comparison.unfinished)}", highlight=False, soft_wrap=True)
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
