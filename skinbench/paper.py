"""The seed paper's published numbers, from the one data file ``paper_results.csv``.

Long format: ``table,row,column,value``. ``table`` is the paper's table number; an empty
``value`` means the paper printed none ("Unknown"). Rows and columns per table:

- 2: class code or ``total`` x ``n_images``.
- 3: backbone display name (``catalogue.BACKBONES``) x ``size_mb``, ``params_m``, ``depth``.
- 4, 5: backbone x ``accuracy`` (augmented data; metadata).
- 6, 7: ``<backbone> + <recipe label>`` x class codes and ``mean`` (F1; recall).
- 8: mobile backbone x ``accuracy``, ``balanced_accuracy`` (the paper's definition),
  ``precision``, ``f1``, ``sensitivity``, ``specificity``, ``auc`` (unweighted means).
- 9: the ablation row's ``paper_name`` (``catalogue.ABLATION_ROWS``) x ``accuracy``.
- 10: ``MobileNetV3Large`` (the [:240] model) x ``accuracy``, ``precision``, ``f1``,
  ``sensitivity``, ``specificity``, ``auc`` (support-weighted means).
- 11: backbone x ``params_m``, ``depth``, ``accuracy``, ``epoch_s`` (seconds per the paper's
  "epoch" of ``catalogue.PAPER_EPOCH_IMAGES`` images on a ``catalogue.PAPER_DEVICE``).

Every number here is labelled as the paper's wherever it is shown. Leaf module: the data,
models and report layers all read it.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd


@lru_cache(maxsize=1)
def load_paper() -> pd.DataFrame:
    """All published values, one row per number."""
    with resources.files("skinbench").joinpath("paper_results.csv").open() as handle:
        return pd.read_csv(handle, dtype={"table": str, "row": str, "column": str})


def paper_table(table: int | str) -> pd.DataFrame:
    """One table's values as a wide frame: index = row, columns = metric."""
    frame = load_paper()
    part = frame[frame["table"] == str(table)]
    return part.pivot(index="row", columns="column", values="value")


def paper_value(table: int | str, row: str, column: str) -> float | None:
    """One published number, or None where the paper has none."""
    return _values().get((str(table), row, column))


@lru_cache(maxsize=1)
def _values() -> dict[tuple[str, str, str], float]:
    frame = load_paper().dropna(subset=["value"])
    return {(t, r, c): float(v) for t, r, c, v in frame[["table", "row", "column", "value"]].itertuples(index=False)}


def paper_rows(table: int | str) -> list[str]:
    """The rows of one table, in the paper's order."""
    frame = load_paper()
    return list(dict.fromkeys(frame.loc[frame["table"] == str(table), "row"]))
