"""Read run folders (docs/architecture.md, "A run folder") into cells, without judging them.

A cell folder is a sub-folder holding ``config.json``. Its state comes from ``status.json``:
``finished``, ``failed`` (with its error) or, with no status yet, ``pending`` (running,
interrupted or not started). Several run folders (shards of one matrix) merge into one list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from skinbench.errors import RunError
from skinbench.eval.predictions import read_predictions
from skinbench.io import read_json

FINISHED, FAILED, PENDING = "finished", "failed", "pending"


@dataclass(frozen=True)
class Cell:
    """One cell folder and what its files say."""

    path: Path
    config: dict[str, Any]
    status: str
    error: str | None = None

    @property
    def cell_id(self) -> str:
        return str(self.config.get("cell_id") or self.path.name)

    @property
    def backbone(self) -> str:
        return str(self.config.get("backbone", ""))

    @property
    def recipe(self) -> str | None:
        return self.config.get("recipe")

    @property
    def ablation(self) -> str | None:
        return self.config.get("ablation")

    @property
    def split(self) -> str:
        return str(self.config.get("split", ""))

    @property
    def seed(self) -> int | None:
        return self.config.get("seed")

    def json(self, name: str) -> dict[str, Any]:
        """A JSON file of the cell (``env``, ``model``, ``timing``...), or {} when absent."""
        path = self.path / f"{name}.json"
        return _read_json(path) if path.exists() else {}

    def history(self) -> pd.DataFrame | None:
        """history.csv, or None when absent."""
        path = self.path / "history.csv"
        if not path.exists():
            return None
        try:
            return pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise RunError(f"{path}: cannot read ({exc})") from None

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, probabilities) from predictions.csv; RunError when missing or malformed."""
        path = self.path / "predictions.csv"
        if not path.exists():
            raise RunError(f"{path}: missing, though the cell says it finished")
        try:
            _, y_true, probs = read_predictions(path)
        except (OSError, ValueError) as exc:
            raise RunError(f"{path}: cannot read ({exc})") from None
        if len(y_true) == 0:
            raise RunError(f"{path}: no rows")
        return y_true, probs


@dataclass(frozen=True)
class Results:
    """Every cell of one or more run folders, and their data.json."""

    folders: tuple[Path, ...]
    data: dict[str, Any]
    cells: tuple[Cell, ...] = field(default_factory=tuple)

    @cached_property
    def synthetic(self) -> bool:
        dataset = [c.config.get("dataset") or {} for c in self.cells]
        return bool(self.data.get("synthetic")) or any(d.get("synthetic") for d in dataset)


def load_results(folders: Sequence[Path]) -> Results:
    """Read run folders; RunError naming the folder when one is missing or holds no run."""
    if not folders:
        raise RunError("no run folder given; pass the folder(s) that 'skinbench run --out' wrote")
    unique = list(dict.fromkeys(Path(f).resolve() for f in folders))
    cells: dict[str, Cell] = {}
    datas: list[tuple[Path, dict[str, Any]]] = []
    for folder in unique:
        if not folder.is_dir():
            raise RunError(f"{folder}: no such run folder; pass the folder that 'skinbench run --out' wrote")
        found = [_read_cell(p.parent) for p in sorted(folder.glob("*/config.json"))]
        data_path = folder / "data.json"
        if not found and not data_path.exists():
            raise RunError(f"{folder}: not a run folder (no data.json and no <cell>/config.json)")
        if data_path.exists():
            datas.append((data_path, _read_json(data_path)))
        for cell in found:
            cells[cell.cell_id] = _merge(cells.get(cell.cell_id), cell)
    return Results(folders=tuple(unique), data=_one_dataset(datas), cells=tuple(cells[k] for k in sorted(cells)))


def _read_cell(path: Path) -> Cell:
    config = _read_json(path / "config.json")
    status_path = path / "status.json"
    if not status_path.exists():
        return Cell(path, config, PENDING)
    status = _read_json(status_path)
    state = status.get("status")
    if state not in (FINISHED, FAILED):
        return Cell(path, config, FAILED, f"{status_path}: unknown status {state!r}")
    return Cell(path, config, state, status.get("error"))


def _merge(seen: Cell | None, cell: Cell) -> Cell:
    """The same cell in two shards: a finished copy wins; two finished copies are ambiguous."""
    if seen is None:
        return cell
    if seen.status == FINISHED and cell.status == FINISHED:
        raise RunError(
            f"cell {cell.cell_id} finished in both {seen.path.parent} and {cell.path.parent}; "
            "keep one copy and run the report again"
        )
    order = {FINISHED: 0, FAILED: 1, PENDING: 2}
    return min(seen, cell, key=lambda c: order[c.status])


def _one_dataset(datas: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """The shared data.json; folders built on different data cannot share one report."""
    if not datas:
        return {}
    first_path, first = datas[0]
    for path, data in datas[1:]:
        if _dataset_identity(data) != _dataset_identity(first):
            raise RunError(
                f"{path} and {first_path} describe different datasets; report these run folders separately"
            )
    return first


def _dataset_identity(data: dict[str, Any]) -> Any:
    """data.json's ``fingerprint`` (changes with any image or the metadata), else its name and counts."""
    return data.get("fingerprint") or (data.get("name"), json.dumps(data.get("class_counts"), sort_keys=True))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = read_json(path)
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot read ({exc}); rerun the cell or remove its folder") from None
    if not isinstance(value, dict):
        raise RunError(f"{path}: expected a JSON object")
    return value
