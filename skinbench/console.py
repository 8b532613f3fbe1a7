"""The one rich console every module prints through (stderr for logs, stdout for tables)."""

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_frame(frame, fmt: str = "table", title: str | None = None) -> None:
    """Print a pandas DataFrame as a rich table, Markdown (tabulate) or CSV on stdout."""
    from skinbench.errors import SkinbenchError

    if fmt == "csv":
        console.out(frame.to_csv(index=False), end="", highlight=False)
    elif fmt == "markdown":
        console.out(frame.astype(object).where(frame.notna(), "—").to_markdown(index=False), highlight=False)
    elif fmt == "table":
        from rich.table import Table

        table = Table(title=title)
        for position, column in enumerate(frame.columns):
            numeric = frame[column].dtype.kind in "iuf"
            # The first column names the row: never cut it. Narrow terminals fold the others, never cut a number.
            table.add_column(str(column), justify="right" if numeric else "left", no_wrap=position == 0, overflow="fold")
        for record in frame.itertuples(index=False):
            table.add_row(*("—" if _missing(v) else str(v) for v in record))
        console.print(table)
    else:
        raise SkinbenchError(f"--format must be 'table', 'markdown' or 'csv', not {fmt!r}")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)
