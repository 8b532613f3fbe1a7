"""The HAM10000 statistics the synthetic generator draws from, stored in ``synthetic_stats.json``.

The JSON was produced once from the real ``HAM10000_metadata.csv`` with::

    python -m skinbench.data.synthetic_stats path/to/HAM10000_metadata.csv

so the package never needs the real file at run time. Per class: image count, images per
lesion, age histogram (ages are multiples of 5), sex, site, ``dx_type`` and source ``dataset``
of the rows that have an age, and how many rows have none; overall: sex and site of the rows
without an age (mostly ``unknown``).
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from skinbench.classes import CLASSES
from skinbench.io import write_json

STATS_FILE = "synthetic_stats.json"


def _counts(values: pd.Series) -> dict[str, int]:
    counts = values.astype(str).value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items())}


def compute_stats(csv_path: Path) -> dict[str, Any]:
    """Per-class statistics of a HAM10000 metadata CSV (see the module docstring)."""
    table = pd.read_csv(csv_path)
    has_age = table["age"].notna()
    per_lesion = table.groupby("lesion_id").agg(dx=("dx", "first"), n=("image_id", "size"))
    classes = {}
    for dx in CLASSES:
        rows = table[(table["dx"] == dx) & has_age]
        classes[dx] = {
            "count": int((table["dx"] == dx).sum()),
            "missing_age": int(((table["dx"] == dx) & ~has_age).sum()),
            "images_per_lesion": _counts(per_lesion.loc[per_lesion["dx"] == dx, "n"]),
            "age": _counts(rows["age"].astype(int)),
            "sex": _counts(rows["sex"]),
            "localization": _counts(rows["localization"]),
            "dx_type": _counts(rows["dx_type"]),
            "dataset": _counts(rows["dataset"]) if "dataset" in rows else {},
        }
    return {
        "source": f"{Path(csv_path).name}: Tschandl, Rosendahl & Kittler 2018, doi:10.7910/DVN/DBW86T, {len(table)} rows",
        "classes": classes,
        "missing_age_sex": _counts(table.loc[~has_age, "sex"]),
        "missing_age_localization": _counts(table.loc[~has_age, "localization"]),
    }


@lru_cache(maxsize=1)
def load_stats() -> dict[str, Any]:
    """The stored statistics."""
    return json.loads(resources.files("skinbench.data").joinpath(STATS_FILE).read_text())


if __name__ == "__main__":
    write_json(Path(__file__).with_name(STATS_FILE), compute_stats(Path(sys.argv[1])))
