"""Train/validation/test splits, saved as files so every cell of a run uses the same one.

* ``paper``: stratified by ``dx``, 90/10 train/validation; the validation part is also the
  reported one, as in the paper. Images of one lesion may fall on both sides (the paper's
  leak, kept on purpose).
* ``lesion``: grouped by ``lesion_id`` and stratified by ``dx`` (scikit-learn's
  ``StratifiedGroupKFold``), train/validation/test, default 70/15/15; no lesion in two parts.

A split is a frame ``image_id, part`` in the dataset's row order; the same seed and frame
give the same file byte for byte.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from skinbench.errors import DataError, SkinbenchError
from skinbench.io import write_csv

PROTOCOLS = ("paper", "lesion")
PARTS = ("train", "val", "test")
DEFAULT_FRACTIONS = {"paper": (0.9, 0.1), "lesion": (0.7, 0.15, 0.15)}
MAX_FOLDS = 100


def reported_part(protocol: str) -> str:
    """The part a protocol reports on: ``val`` for ``paper`` (as the paper did), ``test`` for ``lesion``."""
    _check_protocol(protocol)
    return "val" if protocol == "paper" else "test"


def make_split(
    frame: pd.DataFrame, protocol: str, seed: int, fractions: Sequence[float] | None = None
) -> pd.DataFrame:
    """Assign each row of ``frame`` (``image_id``, ``dx``, ``lesion_id``) to a part.

    ``fractions``: (train, val) for ``paper``, (train, val, test) for ``lesion``.
    """
    _check_protocol(protocol)
    fractions = tuple(DEFAULT_FRACTIONS[protocol] if fractions is None else fractions)
    if len(fractions) != len(DEFAULT_FRACTIONS[protocol]) or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise SkinbenchError(
            f"split fractions {fractions} for '{protocol}': give {len(DEFAULT_FRACTIONS[protocol])} positive "
            f"numbers that sum to 1, e.g. {DEFAULT_FRACTIONS[protocol]}"
        )
    part = _paper(frame, seed, fractions) if protocol == "paper" else _lesion(frame, seed, fractions)
    return pd.DataFrame({"image_id": frame["image_id"].to_numpy(), "part": part})


def _paper(frame: pd.DataFrame, seed: int, fractions: tuple[float, ...]) -> np.ndarray:
    rows = np.arange(len(frame))
    try:
        _, val = train_test_split(rows, test_size=fractions[1], stratify=frame["dx"], random_state=seed)
    except ValueError as exc:
        raise DataError(f"cannot make the 'paper' split of {len(frame)} images: {exc}; use more images") from None
    part = np.full(len(frame), "train", dtype=object)
    part[val] = "val"
    return part


def _lesion(frame: pd.DataFrame, seed: int, fractions: tuple[float, ...]) -> np.ndarray:
    """Cut the data into k grouped, stratified folds; give each part its share of whole folds.

    k is the smallest number of folds that represents the fractions exactly (20 for 70/15/15).
    """
    shares = [Fraction(f).limit_denominator(MAX_FOLDS) for f in fractions]
    folds = int(np.lcm.reduce([s.denominator for s in shares]))
    if folds > MAX_FOLDS:
        folds = MAX_FOLDS
    counts = [max(1, round(float(s) * folds)) for s in shares]
    counts[0] = folds - sum(counts[1:])
    n_groups = frame["lesion_id"].nunique()
    if n_groups < folds:
        raise DataError(f"cannot make the 'lesion' split: {n_groups} lesions for {folds} folds; use more images")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold = np.empty(len(frame), dtype=int)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(frame)), frame["dx"], frame["lesion_id"])):
            fold[test] = k
    bounds = np.cumsum(counts)
    return np.asarray(PARTS, dtype=object)[np.searchsorted(bounds, fold, side="right")]


def save_split(split: pd.DataFrame, path: Path) -> Path:
    """Write a split atomically."""
    return write_csv(Path(path), split[["image_id", "part"]])


def load_split(path: Path) -> pd.DataFrame:
    """Read a split file, checking its columns and part names."""
    path = Path(path)
    try:
        split = pd.read_csv(path, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read split file {path}: {exc}; delete it to make a new split") from None
    if list(split.columns) != ["image_id", "part"] or not split["part"].isin(PARTS).all():
        raise DataError(f"{path} is not a split file (columns image_id,part; parts {', '.join(PARTS)}); delete it")
    return split


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise SkinbenchError(f"unknown split '{protocol}'; use one of: {', '.join(PROTOCOLS)}")
