"""`skinbench status RUN_DIR [--watch]`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from skinbench.commands.common import guarded
from skinbench.console import console


@guarded
def status(
    run_dir: Annotated[Path, typer.Argument(help="A run folder that 'skinbench run' writes (its jobs may run elsewhere).")],
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until every cell has finished or failed (Ctrl-C stops).")] = False,
    interval: Annotated[float, typer.Option("--interval", metavar="SECONDS", min=0.5, help="Seconds between refreshes with --watch.")] = 5.0,
) -> None:
    """Each cell's state (pending, running, finished, damaged, failed), epoch, best validation accuracy, pace, time left and where it runs.

    Examples:
      skinbench status results/smoke
      skinbench status results/full --watch --interval 30
    """
    from skinbench.train.status import run_status

    if not watch:
        _print(run_status(run_dir))
        return
    from rich.live import Live

    with Live(_render(run_status(run_dir)), console=console, auto_refresh=False) as live:
        while True:
            current = run_status(run_dir)
            live.update(_render(current), refresh=True)
            if current.done:
                return
            time.sleep(interval)


def _table(current):
    from rich.table import Table

    from skinbench.train.status import rows

    table = Table(title=str(current.out))
    shown = rows(current)
    headers = list(shown[0]) if shown else ["cell", "state"]
    for position, header in enumerate(headers):
        table.add_column(header, justify="right" if header in ("epoch", "best val acc", "s/epoch", "elapsed", "left (at most)") else "left",
                         no_wrap=position == 0)
    for row in shown:
        table.add_row(*(row[h] for h in headers))
    return table


def _render(current):
    from rich.console import Group
    from rich.text import Text

    from skinbench.train.status import totals

    return Group(_table(current), Text(totals(current)))


def _print(current) -> None:
    from skinbench.console import print_table
    from skinbench.train.status import totals

    print_table(_table(current))
    console.out(totals(current), highlight=False)
