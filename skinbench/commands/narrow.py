"""The narrow layout of ``skinbench status`` and ``skinbench compare``, for a terminal narrower than their
tables (the console's width: the terminal's, or ``COLUMNS``).

A command falls back to it when its full table is wider than the console, and says so in one line
(``fallback_line``). The narrow tables have fewer columns (what they leave out is printed under them,
wrapped) and shorter cell ids: a part of the id (``config.CELL_ID_PARTS``: backbone, recipe or
ablation row, split, seed) that every id shown shares is left out of each, and the line above the
table names those parts (``ShortIds.line``), so each short id still names one cell: its parts left,
joined by ``-`` in their order. Ids that are not all cell ids are shown whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from rich.table import Table

from skinbench.config import CELL_ID_PARTS, cell_id_parts
from skinbench.console import console, natural_width

#: The part an id keeps when every part is shared (a single cell): its recipe or ablation row.
_KEPT_WHEN_ALL_SHARED = CELL_ID_PARTS.index("recipe")


def too_wide(table: Table) -> int | None:
    """The width ``table`` needs when that is more than the console has; None when it fits."""
    needed = natural_width(table)
    return needed if needed > console.width else None


def fallback_line(needed: int) -> str:
    """The one line a command prints when it falls back to the narrow layout."""
    return f"narrow layout: the full table needs {needed} columns, this terminal has {console.width}"


@dataclass(frozen=True)
class ShortIds:
    """Cell ids without the parts they all share."""

    short: dict[str, str]  #: id -> short id
    shared: tuple[tuple[str, str], ...]  #: (part, value) left out of every id

    @property
    def line(self) -> str | None:
        """The line that names the parts left out (None: ids shown whole)."""
        if not self.shared:
            return None
        return "ids below leave out what every cell shares: " + ", ".join(f"{p} {v}" for p, v in self.shared)


def short_ids(ids: Iterable[str]) -> ShortIds:
    """``ids`` without the parts of ``config.CELL_ID_PARTS`` that all of them share (whole if any is no cell id)."""
    ids = list(dict.fromkeys(ids))
    parts = {cell: cell_id_parts(cell) for cell in ids}
    if not ids or any(p is None for p in parts.values()):
        return ShortIds({cell: cell for cell in ids}, ())
    first = parts[ids[0]]
    shared = [k for k in range(len(CELL_ID_PARTS)) if all(p[k] == first[k] for p in parts.values())]
    if len(shared) == len(CELL_ID_PARTS):
        shared.remove(_KEPT_WHEN_ALL_SHARED)
    short = {cell: "-".join(v for k, v in enumerate(p) if k not in shared) for cell, p in parts.items()}
    return ShortIds(short, tuple((CELL_ID_PARTS[k], first[k]) for k in shared))


def compact_table(headers: Sequence[str], right: Sequence[bool], rows: Sequence[Sequence[str]], title: str | None = None) -> Table:
    """A table with no rules and two spaces between columns. The first column holds ids: where the console
    leaves it too little room, they break after a ``-``. Any other cell wraps (at its spaces, else anywhere)
    only where the console is narrower still, so no line is wider than the console and no value is cut."""
    rows = [list(row) for row in rows]
    room = console.width - natural_width(_table(headers[1:], right[1:], [row[1:] for row in rows], None)) - 2
    for row in rows:
        row[0] = _break_after_hyphens(row[0], max(room, len(headers[0])))
    return _table(headers, right, rows, title)


def _table(headers: Sequence[str], right: Sequence[bool], rows: Sequence[Sequence[str]], title: str | None) -> Table:
    table = Table(title=title, box=None, pad_edge=False, header_style="bold underline")
    for header, at_right in zip(headers, right):
        table.add_column(header, justify="right" if at_right else "left", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _break_after_hyphens(text: str, width: int) -> str:
    """``text`` on lines of at most ``width`` characters, broken after a ``-`` (a part longer than ``width``
    keeps its own line, where the table folds it)."""
    lines = [""]
    for part in re.findall(r"[^-]*-|[^-]+$", text):
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += part
    return "\n".join(lines)


def print_lines(lines: Iterable[str | None]) -> None:
    """Print each line wrapped at the console's width (None: skipped)."""
    for line in lines:
        if line is not None:
            console.print(line, highlight=False, markup=False)
