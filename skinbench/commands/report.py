"""`skinbench report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from skinbench.commands.common import guarded
from skinbench.commands.options import choice_option
from skinbench.console import console
from skinbench.studies.do2022.versions import DEFAULT_VERSION, VERSIONS


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
    paper: Annotated[
        str, choice_option("--paper", VERSIONS.names(), "Which version of the paper's published numbers stands beside "
                           "this run's: the preprint or the Sensors 2022 article.")
    ] = DEFAULT_VERSION,
    all_rows: Annotated[
        bool, typer.Option("--all-rows", help="Show every row of the paper's tables, not only those this run has.")
    ] = False,
) -> None:
    """Write report.md and report.html (this run's cells ranked, then the paper's Tables 2-11 beside this run's
    values), the CSVs and the plots.

    Examples:
      skinbench report results/smoke
      skinbench report results/full-1 results/full-2 --out results/full --no-plots
      skinbench report results/paper --paper sensors2022 --all-rows
    """
    from skinbench.report.build import build_report

    path, summary = build_report(run_dirs, out, bootstrap=bootstrap, plots=plots, paper=paper, all_rows=all_rows)
    finished = len(summary.cells)
    console.print(f"{path} ({finished} finished cell(s), {len(summary.unfinished)} not finished)", highlight=False)
