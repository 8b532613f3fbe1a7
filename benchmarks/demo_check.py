"""Compare a fresh `make demo-full` report with the committed one: the headline numbers side by side, and whether they match.

    python benchmarks/demo_check.py [FRESH] [COMMITTED]   (default: results/demo-full results/demo-reference)

The headline numbers are each cell's accuracy, balanced accuracy, macro F1 and macro AUC
(cells.csv), each claim row's value and verdict (claims.csv) and each leak row's difference
(leak.csv). Numbers match when they agree to 1e-6 (the CSVs hold 6 significant digits). The last
line says whether the fresh report matches; the exit status is 0 either way (another machine may
compute other floats), so `make demo` always ends with the comparison.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CELL_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Headline:
    """One headline number (or verdict) of a report, keyed by where it is."""

    key: str
    value: float | str | None


def headlines(folder: Path) -> list[Headline]:
    """Every headline of the report in ``folder`` (missing files give none)."""
    found: list[Headline] = []
    cells = _read(folder / "cells.csv")
    if cells is not None:
        for row in cells[cells["status"] == "finished"].itertuples(index=False):
            found += [Headline(f"{row.cell} {metric}", _number(getattr(row, metric))) for metric in CELL_METRICS]
    claims = _read(folder / "claims.csv")
    if claims is not None:
        for row in claims.itertuples(index=False):
            key = f"claim {row.comparison} | {row.measure}"
            found.append(Headline(f"{key}: value", _number(row.value)))
            if row.kind == "difference":
                found.append(Headline(f"{key}: verdict", row.verdict))
    leak = _read(folder / "leak.csv")
    if leak is not None:
        for row in leak.itertuples(index=False):
            found.append(Headline(f"leak {row.model} {row.a_split} - {row.b_split} {row.metric}", _number(row.difference)))
    return found


def compare(fresh: Path, committed: Path) -> tuple[list[tuple[str, object, object, bool]], bool]:
    """(key, committed, fresh, same) for every headline of either report, and whether all are the same."""
    old = {h.key: h.value for h in headlines(committed)}
    new = {h.key: h.value for h in headlines(fresh)}
    rows = [(key, old.get(key), new.get(key), _same(old.get(key), new.get(key))) for key in dict.fromkeys([*old, *new])]
    return rows, bool(rows) and all(same for *_, same in rows)


def main(fresh: Path, committed: Path) -> int:
    rows, same = compare(fresh, committed)
    width = max((len(key) for key, *_ in rows), default=10)
    print(f"{'headline':<{width}}  {'committed':>12}  {'fresh':>12}")
    for key, old, new, equal in rows:
        print(f"{key:<{width}}  {_text(old):>12}  {_text(new):>12}{'' if equal else '  <- differs'}")
    differing = sum(not equal for *_, equal in rows)
    if same:
        print(f"The fresh demo report ({fresh}) matches the committed one ({committed}): {len(rows)} headlines equal.")
    else:
        print(f"The fresh demo report ({fresh}) DIFFERS from the committed one ({committed}): {differing} of "
              f"{len(rows)} headlines differ (marked above).")
    return 0


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return a == b


def _text(value) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    arguments = [Path(a) for a in sys.argv[1:]]
    sys.exit(main(*(arguments + [Path("results/demo-full"), Path("results/demo-reference")][len(arguments):])))
