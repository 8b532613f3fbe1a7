"""`skinbench report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from skinbench.commands.common import guarded
from skinbench.console import console


@guarded
def report(
    run_dirs: Annotated[List[Path], typer.Argument(help="Run folder(s) that 'skinbench run' wrote; several are merged (shards).")],
    out: Annotated[
        Optional[Path], typer.Option("--out", metavar="FOLDER", show_default="the first run folder", help="Where report.md, the CSVs and plots/ go.")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", metavar="N", min=0, help="Bootstrap resamples for the 95% intervals; 0 skips them.")
    ] = 1000,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw the PNG figures.")] = True,
) -> None:
    """Write the paper's Tables 2-11 beside this run's values (Markdown + CSV) and the plots.

    Examples:
      skinbench report results/smoke
      skinbench report results/full-1 results/full-2 --out results/full --no-plots
    """
    from skinbench.report.build import build_report

    path, summary = build_report(run_dirs, out, bootstrap=bootstrap, plots=plots)
    finished = len(summary.cells)
    console.print(f"{path} ({finished} finished cell(s), {len(summary.unfinished)} not finished)", highlight=False)
