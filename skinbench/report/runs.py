"""Read run folders (``skinbench.records``) into cell folders, without judging them.

A cell folder is a sub-folder holding ``config.json``. Its state comes from ``status.json``:
``finished``, ``failed`` (with its error) or, with no status yet, ``pending`` (running,
interrupted or not started); a finished cell whose files are not whole (``records.cell_damage``:
a record unreadable, predictions.csv changed since metrics.json was written) is ``damaged``,
with the problem as its error, and left out of the numbers. Several run folders (shards of one
matrix) merge into one list.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from skinbench.errors import RunError
from skinbench.eval.predictions import read_predictions
from skinbench.records import (
    DAMAGED,
    FAILED,
    FINISHED,
    PENDING,
    PREDICTIONS_FILE,
    CellConfig,
    CellMetrics,
    CellStatus,
    DataInfo,
    Environment,
    ModelSummary,
    RecordError,
    Timing,
    cell_damage,
    read_history,
    read_split,
    split_file,
)


@dataclass(frozen=True)
class CellFolder:
    """One cell folder: its config.json, its state, and readers for its other files."""

    path: Path
    config: CellConfig
    status: str
    error: str | None = None

    @property
    def cell_id(self) -> str:
        return self.config.cell_id

    @property
    def backbone(self) -> str:
        return self.config.backbone

    @property
    def recipe(self) -> str:
        return self.config.recipe

    @property
    def ablation(self) -> str | None:
        return self.config.ablation

    @property
    def split(self) -> str:
        return self.config.split

    @property
    def seed(self) -> int:
        return self.config.seed

    def failed(self, error: str) -> CellFolder:
        """The same folder marked failed with ``error`` (a finished cell whose files are unusable)."""
        return replace(self, status=FAILED, error=error)

    def env(self) -> Environment | None:
        return Environment.read_if_present(self.path)

    def model(self) -> ModelSummary | None:
        return ModelSummary.read_if_present(self.path)

    def timing(self) -> Timing | None:
        return Timing.read_if_present(self.path)

    def metrics(self) -> CellMetrics | None:
        return CellMetrics.read_if_present(self.path)

    def history(self) -> pd.DataFrame | None:
        return read_history(self.path)

    def predictions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image ids, labels, probabilities) from predictions.csv; RunError when missing or malformed."""
        path = self.path / PREDICTIONS_FILE
        if not path.exists():
            raise RecordError(f"{path}: missing, though the cell says it finished")
        try:
            image_ids, y_true, probs = read_predictions(path)
        except (OSError, ValueError) as exc:
            raise RecordError(f"{path}: cannot read ({exc})") from None
        if len(y_true) == 0:
            raise RecordError(f"{path}: no rows")
        return np.asarray(image_ids).astype(str), y_true, probs

    def lesions(self, image_ids: Sequence[str]) -> np.ndarray:
        """Each image's lesion, from the run folder's split file of this cell's split and seed: what the
        report's bootstraps resample (images of one lesion are not independent)."""
        path = self.path.parent / split_file(self.split, self.seed)
        lesion_of = _lesion_map(path)
        missing = [image for image in image_ids if image not in lesion_of]
        if missing:
            raise RecordError(
                f"{path} has no row for {len(missing)} image(s) of {self.cell_id}'s predictions.csv (first: "
                f"{missing[0]}); the split file is not the one the cell ran on: rerun the cell into a new --out"
            )
        return np.array([lesion_of[image] for image in image_ids], dtype=object)


@dataclass(frozen=True)
class Results:
    """Every cell of one or more run folders, and their data.json (None when none has one)."""

    folders: tuple[Path, ...]
    data: DataInfo | None
    cells: tuple[CellFolder, ...] = field(default_factory=tuple)

    @cached_property
    def synthetic(self) -> bool:
        return bool(self.data and self.data.synthetic) or any(c.config.dataset.synthetic for c in self.cells)


def _lesion_map(path: Path) -> dict[str, str]:
    """image_id -> lesion_id of a split file, read once per version of the file (RecordError when missing)."""
    if not path.exists():
        read_split(path)  # the RecordError that names the missing file
    stat = path.stat()
    return _read_lesion_map(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _read_lesion_map(path: str, mtime_ns: int, size: int) -> dict[str, str]:
    split = read_split(Path(path))
    return dict(zip(split["image_id"], split["lesion_id"]))


def load_results(folders: Sequence[Path]) -> Results:
    """Read run folders; RunError naming the folder when one is missing or holds no run."""
    if not folders:
        raise RunError("no run folder given; pass the folder(s) that 'skinbench run --out' wrote")
    unique = list(dict.fromkeys(Path(f).resolve() for f in folders))
    cells: dict[str, CellFolder] = {}
    datas: list[tuple[Path, DataInfo]] = []
    for folder in unique:
        if not folder.is_dir():
            raise RunError(f"{folder}: no such run folder; pass the folder that 'skinbench run --out' wrote")
        found = [_read_cell(p.parent) for p in sorted(folder.glob(f"*/{CellConfig.FILE}"))]
        data = DataInfo.read_if_present(folder)
        if not found and data is None:
            raise RunError(f"{folder}: not a run folder (no {DataInfo.FILE} and no <cell>/{CellConfig.FILE})")
        if data is not None:
            datas.append((folder / DataInfo.FILE, data))
        for cell in found:
            cells[cell.cell_id] = _merge(cells.get(cell.cell_id), cell)
    return Results(folders=tuple(unique), data=_one_dataset(datas), cells=tuple(cells[k] for k in sorted(cells)))


def _read_cell(path: Path) -> CellFolder:
    config = CellConfig.read(path)
    try:
        status = CellStatus.read_if_present(path)
    except RecordError as exc:
        return CellFolder(path, config, FAILED, str(exc))
    if status is None:
        return CellFolder(path, config, PENDING)
    if status.status == FINISHED:
        damage = cell_damage(path, kept_model=False)  # the report reads no model
        if damage:
            return CellFolder(path, config, DAMAGED, next(iter(damage.values())))
    return CellFolder(path, config, status.status, status.error)


def _merge(seen: CellFolder | None, cell: CellFolder) -> CellFolder:
    """The same cell in two shards: a finished copy wins; two finished copies are ambiguous."""
    if seen is None:
        return cell
    if seen.status == FINISHED and cell.status == FINISHED:
        raise RunError(
            f"cell {cell.cell_id} finished in both {seen.path.parent} and {cell.path.parent}; "
            "keep one copy and run the report again"
        )
    order = {FINISHED: 0, DAMAGED: 1, FAILED: 2, PENDING: 3}
    return min(seen, cell, key=lambda c: order[c.status])


def _one_dataset(datas: list[tuple[Path, DataInfo]]) -> DataInfo | None:
    """The shared data.json; folders built on different data cannot share one report."""
    if not datas:
        return None
    first_path, first = datas[0]
    for path, data in datas[1:]:
        if data.fingerprint != first.fingerprint:
            raise RunError(
                f"{path} and {first_path} describe different datasets; report these run folders separately"
            )
    return first
