"""The seed paper's published numbers: one data file per version, ``VERSIONS`` names them.

Long format: ``table,row,column,value,source,note``. ``table`` is skinbench's table number, which
is the preprint's (the report's Tables 2-11); ``source`` names the table of the version's own
numbering the value comes from (``preprint Table 4``, ``article Table 5``); ``note`` records
disagreements, with the other version or within this one, as sentences the report shows under
the table (several notes on one value are separated by ``NOTE_SEPARATOR``). An empty ``value`` means the version printed none ("Unknown"); a table or row the
version does not have has no lines. Rows and columns per table:

- 2: class code or ``total`` x ``n_images``.
- 3: backbone display name (``catalogue.BACKBONES``) x ``size_mb``, ``params_m`` (preprint),
  ``trainable_params`` (article: exact counts), ``depth``.
- 4, 5: backbone x ``accuracy`` (augmented data; metadata).
- 6, 7: ``<backbone> + <recipe label>`` x class codes and ``mean`` (F1; recall).
- 8: mobile backbone x ``accuracy``, ``balanced_accuracy`` (the paper's definition),
  ``precision``, ``f1``, ``sensitivity``, ``specificity``, ``auc`` (unweighted means).
- 9: the ablation row's ``paper_name`` (``catalogue.ABLATION_ROWS``) x ``accuracy`` (preprint only).
- 10: ``MobileNetV3Large`` (the [:240] model) x ``accuracy``, ``precision``, ``f1``,
  ``sensitivity``, ``specificity``, ``auc`` (support-weighted means; preprint only).
- 11: backbone x ``params_m`` (preprint: the bare backbone's), ``trainable_params`` (article: the
  model as trained), ``depth``, ``accuracy``, ``epoch_s`` (seconds per the paper's "epoch" of
  ``catalogue.PAPER_EPOCH_IMAGES`` images on a ``catalogue.PAPER_DEVICE``), ``infer_s`` (article).

Every number here is labelled as the paper's wherever it is shown. The versions themselves
(names, citations) are in ``versions``, which imports no pandas, so the command line can list them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources

import pandas as pd

from skinbench.studies.do2022.versions import DEFAULT_VERSION, VERSIONS, Version

COLUMNS = ("table", "row", "column", "value", "source", "note")
NOTE_SEPARATOR = " | "


@dataclass(frozen=True)
class Published:
    """One version's numbers, looked up by (table, row, column) in skinbench's table numbering."""

    version: Version
    frame: pd.DataFrame  # COLUMNS, one line per printed number

    def value(self, table: int | str, row: str, column: str) -> float | None:
        """One number, or None where this version prints none."""
        return self._values.get((str(table), row, column))

    def table(self, table: int | str) -> pd.DataFrame:
        """One table's values as a wide frame: index = row, columns = column."""
        return self._part(table).pivot(index="row", columns="column", values="value")

    def rows(self, table: int | str) -> list[str]:
        """The rows of one table, in this version's order."""
        return list(dict.fromkeys(self._part(table)["row"]))

    def notes(self, table: int | str) -> list[str]:
        """The distinct notes on one table's values, in file order."""
        notes = (note for cell in self._part(table)["note"] if cell for note in cell.split(NOTE_SEPARATOR))
        return list(dict.fromkeys(notes))

    def cite(self, *tables: int | str) -> str:
        """"Table 6" or "Tables 4, 5", with this version's own tables in brackets where it numbers them
        otherwise ("Table 6 (article Table A3)")."""
        own = f"Table {tables[0]}" if len(tables) == 1 else f"Tables {', '.join(str(t) for t in tables)}"
        sources = list(dict.fromkeys(s for t in tables for s in self._part(t)["source"]))
        if all(s == f"{self.version.source_prefix} Table {t}" for t in tables for s in self._part(t)["source"]):
            return own
        return f"{own} ({', '.join(sources)})"

    def has(self, table: int | str) -> bool:
        return not self._part(table).empty

    def _part(self, table: int | str) -> pd.DataFrame:
        return self.frame[self.frame["table"] == str(table)]

    @cached_property
    def _values(self) -> dict[tuple[str, str, str], float]:
        frame = self.frame.dropna(subset=["value"])
        return {(t, r, c): float(v) for t, r, c, v in frame[["table", "row", "column", "value"]].itertuples(index=False)}


@lru_cache(maxsize=None)
def published(version: str = DEFAULT_VERSION) -> Published:
    """The numbers of one version (``VERSIONS``); an unknown name is a RunError listing the choices."""
    entry = VERSIONS.get(version)
    with resources.files(__package__).joinpath(entry.file).open() as handle:
        frame = pd.read_csv(handle, dtype={"table": str, "row": str, "column": str, "source": str, "note": str},
                            keep_default_na=False, na_values={"value": [""]})
    return Published(entry, frame[list(COLUMNS)])
