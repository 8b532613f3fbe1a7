"""Train/validation/test splits, saved as files so every cell of a run uses the same one.

* ``paper``: stratified by ``dx``, 90/10 train/validation; the validation part is also the
  reported one, as in the paper. Images of one lesion may fall on both sides (the paper's
  leak, kept on purpose).
* ``leaky``: stratified by ``dx`` image by image (as ``paper``), train/validation/test,
  default 70/15/15, the test part reported. It has the ``lesion`` split's sizes and its model
  selection on a part that is not reported, and the paper's leak: so ``leaky`` minus ``lesion``
  is the leak alone, and ``paper`` minus ``leaky`` is selection on the reported part plus the
  larger training part.
* ``lesion``: grouped by ``lesion_id`` and stratified by ``dx``, train/validation/test,
  default 70/15/15; no lesion in two parts.
* ``official``: the ISIC 2018 Task 3 challenge's division. The frame holds HAM10000 (the challenge's
  training set) and the challenge's test set, told apart by the ``subset`` column (``train``
  or ``test``, ``OFFICIAL_SUBSET``). The test set is the ``test`` part, whole; HAM10000 is
  split into train/validation, default 85/15, grouped by lesion and stratified as ``lesion``.
  No HAM10000 image is ever in ``test`` and no test image in train or validation.

A split is a frame ``image_id, lesion_id, part`` (``records.SPLIT_COLUMNS``) in the dataset's row
order; the same seed and frame give the same file byte for byte. The file is the run folder's
(``records.write_split`` / ``read_split``): the report reads each image's lesion from it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from skinbench.catalogue import SPLITS
from skinbench.errors import DataError, SkinbenchError
from skinbench.records import PARTS, read_split, write_split

DEFAULT_FRACTIONS = {"paper": (0.9, 0.1), "leaky": (0.7, 0.15, 0.15), "lesion": (0.7, 0.15, 0.15), "official": (0.85, 0.15)}
#: The ``official`` split's frame column naming each row's subset: ``train`` (HAM10000) or ``test``.
OFFICIAL_SUBSET = "subset"


def reported_part(split: str) -> str:
    """The part a split reports on: ``val`` for ``paper`` (as the paper did), ``test`` for
    ``leaky``, ``lesion`` and ``official`` (the ISIC 2018 Task 3 test set)."""
    _check_split(split)
    return "val" if split == "paper" else "test"


def expected_sizes(split: str, n_images: int, *, test_images: int = 0) -> dict[str, int]:
    """Images per part of a split of ``n_images`` before it is drawn (the estimate of ``train.plan``).

    Exact for ``paper`` (``train_test_split`` rounds the validation part up); for the grouped
    splits the parts follow the fractions to within a lesion. ``official``'s test part is
    the separate test set of ``test_images``.
    """
    _check_split(split)
    fractions = DEFAULT_FRACTIONS[split]
    others = [math.ceil(f * n_images) for f in fractions[1:]]
    sizes = dict(zip(PARTS, [n_images - sum(others), *others]))
    if split == "official":
        sizes["test"] = test_images
    return sizes


def make_split(
    frame: pd.DataFrame, split: str, seed: int, fractions: Sequence[float] | None = None
) -> pd.DataFrame:
    """Assign each row of ``frame`` (``image_id``, ``dx``, ``lesion_id``) to a part.

    ``fractions``: (train, val) for ``paper`` and ``official`` (of HAM10000; the test set is
    given), (train, val, test) for ``leaky`` and ``lesion``.
    """
    _check_split(split)
    fractions = tuple(DEFAULT_FRACTIONS[split] if fractions is None else fractions)
    if len(fractions) != len(DEFAULT_FRACTIONS[split]) or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise SkinbenchError(
            f"split fractions {fractions} for '{split}': give {len(DEFAULT_FRACTIONS[split])} positive "
            f"numbers that sum to 1, e.g. {DEFAULT_FRACTIONS[split]}"
        )
    make = {"paper": _paper, "leaky": _leaky, "lesion": _lesion, "official": _official}[split]
    part = make(frame, seed, fractions)
    return pd.DataFrame({"image_id": frame["image_id"].to_numpy(), "lesion_id": frame["lesion_id"].to_numpy(), "part": part})


def _paper(frame: pd.DataFrame, seed: int, fractions: tuple[float, ...]) -> np.ndarray:
    return _by_image(frame, seed, fractions, "paper")


def _leaky(frame: pd.DataFrame, seed: int, fractions: tuple[float, ...]) -> np.ndarray:
    return _by_image(frame, seed, fractions, "leaky")


def _by_image(frame: pd.DataFrame, seed: int, fractions: tuple[float, ...], split: str) -> np.ndarray:
    """Image by image, stratified by ``dx``: the last part first (its share of all images), then each
    earlier part but the first from what is left, so every part holds its fraction of each class."""
    part = np.full(len(frame), PARTS[0], dtype=object)
    rows = np.arange(len(frame))
    left = 1.0
    for index in range(len(fractions) - 1, 0, -1):
        try:
            rows, chosen = train_test_split(
                rows, test_size=fractions[index] / left, stratify=frame["dx"].to_numpy()[rows], random_state=seed
            )
        except ValueError as exc:
            raise DataError(f"cannot make the '{split}' split of {len(frame)} images: {exc}; use more images") from None
        part[chosen] = PARTS[index]
        left -= fractions[index]
    return part


def _lesion(frame: pd.DataFrame, seed: int, fractions: tuple[float, ...]) -> np.ndarray:
    """Split each class's lesions separately: shuffle them, then cut at the image-count fractions.

    A lesion has one diagnosis, so splitting class by class is exact stratification by
    ``dx`` with whole lesions (a lesion goes to the part its middle image falls in). This
    is what ``StratifiedGroupKFold`` approximates, without its minute-long search over
    7,470 lesions on a small machine. A lesion listed with several diagnoses goes with
    its most frequent one.
    """
    rng = np.random.default_rng(seed)
    pairs = frame.groupby(["lesion_id", "dx"]).size().sort_values(ascending=False, kind="stable").reset_index()
    lesions = pairs.drop_duplicates("lesion_id").set_index("lesion_id").sort_index()[["dx"]]
    lesions["n"] = frame.groupby("lesion_id").size()
    bounds = np.cumsum(fractions)[:-1]
    part_of = {}
    for dx, members in lesions.groupby("dx", sort=True):
        members = members.iloc[rng.permutation(len(members))]
        middle = (members["n"].cumsum() - members["n"] / 2) / members["n"].sum()
        part_of.update(zip(members.index, np.searchsorted(bounds, middle.to_numpy(), side="right")))
    return np.asarray(PARTS, dtype=object)[frame["lesion_id"].map(part_of).to_numpy()]


def _official(frame: pd.DataFrame, seed: int, fractions: tuple[float, ...]) -> np.ndarray:
    """The test set as ``test``; HAM10000 split train/val by lesion (``_lesion`` with two fractions)."""
    if OFFICIAL_SUBSET not in frame.columns or not (frame[OFFICIAL_SUBSET] == "test").any():
        raise DataError(
            "the 'official' split needs the ISIC 2018 Task 3 test set beside HAM10000; get it with "
            "'skinbench data fetch DIR --with-test' and pass that DIR as --data-dir"
        )
    test = (frame[OFFICIAL_SUBSET] == "test").to_numpy()
    both = set(frame.loc[test, "image_id"]) & set(frame.loc[~test, "image_id"])
    if both:
        raise DataError(
            f"{len(both)} image(s) are both in HAM10000 and in the ISIC 2018 Task 3 test set "
            f"({', '.join(sorted(both)[:5])}); the test set must be apart from the training data: remove them from one"
        )
    part = np.full(len(frame), "test", dtype=object)
    train = frame.loc[~test].reset_index(drop=True)
    part[~test] = _lesion(train, seed, fractions)
    return part


def save_split(split: pd.DataFrame, path: Path) -> Path:
    """Write a split atomically (the run folder's file, ``records.write_split``)."""
    return write_split(path, split)


def load_split(path: Path) -> pd.DataFrame:
    """Read a split file, checking its columns and part names (``records.read_split``)."""
    return read_split(path)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise SkinbenchError(f"unknown split '{split}'; use one of: {', '.join(SPLITS)}")
