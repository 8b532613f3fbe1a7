"""The one rich console every module prints through (stderr for logs, stdout for tables).

Tables never cut or fold a number or a header. Written to a file or a pipe (a log, CI),
a table is as wide as its widest row needs, one line per row. On a terminal too narrow for
that, headers wrap at their spaces; where even that does not fit, the table is printed as
Markdown, one line per row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from rich.cells import cell_len
from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table

console = Console()
err_console = Console(stderr=True)

#: Room to measure a table's natural width in (wider than any table is).
_UNLIMITED = 100_000


def print_frame(frame, fmt: str = "table", title: str | None = None) -> None:
    """Print a pandas DataFrame as a rich table, Markdown (tabulate) or CSV on stdout."""
    from skinbench.catalogue import TABLE_FORMATS, check_choice

    check_choice("--format", fmt, TABLE_FORMATS)
    if fmt == "csv":
        console.out(frame.to_csv(index=False), end="", highlight=False)
    elif fmt == "markdown":
        console.out(_markdown(frame), highlight=False)
    else:
        _print_frame_table(frame, title)


def frame_width(frame, title: str | None = None) -> int:
    """How wide ``print_frame``'s table of ``frame`` is with nothing wrapped."""
    return natural_width(_frame_table(*_cells(frame), title))


def _cells(frame) -> tuple[list[str], list[bool], list[list[str]]]:
    """A frame's headers, which columns are numeric, and its values as shown."""
    headers = [str(column) for column in frame.columns]
    numeric = [dtype.kind in "iuf" for dtype in frame.dtypes]
    rows = [["—" if _missing(v) else str(v) for v in record] for record in frame.itertuples(index=False)]
    return headers, numeric, rows


def _print_frame_table(frame, title: str | None) -> None:
    headers, numeric, rows = _cells(frame)
    if print_table(_frame_table(headers, numeric, rows, title)):
        return
    # Too wide for this terminal: wrap the headers (and text cells) at their spaces, values whole.
    if print_table(_frame_table(headers, numeric, rows, title, _narrow_widths(headers, rows))):
        return
    # Still too wide: Markdown of the same cells, one line per row (the terminal wraps, nothing is cut).
    import pandas as pd

    if title:
        console.out(title, highlight=False)
    align = ["right" if n else "left" for n in numeric]
    console.out(
        pd.DataFrame(rows, columns=headers).to_markdown(index=False, disable_numparse=True, colalign=align),
        highlight=False,
    )


def print_table(table: "Table") -> bool:
    """Print a rich table on stdout with no cell cut or folded; False (nothing printed) if it cannot be.

    Off a terminal the table is rendered at its natural width, however wide. On a terminal
    it is printed if it fits, else nothing is printed and the caller falls back.
    """
    natural = natural_width(table)
    if natural <= console.width:
        console.print(table)
    elif console.is_terminal:
        return False
    else:
        _print_at_width(table, natural)
    return True


def _print_at_width(table: "Table", width: int) -> None:
    """Render at ``width`` columns, whatever the console's own width, and write it uncropped."""
    from rich.segment import Segments

    segments = list(console.render(table, console.options.update_width(width)))
    console.print(Segments(segments), crop=False, soft_wrap=True)


def _frame_table(
    headers: Sequence[str],
    numeric: Sequence[bool],
    rows: Sequence[Sequence[str]],
    title: str | None,
    widths: Sequence[int] | None = None,
) -> "Table":
    from rich.table import Table

    table = Table(title=title)
    for position, header in enumerate(headers):
        table.add_column(
            header,
            justify="right" if numeric[position] else "left",
            # The first column names the row: never wrap it.
            no_wrap=position == 0,
            width=widths[position] if widths else None,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*row)
    return table


def _narrow_widths(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Column widths with no value cut that fit the terminal if any do.

    Each column gets at least its longest value (the first column's row names whole, other
    text down to its longest word) and its header's longest word; then, while the terminal
    has room, the columns that need the least of it to show unwrapped get it.
    """
    columns = [[row[position] for row in rows] for position in range(len(headers))]
    least = []
    for position, (header, cells) in enumerate(zip(headers, columns)):
        words = header.split() or [header]
        for cell in cells:
            words.extend([cell] if position == 0 else cell.split() or [cell])
        least.append(max(cell_len(word) for word in words))
    natural = [max([cell_len(header), *map(cell_len, cells)]) for header, cells in zip(headers, columns)]
    widths = list(least)
    spare = console.width - natural_width(_frame_table(headers, [False] * len(headers), [], None, widths))
    for position in sorted(range(len(headers)), key=lambda p: natural[p] - least[p]):
        need = natural[position] - least[position]
        if 0 < need <= spare:
            widths[position] += need
            spare -= need
    return widths


def natural_width(table: "Table") -> int:
    """How wide ``table`` is with nothing wrapped."""
    return console.measure(table, options=console.options.update_width(_UNLIMITED)).maximum


def _markdown(frame) -> str:
    return frame.astype(object).where(frame.notna(), "—").to_markdown(index=False)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)
