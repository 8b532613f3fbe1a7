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


#: Columns of the table that hold a duration or a number (right-aligned).
_NUMBERS = ("epoch", "best val acc", "s/epoch", "elapsed", "left (at most)")
_NOTE = "note"
#: What the narrow layout leaves out of its table and prints under it, per cell.
_UNDER = ("where", _NOTE)
#: Headers of the narrow table on two lines.
_NARROW_HEADERS = {"best val acc": "best\nval acc", "left (at most)": "left (at\nmost)"}


def _table(current, *, notes: bool = True):
    """The full table (``notes=False``: without the note column, whose free text may wrap)."""
    from rich.table import Table

    from skinbench.train.status import rows

    table = Table(title=str(current.out))
    shown = rows(current)
    headers = [h for h in (shown[0] if shown else ["cell", "state"]) if notes or h != _NOTE]
    for position, header in enumerate(headers):
        table.add_column(header, justify="right" if header in _NUMBERS else "left", no_wrap=position == 0)
    for row in shown:
        table.add_row(*(row[h] for h in headers))
    return table


def _too_wide(current) -> int | None:
    """The width the full table needs when the console is narrower, its notes aside (they wrap); else None."""
    from skinbench.commands.narrow import too_wide

    return too_wide(_table(current, notes=False))


def _render(current):
    """What --watch shows: the table and the totals, or the narrow layout where the table is too wide."""
    from rich.console import Group
    from rich.text import Text

    from skinbench.train.status import totals

    needed = _too_wide(current)
    return Group(_table(current), Text(totals(current))) if needed is None else _narrow(current, needed)


def _narrow(current, needed: int):
    """The narrow layout: the fallback line, the line naming the id parts every cell shares, the table
    without where and note (under it, one line per cell that has them), the totals; each line wraps."""
    from rich.console import Group
    from rich.text import Text

    from skinbench.commands.narrow import compact_table, fallback_line, short_ids
    from skinbench.train.status import rows, totals

    shown = rows(current)
    ids = short_ids(row["cell"] for row in shown)
    headers = [h for h in (shown[0] if shown else ["cell", "state"]) if h not in _UNDER]
    table = compact_table(
        [_NARROW_HEADERS.get(h, h) for h in headers], [h in _NUMBERS for h in headers],
        [[ids.short[row["cell"]], *(row[h] for h in headers[1:])] for row in shown], title=str(current.out),
    )
    under = [
        f"{ids.short[row['cell']]}: " + "; ".join(row[h] for h in _UNDER if row[h] not in ("", "—"))
        for row in shown if any(row[h] not in ("", "—") for h in _UNDER)
    ]
    lines = [fallback_line(needed), *([ids.line] if ids.line else [])]
    return Group(*map(Text, lines), table, *map(Text, under), Text(totals(current)))


def _print(current) -> None:
    from skinbench.console import print_table
    from skinbench.train.status import totals

    needed = _too_wide(current)
    if needed is not None:
        console.print(_narrow(current, needed), highlight=False)
        return
    table = _table(current)
    if not print_table(table):  # a terminal too narrow for a long note: the note wraps
        console.print(table)
    console.out(totals(current), highlight=False)
