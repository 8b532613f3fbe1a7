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
        for column in frame.columns:
            table.add_column(str(column), justify="right" if frame[column].dtype.kind in "iuf" else "left")
        for record in frame.itertuples(index=False):
            table.add_row(*("—" if _missing(v) else str(v) for v in record))
        console.print(table)
    else:
        raise SkinbenchError(f"--format must be 'table', 'markdown' or 'csv', not {fmt!r}")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)
