"""Helpers shared by the data tests: the real CSV's place, and CSV rewrites of fixture folders."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from skinbench.classes import ISIC_CODE, ISIC_COLUMNS
from skinbench.data.ham10000 import METADATA_CSV

REAL_CSV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / METADATA_CSV
SMALL_COUNT = 300
SMALL_SIZE = (64, 48)


def read_csv(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / METADATA_CSV, dtype=str)


def write_csv(root: Path, table: pd.DataFrame) -> None:
    table.to_csv(root / METADATA_CSV, index=False)


def to_isic(root: Path, *, groupings: bool = False) -> pd.DataFrame:
    """Turn a HAM10000-layout folder into the ISIC 2018 Task 3 layout (one-hot CSV, no metadata)."""
    table = read_csv(root)
    onehot = pd.DataFrame({"image": table["image_id"]})
    for column in ISIC_COLUMNS:
        onehot[column] = (table["dx"].map(ISIC_CODE) == column).astype(float)
    onehot.to_csv(root / "ISIC2018_Task3_Training_GroundTruth.csv", index=False)
    if groupings:
        table.rename(columns={"image_id": "image"})[["image", "lesion_id"]].to_csv(
            root / "ISIC2018_Task3_Training_LesionGroupings.csv", index=False
        )
    (root / METADATA_CSV).unlink()
    return table

