"""`skinbench models`: the backbone table, measured beside the paper's Table 3."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich import box
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from skinbench.commands.common import guarded
from skinbench.commands.options import Backbones, TableFormat
from skinbench.console import console, err_console, print_table

if TYPE_CHECKING:
    import pandas as pd

NOTE = (
    "Measured: Keras application at its native size, include_top=True, as the paper's Table 3 counts. "
    "Depth = layers holding weights; size = float32 weights in MiB; "
    "FLOPs = 2 x multiply-accumulates of conv/dense layers per image."
)


@guarded
def models(backbones: Backbones = None, format: TableFormat = "table") -> None:
    """List the backbones with parameters, depth, size and FLOPs beside the paper's Table 3.

    Examples:
      skinbench models
      skinbench models --backbones resnet50,densenet201 --format markdown
    """
    from skinbench.models.accounting import backbone_table
    from skinbench.models.backbones import parse_backbones

    specs = parse_backbones(backbones)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("building backbones", total=len(specs))

        def advance(spec) -> None:
            progress.update(task, description=f"building {spec.display} ({specs.index(spec) + 1}/{len(specs)})")

        table = backbone_table(specs, progress=advance)
    if format == "csv":
        table.to_csv(sys.stdout, index=False)
        return
    # A terminal too narrow for the table gets the Markdown, whose lines wrap rather than cut.
    if format == "markdown" or not print_table(_rich_table(table)):
        console.print(_readable(table).to_markdown(index=False), highlight=False, soft_wrap=True)
        console.print(f"\n{NOTE}", highlight=False, soft_wrap=True)


def _rich_table(table: pd.DataFrame) -> Table:
    """The table: each measured value with the paper's in brackets."""
    shown = Table(title="Backbones, measured (paper Table 3)", caption=NOTE, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    shown.add_column("backbone", no_wrap=True, min_width=len("InceptionResNetV2"))
    shown.add_column("cut", no_wrap=True)
    for column in ("input", "params M", "depth", "size MiB", "GFLOPs"):
        shown.add_column(column, justify="right", no_wrap=True)
    for row in table.itertuples(index=False):
        shown.add_row(
            row.display,
            row.cut_shape,
            str(row.input),
            f"{row.params / 1e6:.1f} ({_paper(row.paper_params_m, 1)})",
            f"{row.depth} ({_paper(row.paper_depth, 0)})",
            f"{row.size_mb:.0f} ({_paper(row.paper_size_mb, 0)})",
            f"{row.flops / 1e9:.2f}",
        )
    return shown


def _paper(value: float, digits: int) -> str:
    """A paper value, or '-' where the paper printed none."""
    import pandas as pd

    return "-" if pd.isna(value) else f"{value:.{digits}f}"


def _readable(table: pd.DataFrame) -> pd.DataFrame:
    """Rounded, labelled columns for people; '-' where the paper printed no value."""
    import pandas as pd

    return pd.DataFrame({
        "backbone": table["display"],
        "input": table["input"],
        "soft attention on": table["cut"] + " (" + table["cut_shape"] + ")",
        "params (M)": (table["params"] / 1e6).map("{:.1f}".format),
        "paper params (M)": table["paper_params_m"].map(lambda v: _paper(v, 1)),
        "depth": table["depth"],
        "paper depth": table["paper_depth"].map(lambda v: _paper(v, 0)),
        "size (MiB)": table["size_mb"].map("{:.0f}".format),
        "paper size (MB)": table["paper_size_mb"].map(lambda v: _paper(v, 0)),
        "GFLOPs": (table["flops"] / 1e9).map("{:.2f}".format),
    })
