"""The seed paper's published numbers, from the one data file ``paper_results.csv``.

Long format: ``table,row,column,value``. ``table`` is the paper's table number, ``row`` a
backbone display name (or an ablation label), ``column`` the metric; an empty ``value`` means
the paper printed none ("?"). Every number here is labelled as the paper's wherever it is shown.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd


@lru_cache(maxsize=1)
def load_paper() -> pd.DataFrame:
    """All published values, one row per number."""
    with resources.files("skinbench.report").joinpath("paper_results.csv").open() as handle:
        return pd.read_csv(handle, dtype={"table": str, "row": str, "column": str})


def paper_table(table: int | str) -> pd.DataFrame:
    """One table's values as a wide frame: index = row, columns = metric."""
    frame = load_paper()
    part = frame[frame["table"] == str(table)]
    return part.pivot(index="row", columns="column", values="value")
